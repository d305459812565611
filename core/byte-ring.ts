/**
 * First-in, first-out allocation of byte ranges from one buffer, for data that is produced and
 * consumed in order (small files read ahead of a backup). Tens of thousands of short-lived
 * buffers of a few KiB to 1 MiB each cost fresh memory and leave the allocator's heap
 * fragmented, so the process keeps memory it no longer uses; one buffer reused in a circle
 * does neither.
 */
export interface RingSlice {
  readonly bytes: Uint8Array;
  /** Gives the range back; ranges may be released in any order, space returns oldest first. */
  release(): void;
}

interface Range {
  readonly start: number;
  readonly end: number;
  released: boolean;
}

export class ByteRing {
  readonly #capacity: number;
  #buffer: Uint8Array | undefined;
  #disposed = false;
  /** Live ranges, oldest first. */
  readonly #ranges: Range[] = [];

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity <= 0) throw new RangeError('ring capacity must be a positive integer');
    this.#capacity = capacity;
  }

  /** Bytes of the ranges not yet given back (a released range behind an older live one counts). */
  get usedBytes(): number {
    let sum = 0;
    for (const range of this.#ranges) sum += range.end - range.start;
    return sum;
  }

  /** `length` bytes (> 0), or undefined when the ring has no contiguous room for them now. */
  take(length: number): RingSlice | undefined {
    if (!Number.isSafeInteger(length) || length <= 0) throw new RangeError('a ring slice must be at least 1 byte');
    const start = this.#disposed ? undefined : this.#place(length);
    if (start === undefined) return undefined;
    // Allocated on first use: a run that reads nothing ahead never pays for it.
    this.#buffer ??= new Uint8Array(this.#capacity);
    const range: Range = { start, end: start + length, released: false };
    this.#ranges.push(range);
    return {
      bytes: this.#buffer.subarray(range.start, range.end),
      release: () => {
        if (range.released) return;
        range.released = true;
        while (this.#ranges[0]?.released === true) this.#ranges.shift();
      },
    };
  }

  /** Lets the buffer go; slices already taken stay valid, and no more are given. */
  dispose(): void {
    this.#disposed = true;
    this.#buffer = undefined;
  }

  #place(length: number): number | undefined {
    const first = this.#ranges[0];
    const last = this.#ranges.at(-1);
    if (first === undefined || last === undefined) return length <= this.#capacity ? 0 : undefined;
    // Wrapped: the newest range lies before the oldest, and the free space is between them.
    if (last.end <= first.start && this.#ranges.length > 1) return first.start - last.end >= length ? last.end : undefined;
    if (this.#capacity - last.end >= length) return last.end;
    // Not enough room at the end: start again at the beginning, before the oldest range.
    return first.start >= length ? 0 : undefined;
  }
}
