/**
 * The plaintext of one metadata document (a manifest, an FSI) as a backup appends it line by
 * line. Small documents are kept as UTF-8 and compressed at the end, as before; once one passes
 * `streamAfterBytes` and the host's zstd can stream, it is compressed as it grows, so that a run
 * holds its manifest compressed (a fifth of the size or less) rather than whole.
 */
import { BunkerError } from './errors.ts';
import { Utf8Builder } from './format/utf8-builder.ts';
import type { ZstdFrameWriter } from './repository.ts';

/** The most a metadata document may hold once decompressed (FORMAT.md §4.3): readers refuse more. */
export const MAX_METADATA_CONTENT_BYTES = 1 << 30;

/** Text is handed to the compressor in pieces of about this size. */
const STAGE_BYTES = 256 * 1024;

/** A document's plaintext at the end of a run: as it is, or already one zstd frame. */
export type MetadataPlaintext =
  | { readonly kind: 'raw'; readonly bytes: Uint8Array }
  | { readonly kind: 'zstd'; readonly frame: Uint8Array; readonly contentBytes: number };

export interface MetadataTextOptions {
  /** Opens a streamed frame; absent where zstd cannot stream (the document is kept whole). */
  readonly openFrame?: () => ZstdFrameWriter;
  /** Documents up to this size stay uncompressed until the end (default 1 MiB). */
  readonly streamAfterBytes?: number;
}

export class MetadataText {
  private readonly what: string;
  private readonly text = new Utf8Builder();
  private readonly openFrame: (() => ZstdFrameWriter) | undefined;
  private readonly streamAfterBytes: number;
  private frame: ZstdFrameWriter | undefined;
  /** Bytes already handed to the frame. */
  private streamed = 0;

  /** `what` names the document in an error ("the manifest"). */
  constructor(what: string, options: MetadataTextOptions = {}) {
    this.what = what;
    this.openFrame = options.openFrame;
    this.streamAfterBytes = options.streamAfterBytes ?? 1024 * 1024;
  }

  /** Bytes of plaintext so far. */
  get length(): number {
    return this.streamed + this.text.length;
  }

  /** Appends text; TOO_LARGE once the document holds more than a reader accepts. */
  append(text: string): void {
    this.text.append(text);
    if (this.length > MAX_METADATA_CONTENT_BYTES) {
      throw new BunkerError('TOO_LARGE', `${this.what} of this backup would exceed ${MAX_METADATA_CONTENT_BYTES} bytes, more than a point can hold; back up the source in parts`);
    }
    if (this.openFrame === undefined || this.text.length < STAGE_BYTES) return;
    if (this.frame === undefined && this.length < this.streamAfterBytes) return;
    this.frame ??= this.openFrame();
    this.streamed += this.text.length;
    const frame = this.frame;
    this.text.drain((bytes) => frame.write(bytes));
  }

  /** The whole document; the text must not be used afterwards. */
  finish(): MetadataPlaintext {
    if (this.frame === undefined) return { kind: 'raw', bytes: this.text.finish() };
    const frame = this.frame;
    this.streamed += this.text.length;
    this.text.drain((bytes) => frame.write(bytes));
    this.text.finish();
    this.frame = undefined;
    return { kind: 'zstd', frame: frame.end(), contentBytes: this.streamed };
  }

  /** Frees a frame still open (a run that failed); safe to call at any time. */
  close(): void {
    this.frame?.close();
    this.frame = undefined;
  }
}
