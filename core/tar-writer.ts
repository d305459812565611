/**
 * A backup Source written out as a tar stream (POSIX ustar, PAX where a name or a time needs
 * it): what a machine that holds no key sends to a `bunker serve` target that encrypts
 * (FORMAT.md §16.3). Pulled, not pushed: file contents are read only as fast as the stream is
 * consumed, so memory stays flat whatever the sizes.
 */
import { createTarPacker, type TarHeader } from 'modern-tar';
import { BunkerError, throwIfCancelled } from './errors.ts';
import type { FileReader, Source, SourceEntry } from './source.ts';

/** Bytes read from a file per tar write. */
const READ_BYTES = 256 * 1024;

export interface TarWriterOptions {
  /** Files that could not be read, or changed size while read. */
  readonly onWarning?: (message: string) => void;
  /** After each entry is written. */
  readonly onEntry?: (entry: SourceEntry) => void;
  readonly signal?: AbortSignal;
  /**
   * Any file that cannot be read whole, exactly at its listed size, stops the stream with its
   * error instead of being skipped or padded: for a source whose data must verify (a recovery
   * point being copied), never zeros in place of a chunk.
   */
  readonly strict?: boolean;
}

/** ustar's 11 octal digits of seconds: up to 2242. */
const USTAR_MAX_SECONDS = 0o77777777777;

/** Decimal seconds with the milliseconds, as PAX writes a time: -1500 ms is "-1.500". */
function paxSeconds(ms: number): string {
  const whole = Math.abs(ms);
  return `${ms < 0 ? '-' : ''}${Math.floor(whole / 1000)}.${String(whole % 1000).padStart(3, '0')}`;
}

function headerOf(entry: SourceEntry, size: number): TarHeader {
  const mtimeMs = Math.floor(entry.mtimeMs);
  const seconds = Math.floor(mtimeMs / 1000);
  const hasOwner = entry.uid !== undefined && entry.gid !== undefined;
  const header: TarHeader = {
    name: entry.type === 'dir' ? `${entry.path}/` : entry.path,
    size,
    // Without an owner the header says root, and tar run as root would make a set-id file root's.
    mode: entry.mode & (hasOwner || entry.type !== 'file' ? 0o7777 : 0o1777),
    ...(hasOwner ? { uid: entry.uid!, gid: entry.gid! } : {}),
    // ustar holds whole seconds from 1970 to 2242; PAX carries the rest.
    mtime: new Date(Math.min(Math.max(0, seconds), USTAR_MAX_SECONDS) * 1000),
    type: entry.type === 'dir' ? 'directory' : entry.type === 'symlink' ? 'symlink' : 'file',
  };
  if (entry.type === 'symlink') header.linkname = entry.target ?? '';
  // The manifest records milliseconds, and times before 1970 (FORMAT.md §1.2).
  if (mtimeMs % 1000 !== 0 || seconds < 0 || seconds > USTAR_MAX_SECONDS) header.pax = { mtime: paxSeconds(mtimeMs) };
  return header;
}

/**
 * Writes exactly `size` bytes of the file: a file that grew is cut at its listed size, one that
 * shrank or failed mid-read is padded with zeros (tar's own answer), with a warning.
 */
async function writeContent(entry: SourceEntry, reader: FileReader, size: number, body: WritableStreamDefaultWriter<Uint8Array>, warn: (message: string) => void, strict: boolean): Promise<void> {
  let written = 0;
  let failure: string | undefined;
  try {
    while (written < size) {
      const buffer = new Uint8Array(Math.min(READ_BYTES, size - written));
      let n: number;
      try {
        n = await reader.read(buffer);
      } catch (error) {
        if (strict) throw error;
        failure = error instanceof Error ? error.message : String(error);
        break;
      }
      if (n === 0) break;
      await body.write(buffer.subarray(0, n));
      written += n;
    }
    if (written === size && failure === undefined) {
      const probe = new Uint8Array(1);
      if ((await reader.read(probe).catch(() => 0)) > 0) warn(`${entry.path} grew while it was read; its first ${size} bytes are sent`);
    }
  } finally {
    await reader.close().catch(() => undefined);
  }
  if (written < size && strict) {
    throw new BunkerError('TAMPERED', `${entry.path} holds ${written} bytes, not the ${size} its entry says`);
  }
  if (written < size) {
    warn(failure === undefined
      ? `${entry.path} shrank while it was read (${size} → ${written} bytes); padded with zeros`
      : `could not read all of ${entry.path} (${failure}); padded with zeros after ${written} bytes`);
    const zeros = new Uint8Array(Math.min(READ_BYTES, size - written));
    while (written < size) {
      const n = Math.min(zeros.length, size - written);
      await body.write(zeros.subarray(0, n));
      written += n;
    }
  }
}

/** The tar stream of `source`; it errors if the source does (an unreadable file is skipped with a warning). */
export function tarStream(source: Source, options: TarWriterOptions = {}): ReadableStream<Uint8Array> {
  const warn = options.onWarning ?? (() => undefined);
  const { readable, controller } = createTarPacker();
  const write = async (): Promise<void> => {
    for await (const entry of source.entries()) {
      throwIfCancelled(options.signal, 'the upload');
      let reader: FileReader | undefined;
      if (entry.type === 'file') {
        // Opened before its header is written: a file that vanished is left out, not faked.
        try {
          reader = await entry.open!();
        } catch (error) {
          if (options.strict) throw error;
          warn(`could not read ${entry.path}: ${error instanceof Error ? error.message : String(error)}; skipped`);
          continue;
        }
      }
      const size = entry.type === 'file' ? entry.size : 0;
      const body = controller.add(headerOf(entry, size)).getWriter();
      if (reader !== undefined) await writeContent(entry, reader, size, body, warn, options.strict === true);
      await body.close();
      options.onEntry?.(entry);
    }
    controller.finalize();
  };
  write().catch((error: unknown) => controller.error(error));
  return readable;
}
