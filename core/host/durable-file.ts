/**
 * The one way bunker puts a file on disk that must never be seen half-written: write a
 * temporary file (O_EXCL, given mode), fsync it, hard-link it to its final name — which fails
 * atomically if the name exists, so this is put-if-absent — and fsync the directory so the
 * name survives a crash (FORMAT.md §2.2). Used by the directory storage and the master key file.
 */
import { constants } from 'node:fs';
import { link, open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

export function errnoOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as { code?: string }).code : undefined;
}

export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `data` to `finalPath` through `tmpPath`; false (and nothing changed) if `finalPath` exists. */
export async function writeFileIfAbsent(finalPath: string, tmpPath: string, data: Uint8Array, mode: number): Promise<boolean> {
  try {
    const handle = await open(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    try {
      let done = 0;
      while (done < data.length) done += (await handle.write(data, done, data.length - done)).bytesWritten;
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(tmpPath, finalPath);
    } catch (error) {
      if (errnoOf(error) === 'EEXIST') return false;
      throw error;
    }
    await fsyncDirectory(dirname(finalPath));
    return true;
  } finally {
    await unlink(tmpPath).catch(() => undefined);
  }
}
