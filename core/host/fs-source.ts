/**
 * A backup Source over local paths. Each PATH is recorded under its base name; entries come
 * in manifest order (directory, then its children sorted by name). Symbolic links are
 * recorded, never followed; sockets, FIFOs and devices are skipped with a warning.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import picomatch from 'picomatch';
import { BunkerError } from '../errors.ts';
import type { FileReader, Source, SourceEntry } from '../source.ts';

export interface FsSourceOptions {
  /** Glob patterns; a pattern without '/' matches a base name anywhere, like .gitignore. */
  readonly exclude?: readonly string[];
  readonly onWarning?: (message: string) => void;
}

async function openFile(path: string): Promise<FileReader> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  return {
    async read(into) {
      const { bytesRead } = await handle.read(into, 0, into.length, null);
      return bytesRead;
    },
    close: () => handle.close(),
  };
}

export async function fsSource(paths: readonly string[], options: FsSourceOptions = {}): Promise<Source> {
  if (paths.length === 0) throw new BunkerError('USAGE', 'nothing to back up: give at least one PATH');
  const roots: { name: string; path: string }[] = [];
  for (const given of paths) {
    const path = resolve(given);
    try {
      await lstat(path);
    } catch {
      throw new BunkerError('NOT_FOUND', `${given} does not exist`);
    }
    const name = basename(path);
    if (name === '') throw new BunkerError('USAGE', `cannot back up the file-system root "/" itself; name the directories under it`);
    if (roots.some((r) => r.name === name)) throw new BunkerError('USAGE', `two paths share the name "${name}"; back them up separately or under different --name`);
    roots.push({ name, path });
  }
  const matchers = (options.exclude ?? []).map((pattern) =>
    picomatch(pattern, { dot: true, basename: !pattern.includes('/'), windows: false }),
  );
  const isExcluded = (relative: string): boolean => matchers.some((m) => m(relative));
  const warn = options.onWarning ?? (() => undefined);

  async function* walk(path: string, relative: string): AsyncGenerator<SourceEntry> {
    let st;
    try {
      st = await lstat(path, { bigint: false });
    } catch (error) {
      warn(`cannot read ${path}: ${(error as Error).message}; skipped`);
      return;
    }
    const base = { path: relative, mode: st.mode & 0o7777, mtimeMs: Math.floor(st.mtimeMs), inode: st.ino };
    if (st.isDirectory()) {
      yield { ...base, type: 'dir', size: 0 };
      let names: string[];
      try {
        names = (await readdir(path)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      } catch (error) {
        warn(`cannot list ${path}: ${(error as Error).message}; its contents are skipped`);
        return;
      }
      for (const name of names) {
        const childRelative = `${relative}/${name}`;
        if (isExcluded(childRelative)) continue;
        yield* walk(join(path, name), childRelative);
      }
    } else if (st.isFile()) {
      yield { ...base, type: 'file', size: st.size, open: () => openFile(path) };
    } else if (st.isSymbolicLink()) {
      yield { ...base, type: 'symlink', size: 0, target: await readlink(path) };
    } else {
      warn(`${path} is not a file, directory or symbolic link; skipped`);
    }
  }

  return {
    sources: paths.map((p) => resolve(p)),
    host: hostname(),
    async *entries() {
      for (const root of roots) {
        if (isExcluded(root.name)) continue;
        yield* walk(root.path, root.name);
      }
    },
  };
}
