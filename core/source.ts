/**
 * What a backup reads: a stream of entries in manifest order (each directory before its
 * contents). The host supplies them (core/host/fs-source.ts); edge code can build one from
 * a request body.
 */
import type { EntryType } from './manifest.ts';

export interface FileReader {
  /** Reads up to `into.length` bytes; 0 means end of file. */
  read(into: Uint8Array): Promise<number>;
  close(): Promise<void>;
}

export interface SourceEntry {
  readonly path: string;
  readonly type: EntryType;
  readonly mode: number;
  readonly mtimeMs: number;
  readonly size: number;
  readonly inode?: number;
  /** A stream whose length is known only once it is read (stdin): `size` is 0 until then, and no warning says it changed. */
  readonly sizeUnknown?: boolean;
  /** The owner and group (numeric ids), where the source knows them. */
  readonly uid?: number;
  readonly gid?: number;
  readonly target?: string;
  /** Files only. */
  open?(): Promise<FileReader>;
  /**
   * Files only, optional: the whole content at once, for small files (a host may do it in fewer
   * calls). Given `into` (at least size + 1 bytes), the content is read into it and a view of it
   * returned, unless the file grew past it.
   */
  readAll?(into?: Uint8Array): Promise<Uint8Array>;
}

export interface Source {
  /** The paths as the user gave them (recorded in the manifest header). */
  readonly sources: readonly string[];
  readonly host: string;
  /**
   * The entries come from one sequential stream (a tar upload): a consumer reads each file
   * entry it wants to the end before asking for the next entry, and never walks ahead.
   * Asking for the next entry skips whatever is left of the current one.
   */
  readonly sequential?: boolean;
  entries(): AsyncIterable<SourceEntry>;
}

/** A FileReader over in-memory bytes (tests, edge). */
export function bytesReader(bytes: Uint8Array): FileReader {
  let offset = 0;
  return {
    async read(into) {
      const n = Math.min(into.length, bytes.length - offset);
      into.set(bytes.subarray(offset, offset + n));
      offset += n;
      return n;
    },
    async close() {},
  };
}

/** A FileReader over a Web ReadableStream (stdin, request bodies). */
export function streamReader(stream: ReadableStream<Uint8Array>): FileReader {
  const reader = stream.getReader();
  let pending: Uint8Array | undefined;
  return {
    async read(into) {
      if (pending === undefined || pending.length === 0) {
        const { done, value } = await reader.read();
        if (done) return 0;
        pending = value;
      }
      const n = Math.min(into.length, pending.length);
      into.set(pending.subarray(0, n));
      pending = pending.subarray(n);
      return n;
    },
    async close() {
      reader.releaseLock();
    },
  };
}

/** A FileReader over any async iterable of byte chunks (a host's input stream, a request body). */
export function iterableReader(iterable: AsyncIterable<Uint8Array>): FileReader {
  const iterator = iterable[Symbol.asyncIterator]();
  let pending: Uint8Array = new Uint8Array(0);
  let isDone = false;
  return {
    async read(into) {
      while (pending.length === 0 && !isDone) {
        const next = await iterator.next();
        if (next.done) isDone = true;
        else pending = next.value;
      }
      const n = Math.min(into.length, pending.length);
      into.set(pending.subarray(0, n));
      pending = pending.subarray(n);
      return n;
    },
    async close() {
      if (!isDone) await iterator.return?.();
    },
  };
}
