/**
 * Read-ahead over a backup source: walks ahead of the pipeline and reads small files whole,
 * several at once, so a cold disk serves many requests in parallel instead of one file's
 * latency at a time. Bounded by entry count and bytes, so memory stays flat.
 */
import type { SourceEntry } from './source.ts';
import { ByteRing, type RingSlice } from './byte-ring.ts';

export interface Prefetched {
  readonly entry: SourceEntry;
  /**
   * The whole content, for small files selected for reading; an Error if reading failed. It may
   * lie in a buffer reused for later files: valid until the consumer asks for the next entry.
   */
  readonly content?: Promise<Uint8Array | Error>;
  /** shouldRead's answer, for the small files it was asked about (the consumer need not ask again). */
  readonly willRead?: boolean;
}

export interface PrefetchOptions {
  /** Files up to this size are read whole ahead of time. */
  readonly smallFileBytes: number;
  /** Entries held ahead of the consumer. */
  readonly maxEntries: number;
  /** Bytes of small-file content held ahead of the consumer. */
  readonly maxBytes: number;
  /** Whether the consumer will read this file (unchanged files are not read at all). */
  readonly shouldRead: (entry: SourceEntry) => boolean;
  /** The source is one sequential stream (Source.sequential): no read-ahead at all. */
  readonly sequential?: boolean;
}

/** Reads a file whole, into `into` (entry.size + 1 bytes) when given and the file still fits. */
async function readWhole(entry: SourceEntry, into: Uint8Array | undefined): Promise<Uint8Array | Error> {
  try {
    if (entry.readAll) return await entry.readAll(into);
    const reader = await entry.open!();
    try {
      // One byte more than expected, to notice a file that grew since it was listed.
      let buffer = into ?? new Uint8Array(entry.size + 1);
      let length = 0;
      for (;;) {
        if (length === buffer.length) {
          const grown = new Uint8Array(buffer.length * 2);
          grown.set(buffer);
          buffer = grown;
        }
        const n = await reader.read(buffer.subarray(length));
        if (n === 0) break;
        length += n;
      }
      return buffer.subarray(0, length);
    } finally {
      await reader.close();
    }
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

export async function* prefetch(entries: AsyncIterable<SourceEntry>, options: PrefetchOptions): AsyncGenerator<Prefetched> {
  if (options.sequential) {
    // The next entry comes after this one's content in the stream: walking ahead would skip it.
    for await (const entry of entries) yield { entry };
    return;
  }
  const iterator = entries[Symbol.asyncIterator]();
  const queue: { item: Prefetched; bytes: number; slice?: RingSlice }[] = [];
  // Content is read into one ring: what is queued, plus the entry being consumed and the room
  // lost when an allocation wraps around, each at most one small file, and each range's extra byte.
  const ring = new ByteRing(options.maxBytes + 3 * (options.smallFileBytes + 1) + options.maxEntries);
  let queuedBytes = 0;
  let isDone = false;
  /** Where the source's walk failed: thrown to the consumer after the entries queued before it. */
  let failure: { error: unknown } | undefined;
  let pending: Promise<void> | undefined;
  /** Set while the consumer waits on an empty queue: it goes on as soon as one entry is in. */
  let wake: (() => void) | undefined;

  const pull = async (): Promise<void> => {
    try {
      // At least one entry whatever the limits: a consumer waits on an empty queue only for the walk.
      while (!isDone && (queue.length === 0 || (queue.length < options.maxEntries && queuedBytes < options.maxBytes))) {
        const next = await iterator.next();
        if (next.done) {
          isDone = true;
          break;
        }
        const entry = next.value;
        const isSmall = entry.type === 'file' && entry.open !== undefined && entry.size <= options.smallFileBytes;
        const willRead = isSmall && options.shouldRead(entry);
        const bytes = willRead ? entry.size : 0;
        // A size that is not a byte count (a foreign source's) gets no range: its read fails on its own.
        const slice = willRead && Number.isSafeInteger(entry.size) && entry.size >= 0 ? ring.take(entry.size + 1) : undefined;
        const item: Prefetched = willRead ? { entry, content: readWhole(entry, slice?.bytes), willRead } : isSmall ? { entry, willRead } : { entry };
        queue.push({ item, bytes, ...(slice ? { slice } : {}) });
        queuedBytes += bytes;
        wake?.();
      }
    } catch (error) {
      failure = { error };
      isDone = true;
      wake?.();
    }
  };

  const finishPull = (): void => {
    pending = undefined;
    wake?.();
  };

  try {
    for (;;) {
      if (queue.length === 0) {
        pending ??= pull().finally(finishPull);
        // Woken by the next entry or by the end of the pull. Not a race with the pull's promise:
        // a pull can last the whole walk, and every race would leave a reaction on it until then.
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        if (queue.length === 0 && isDone) {
          if (failure) throw failure.error;
          return;
        }
        continue;
      }
      const head = queue.shift()!;
      queuedBytes -= head.bytes;
      // Keep walking and reading while the consumer works on this entry.
      pending ??= pull().finally(finishPull);
      yield head.item;
      // The consumer is done with it once it asks for the next entry. A read the consumer did not
      // wait for still holds its range until it ends: no other file may be read into it before.
      if (head.slice) void head.item.content!.then(() => head.slice!.release());
    }
  } finally {
    // The ring is let go now, not when the backup drops this generator; reads still running keep their ranges.
    ring.dispose();
    await iterator.return?.();
  }
}
