/**
 * A backup Source over a tar stream: what `bunker serve` backs up when a machine that holds no
 * key uploads its files (encrypt on target, FORMAT.md §16.3). The stream is read once, front
 * to back, with modern-tar's streaming reader in strict mode; file contents are never held
 * whole, so one huge file costs no more memory than a small one.
 *
 * The tar is input from another machine, so everything in it is checked before it becomes a
 * manifest entry, with these codes:
 * - UNSAFE_PATH: a path that could land outside a restore target or write through something
 *   that is not a directory: absolute, with `..`, `.` or empty components, a NUL byte, longer
 *   than the manifest allows, or below a symbolic link or a file listed earlier.
 * - USAGE: a well-formed tar that bunker cannot record faithfully: a path listed twice, a hard
 *   link (its content is under another name: `tar --hard-dereference` stores it as a file), a
 *   GNU sparse file (create the tar without --sparse).
 * - TAMPERED: not a whole, valid tar: a header that fails its checksum, a stream that ends
 *   before the end-of-archive marker (a truncated or interrupted upload), data after it, a
 *   symbolic link without a target.
 * - CANCELLED: the signal was aborted.
 * Devices, FIFOs and sockets have no content to keep: they are skipped with a warning, as the
 * file-system source does. A directory missing from the tar (`tar c a/b/file` lists no `a/`) is
 * recorded with mode 0755 and its first child's time, so parents come before children.
 */
import { createTarDecoder, type ParsedTarEntry, type TarHeader } from 'modern-tar';
import { BunkerError, isBunkerError, throwIfCancelled } from './errors.ts';
import { utf8 } from './format/bytes.ts';
import { MAX_PATH_BYTES, parentPath } from './manifest.ts';
import type { FileReader, Source, SourceEntry } from './source.ts';

/** Mode of a directory the tar implies but does not list. */
const IMPLIED_DIR_MODE = 0o755;

export interface TarSourceOptions {
  /** Recorded in the manifest header (default `["-"]`, like a backup of standard input). */
  readonly sources?: readonly string[];
  readonly host?: string;
  /** Told about entries skipped (devices, FIFOs) and attributes that could not be kept. */
  readonly onWarning?: (message: string) => void;
  /** Aborting stops reading at once with CANCELLED. */
  readonly signal?: AbortSignal;
}

/** A Source reading `stream` (a tar archive) once; `sequential`, so backup reads no entry ahead. */
export function tarSource(stream: ReadableStream<Uint8Array>, options: TarSourceOptions = {}): Source {
  let isRead = false;
  return {
    sources: options.sources ?? ['-'],
    host: options.host ?? '',
    sequential: true,
    entries() {
      if (isRead) throw new Error('internal error: a tar source is read once');
      isRead = true;
      return tarEntries(stream, options);
    },
  };
}

type Kind = 'file' | 'dir' | 'symlink' | 'implied-dir';

function unsafe(name: string, why: string): BunkerError {
  return new BunkerError('UNSAFE_PATH', `the tar stream holds an unsafe path ${JSON.stringify(name).slice(0, 200)} (${why}); nothing was backed up`);
}

/** A modern-tar failure (or a broken input) as the BunkerError this module promises. */
function tarError(error: unknown): BunkerError {
  if (isBunkerError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/truncated/i.test(message)) return new BunkerError('TAMPERED', 'the tar stream ends before its end-of-archive marker (a truncated or interrupted upload); nothing was backed up');
  if (/checksum/i.test(message)) return new BunkerError('TAMPERED', 'a tar header fails its checksum: the stream is damaged or not a tar archive; nothing was backed up');
  if (/EOF/.test(message)) return new BunkerError('TAMPERED', 'the tar stream has data after its end-of-archive marker; nothing was backed up');
  return new BunkerError('TAMPERED', `the tar stream is not a valid tar archive (${message.slice(0, 200)}); nothing was backed up`);
}

/**
 * The input, with its failures as BunkerErrors (a client that went away is a truncated
 * stream) and the signal obeyed while waiting for bytes. (Aborting cancels the reader, which
 * ends a pending read; racing each read against one long-lived promise would keep every chunk
 * alive through that promise's reactions.)
 */
function guardedInput(stream: ReadableStream<Uint8Array>, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  const onAbort = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  const release = () => signal?.removeEventListener('abort', onAbort);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        throwIfCancelled(signal, 'the backup');
        next = await reader.read();
        throwIfCancelled(signal, 'the backup');
      } catch (error) {
        release();
        reader.cancel().catch(() => undefined);
        throw isBunkerError(error) ? error
          : new BunkerError('TAMPERED', `the tar stream broke off before its end (${error instanceof Error ? error.message.slice(0, 200) : 'read failed'}); nothing was backed up`);
      }
      if (next.done) {
        release();
        controller.close();
      } else if (next.value.length > 0) {
        controller.enqueue(next.value);
      }
    },
    async cancel(reason) {
      release();
      await reader.cancel(reason).catch(() => undefined);
    },
  });
}

/** Milliseconds since the epoch: a PAX `mtime` exactly (decimal seconds), else the header's whole seconds. */
function mtimeOf(header: TarHeader): number {
  const pax = header.pax?.mtime;
  const match = pax === undefined ? null : /^(-?)(\d{1,15})(?:\.(\d{1,3})\d*)?$/.exec(pax);
  if (match !== null) {
    const ms = Number(match[2]) * 1000 + Number((match[3] ?? '').padEnd(3, '0'));
    return match[1] === '-' ? -ms : ms;
  }
  const ms = header.mtime?.getTime();
  return ms !== undefined && Number.isFinite(ms) ? ms : 0;
}

/**
 * The manifest path of a tar name: without leading `./` and trailing `/`; undefined for the
 * archive's own root (`./`, from `tar -C dir c .`). Refuses anything unsafe.
 */
function entryPath(name: string, isDir: boolean): string | undefined {
  if (name.startsWith('/')) throw unsafe(name, 'absolute');
  let path = name;
  while (path.startsWith('./')) path = path.slice(2);
  if (isDir) path = path.replace(/\/+$/, '');
  if (isDir && name !== '' && (path === '' || path === '.')) return undefined;
  if (path === '') throw unsafe(name, 'empty');
  if (path.includes('\0')) throw unsafe(name, 'NUL byte');
  if (utf8(path).length > MAX_PATH_BYTES) throw unsafe(name, 'too long');
  for (const part of path.split('/')) {
    if (part === '..') throw unsafe(name, 'parent reference');
    if (part === '' || part === '.') throw unsafe(name, 'empty component');
  }
  return path;
}

/** The file reader over the current entry's body; stale once the source has moved on. */
class EntryBody implements FileReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private pending: Uint8Array = new Uint8Array(0);
  private isDone = false;
  private isStale = false;

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  async read(into: Uint8Array): Promise<number> {
    if (this.isStale) throw new Error('internal error: a tar entry was read after the source moved past it');
    while (this.pending.length === 0 && !this.isDone) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await this.reader.read();
      } catch (error) {
        throw tarError(error);
      }
      if (next.done) this.isDone = true;
      else this.pending = next.value;
    }
    const n = Math.min(into.length, this.pending.length);
    into.set(this.pending.subarray(0, n));
    this.pending = this.pending.subarray(n);
    return n;
  }

  async close(): Promise<void> {}

  /** Skips what the consumer did not read, so the next header can be read. */
  async finish(): Promise<void> {
    this.isStale = true;
    if (!this.isDone) await this.reader.cancel().catch(() => undefined);
  }
}

async function* tarEntries(stream: ReadableStream<Uint8Array>, options: TarSourceOptions): AsyncGenerator<SourceEntry> {
  const warn = options.onWarning ?? (() => undefined);
  const signal = options.signal;
  const entries = guardedInput(stream, signal).pipeThrough(createTarDecoder({ strict: true })).getReader();
  const kinds = new Map<string, Kind>();
  let isEnd = false;
  try {
    for (;;) {
      throwIfCancelled(signal, 'the backup');
      let next: ReadableStreamReadResult<ParsedTarEntry>;
      try {
        next = await entries.read();
      } catch (error) {
        throw tarError(error);
      }
      if (next.done) {
        isEnd = true;
        return;
      }
      const { header, body } = next.value;
      const type = header.type ?? 'file';
      if (type === 'character-device' || type === 'block-device' || type === 'fifo') {
        warn(`${header.name} is a ${type.replace('-', ' ')} in the tar stream; skipped`);
        await body.cancel();
        continue;
      }
      if (type === 'link') {
        throw new BunkerError('USAGE', `the tar stream holds a hard link (${JSON.stringify(header.name).slice(0, 200)}); bunker stores files by content: create the tar with --hard-dereference`);
      }
      if (type !== 'file' && type !== 'directory' && type !== 'symlink') {
        throw new BunkerError('TAMPERED', `the tar stream holds an entry of unknown type ${JSON.stringify(String(type))}; nothing was backed up`);
      }
      if (header.pax !== undefined && Object.keys(header.pax).some((key) => key.startsWith('GNU.sparse.'))) {
        throw new BunkerError('USAGE', `the tar stream holds a sparse file (${JSON.stringify(header.name).slice(0, 200)}); create the tar without --sparse`);
      }
      const path = entryPath(header.name, type === 'directory');
      if (path === undefined) {
        await body.cancel();
        continue;
      }
      const mtimeMs = mtimeOf(header);

      // Parents before children: directories the tar implies are recorded first.
      const missing: string[] = [];
      for (let parent = parentPath(path); parent !== ''; parent = parentPath(parent)) {
        const kind = kinds.get(parent);
        if (kind === 'dir' || kind === 'implied-dir') break;
        if (kind !== undefined) throw unsafe(path, `below the ${kind === 'symlink' ? 'symbolic link' : 'file'} ${JSON.stringify(parent).slice(0, 200)}`);
        missing.push(parent);
      }
      for (const dir of missing.reverse()) {
        kinds.set(dir, 'implied-dir');
        yield { path: dir, type: 'dir', mode: IMPLIED_DIR_MODE, mtimeMs, size: 0 };
      }

      const given = (header.mode ?? (type === 'directory' ? 0o755 : 0o644)) & 0o7777;
      // The sender is a network client, perhaps with no more than a backup token: it must not
      // be able to plant set-user-id or set-group-id files that a later restore recreates.
      const mode = given & ~0o6000;
      if (mode !== given) warn(`${path}: set-user-id/set-group-id bits dropped (a tar upload does not carry them)`);
      const known = kinds.get(path);
      if (known === 'implied-dir' && type === 'directory') {
        warn(`${path}/ comes after its contents in the tar stream; it is recorded with mode 0755 and its first child's time`);
        kinds.set(path, 'dir');
        await body.cancel();
        continue;
      }
      if (known !== undefined) {
        throw new BunkerError('USAGE', `the tar stream holds ${JSON.stringify(path).slice(0, 200)} twice (tar appends a second copy when a path is given twice); nothing was backed up`);
      }

      if (type === 'directory') {
        kinds.set(path, 'dir');
        await body.cancel();
        yield { path, type: 'dir', mode, mtimeMs, size: 0 };
      } else if (type === 'symlink') {
        const target = header.linkname ?? '';
        if (target === '' || target.includes('\0')) throw new BunkerError('TAMPERED', `the symbolic link ${JSON.stringify(path).slice(0, 200)} in the tar stream has no valid target; nothing was backed up`);
        kinds.set(path, 'symlink');
        await body.cancel();
        yield { path, type: 'symlink', mode, mtimeMs, size: 0, target };
      } else {
        kinds.set(path, 'file');
        const reader = new EntryBody(body);
        let isOpened = false;
        try {
          yield {
            path, type: 'file', mode, mtimeMs, size: header.size,
            async open() {
              if (isOpened) throw new Error('internal error: a tar entry is opened once');
              isOpened = true;
              return reader;
            },
          };
        } finally {
          await reader.finish();
        }
      }
    }
  } finally {
    if (!isEnd) await entries.cancel().catch(() => undefined);
  }
}
