/**
 * Text appended as UTF-8 straight into one growing buffer. Metadata documents (a manifest of
 * 150k files is ~40 MB) used to be built as an array of lines, joined into one string and then
 * encoded: three copies at once, at the end of a backup, when memory is highest.
 */
import { discard } from './bytes.ts';

const encoder = new TextEncoder();

export class Utf8Builder {
  private buffer: Uint8Array;
  private used = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buffer = new Uint8Array(initialBytes);
  }

  get length(): number {
    return this.used;
  }

  append(text: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    if (this.used + text.length * 3 > this.buffer.length) this.grow(this.used + text.length * 3);
    this.used += encoder.encodeInto(text, this.buffer.subarray(this.used)).written;
  }

  /** Hands the text so far to `take` (a view, valid only during the call) and empties the builder. */
  drain(take: (bytes: Uint8Array) => void): void {
    take(this.buffer.subarray(0, this.used));
    this.used = 0;
  }

  /** The text so far, in a buffer of exactly its size; the builder must not be used afterwards. */
  finish(): Uint8Array {
    const out = this.buffer.slice(0, this.used);
    discard(this.buffer);
    this.buffer = new Uint8Array(0);
    return out;
  }

  private grow(needed: number): void {
    const next = new Uint8Array(Math.max(needed, Math.ceil(this.buffer.length * 1.5)));
    next.set(this.buffer.subarray(0, this.used));
    discard(this.buffer);
    this.buffer = next;
  }
}
