/**
 * A backup Source over local paths. Each PATH is recorded under its base name; entries come
 * in manifest order (directory, then its children sorted by name). Symbolic links are
 * recorded, never followed; sockets, FIFOs and devices are skipped with a warning.
 */
import * as fs from 'node:fs';
import { readlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, posix, resolve, sep } from 'node:path';
import picomatch from 'picomatch';
import { BunkerError } from '../errors.ts';
import type { FileReader, Source, SourceEntry } from '../source.ts';

/** Directory entries stat'ed at once. */
const LSTAT_BATCH = 64;
/** Directory listings in flight at once. */
const LISTINGS_AT_ONCE = 16;
/**
 * Entries listed but not yet walked, beyond which listings are no longer started ahead: enough
 * that a walk started while a backup derives its keys gets well ahead (a 48k-entry tree is
 * listed whole in about a second, cold), bounded so a huge tree does not sit in memory.
 */
const MAX_ENTRIES_AHEAD = 65_536;

/** What a listing records of a child: its kind, then mode, mtime, inode, size, owner and group. */
const META_FIELDS = 7;

const Kind = { Other: 0, Dir: 1, File: 2, Link: 3 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

/** Compares paths (as component lists) in walk order: a directory's subtree before its next sibling. */
function walkOrder(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length - b.length;
}

/** Runs tasks a few at a time, always the waiting one nearest in walk order first (a binary heap). */
class ListingScheduler {
  private readonly heap: { key: readonly string[]; start: () => void }[] = [];
  private running = 0;
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  run<T>(key: readonly string[], task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.push({ key, start: () => task().then(resolve, reject).finally(() => this.done()) });
      this.pump();
    });
  }

  private done(): void {
    this.running--;
    this.pump();
  }

  private pump(): void {
    while (this.running < this.limit && this.heap.length > 0) {
      this.running++;
      this.pop().start();
    }
  }

  private push(item: { key: readonly string[]; start: () => void }): void {
    const heap = this.heap;
    heap.push(item);
    for (let i = heap.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (walkOrder(heap[i]!.key, heap[parent]!.key) >= 0) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): { key: readonly string[]; start: () => void } {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && walkOrder(heap[l]!.key, heap[m]!.key) < 0) m = l;
        if (r < heap.length && walkOrder(heap[r]!.key, heap[m]!.key) < 0) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

export interface FsSourceOptions {
  /** Glob patterns; a pattern without '/' matches a base name anywhere, like .gitignore. */
  readonly exclude?: readonly string[];
  readonly onWarning?: (message: string) => void;
}

// The callback API, wrapped by hand: per call it costs a fraction of fs/promises (no FileHandle
// objects), which matters at tens of thousands of small files.
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;

function openFd(path: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, OPEN_FLAGS, (error, fd) => (error ? reject(error) : resolve(fd))));
}

function readFd(fd: number, into: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, into, 0, into.length, null, (error, n) => (error ? reject(error) : resolve(n))));
}

function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (error) => (error ? reject(error) : resolve())));
}

function statFollowing(path: string): Promise<fs.BigIntStats> {
  return new Promise((resolve, reject) => fs.stat(path, { bigint: true }, (error, st) => (error ? reject(error) : resolve(st))));
}

function readdirNames(path: string): Promise<string[]> {
  return new Promise((resolve, reject) => fs.readdir(path, (error, names) => (error ? reject(error) : resolve(names))));
}

// BigInt stats: the nanoseconds give the exact millisecond. Node's `mtimeMs` is a double, which
// today rounds the last ~0.12 µs of every millisecond up to the next one, so Node and Deno
// recorded different mtimes for ~1 file in 8,000 and each re-read them after the other. Deno's
// node:fs has whole milliseconds only, cut toward zero: Node cuts the nanoseconds the same way
// (FORMAT.md §1.2).
// Measured: 48k lstat calls cost the same either way.
function lstat(path: string): Promise<fs.BigIntStats> {
  return new Promise((resolve, reject) => fs.lstat(path, { bigint: true }, (error, st) => (error ? reject(error) : resolve(st))));
}

const NS_PER_MS = 1_000_000n;

async function openFile(path: string): Promise<FileReader> {
  const fd = await openFd(path);
  return { read: (into) => readFd(fd, into), close: () => closeFd(fd) };
}

/**
 * Reads a small file whole: one read of size+1 bytes usually returns everything (a short read of
 * a regular file means its end), so most files cost open, read, close.
 */
async function readAll(path: string, size: number, into: Uint8Array | undefined): Promise<Uint8Array> {
  const fd = await openFd(path);
  try {
    let buffer = into !== undefined && into.length > size ? into : new Uint8Array(size + 1);
    let length = await readFd(fd, buffer);
    if (length <= size) return buffer.subarray(0, length);
    // It grew since it was listed: read on to the end.
    for (;;) {
      if (length === buffer.length) {
        const grown = new Uint8Array(buffer.length * 2);
        grown.set(buffer);
        buffer = grown;
      }
      const n = await readFd(fd, buffer.subarray(length));
      if (n === 0) return buffer.subarray(0, length);
      length += n;
    }
  } finally {
    await closeFd(fd);
  }
}

/** An absolute exclude pattern as a manifest path: the root it is under, by name, then the rest. */
function underRoot(given: string, roots: readonly { name: string; path: string }[]): string {
  // As the roots are: no doubled or trailing slashes, no "." components (tab completion adds a slash).
  const pattern = posix.normalize(given).replace(/(.)\/+$/, '$1');
  for (const root of roots) {
    if (pattern === root.path || pattern.startsWith(`${root.path}/`)) return root.name + pattern.slice(root.path.length);
  }
  throw new BunkerError('USAGE', `--exclude ${given} is an absolute path under none of the paths backed up; ` +
    `give a path under one of them, or a pattern relative to them (${roots.map((r) => `${r.name}/…`).join(', ')})`);
}

export async function fsSource(paths: readonly string[], options: FsSourceOptions = {}): Promise<Source> {
  if (paths.length === 0) throw new BunkerError('USAGE', 'nothing to back up: give at least one PATH');
  const roots: { name: string; path: string; follow: boolean }[] = [];
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
    // A trailing slash asks for what a link points to, as with tar, rsync and ls.
    roots.push({ name, path, follow: given.endsWith('/') });
  }
  const matchers = (options.exclude ?? []).map((given) => {
    // An absolute pattern names a place on this machine: it becomes the path the manifest has
    // there, matched as a whole path (a root's own name must not match that name everywhere).
    if (given.startsWith('/')) return picomatch(underRoot(given, roots), { dot: true, basename: false, windows: false });
    return picomatch(given, { dot: true, basename: !given.includes('/'), windows: false });
  });
  const isExcluded = (relative: string): boolean => matchers.some((m) => m(relative));
  const warn = options.onWarning ?? (() => undefined);

  /** What the walk keeps of an entry's lstat. */
  interface Meta {
    readonly kind: Kind;
    readonly mode: number;
    readonly mtimeMs: number;
    readonly inode: number;
    readonly size: number;
    readonly uid: number;
    readonly gid: number;
  }

  function metaOf(st: fs.BigIntStats): Meta {
    const kind = st.isDirectory() ? Kind.Dir : st.isFile() ? Kind.File : st.isSymbolicLink() ? Kind.Link : Kind.Other;
    return { kind, mode: Number(st.mode & 0o7777n), mtimeMs: Number(st.mtimeNs / NS_PER_MS), inode: Number(st.ino), size: Number(st.size), uid: Number(st.uid), gid: Number(st.gid) };
  }

  // A listing keeps its children as names and numbers (META_FIELDS per child), not as Stats
  // objects: listed ahead of the walk, they live long enough to reach V8's old generation, where
  // ~700 bytes an entry became ~120 MB of garbage over a 175k-entry walk (bench/README.md).
  interface Listing {
    readonly names: readonly string[];
    readonly meta: Float64Array;
    /** Children whose lstat failed, by position. */
    readonly errors: ReadonlyMap<number, Error> | undefined;
    /** Listings of subdirectories started ahead of the walk, by position. */
    readonly ahead: Map<number, Promise<Listing | Error>>;
  }

  const childMeta = (meta: Float64Array, at: number): Meta => {
    const o = at * META_FIELDS;
    return { kind: meta[o]! as Kind, mode: meta[o + 1]!, mtimeMs: meta[o + 2]!, inode: meta[o + 3]!, size: meta[o + 4]!, uid: meta[o + 5]!, gid: meta[o + 6]! };
  };

  // A directory is listed with readdir, then an lstat of every child, concurrently. Listings
  // of subdirectories start ahead of the walk, through a scheduler that runs a few at a time,
  // nearest first in walk order, and stops reading ahead while many entries wait unconsumed:
  // a cold walk keeps the disk busy, entries still come out in manifest order, memory is bounded.
  // Each walk has its own: listings an earlier walk left in flight neither count against the
  // next walk's read-ahead nor list ahead for it.
  interface Walk {
    readonly scheduler: ListingScheduler;
    /** Entries listed and not yet handed out. */
    held: number;
    /** Set when the consumer stops early (a failed backup): nothing more is listed ahead. */
    stopped: boolean;
  }

  const listing = async (run: Walk, path: string, relative: string, depthKey: readonly string[]): Promise<Listing | Error> => {
    let listed: string[];
    try {
      listed = await readdirNames(path);
    } catch (error) {
      return error as Error;
    }
    const names = listed.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).filter((name) => !isExcluded(`${relative}/${name}`));
    const meta = new Float64Array(names.length * META_FIELDS);
    let errors: Map<number, Error> | undefined;
    const stat = (at: number): Promise<void> =>
      lstat(`${path}${sep}${names[at]!}`).then(
        (st) => {
          const m = metaOf(st);
          const o = at * META_FIELDS;
          meta[o] = m.kind;
          meta[o + 1] = m.mode;
          meta[o + 2] = m.mtimeMs;
          meta[o + 3] = m.inode;
          meta[o + 4] = m.size;
          meta[o + 5] = m.uid;
          meta[o + 6] = m.gid;
        },
        (error: Error) => void (errors ??= new Map()).set(at, error),
      );
    for (let i = 0; i < names.length; i += LSTAT_BATCH) {
      const batch: Promise<void>[] = [];
      for (let at = i; at < Math.min(names.length, i + LSTAT_BATCH); at++) batch.push(stat(at));
      await Promise.all(batch);
    }
    run.held += names.length;
    const ahead = new Map<number, Promise<Listing | Error>>();
    if (run.held < MAX_ENTRIES_AHEAD && !run.stopped) {
      for (let at = 0; at < names.length; at++) {
        if (errors?.has(at) || meta[at * META_FIELDS] !== Kind.Dir) continue;
        const name = names[at]!;
        const key = [...depthKey, name];
        const pending = run.scheduler.run(key, () => (run.stopped ? Promise.resolve(new Error('the walk stopped')) : listing(run, `${path}${sep}${name}`, `${relative}/${name}`, key)));
        pending.catch(() => undefined);
        ahead.set(at, pending);
      }
    }
    return { names, meta, errors, ahead };
  };

  /** An entry about to be handed out; `listed` is its listing if one was started ahead. */
  interface Next {
    readonly path: string;
    readonly relative: string;
    readonly meta: Meta;
    readonly depthKey: readonly string[];
    readonly listed?: Promise<Listing | Error> | undefined;
  }
  /** A directory whose children are being handed out. */
  interface Frame {
    readonly path: string;
    readonly relative: string;
    readonly depthKey: readonly string[];
    readonly list: Listing;
    at: number;
  }

  // One generator walks the whole tree with a stack of directories: a generator per directory,
  // delegating with yield*, made every entry pass through one promise per level of depth.
  async function* walk(run: Walk, root: Next): AsyncGenerator<SourceEntry> {
    const stack: Frame[] = [];
    for (let next: Next | undefined = root; ;) {
      if (next !== undefined) {
        const { path, relative, meta }: Next = next;
        if (meta.kind === Kind.Dir) {
          // Listed before the directory itself is handed out: a consumer that takes the first entry
          // early (backup, while its keys are derived) starts the walk ahead that way.
          const listingStarted = next.listed ?? listing(run, path, relative, next.depthKey);
          yield { path: relative, type: 'dir', mode: meta.mode, mtimeMs: meta.mtimeMs, inode: meta.inode, size: 0, uid: meta.uid, gid: meta.gid };
          const list = await listingStarted;
          if (list instanceof Error) warn(`cannot list ${path}: ${list.message}; its contents are skipped`);
          else stack.push({ path, relative, depthKey: next.depthKey, list, at: 0 });
        } else if (meta.kind === Kind.File) {
          const size = meta.size;
          yield { path: relative, type: 'file', mode: meta.mode, mtimeMs: meta.mtimeMs, inode: meta.inode, size, uid: meta.uid, gid: meta.gid, open: () => openFile(path), readAll: (into) => readAll(path, size, into) };
        } else if (meta.kind === Kind.Link) {
          let target: string | undefined;
          try {
            target = await readlink(path);
          } catch (error) {
            warn(`cannot read the link ${path}: ${(error as Error).message}; skipped`);
          }
          if (target !== undefined) yield { path: relative, type: 'symlink', mode: meta.mode, mtimeMs: meta.mtimeMs, inode: meta.inode, size: 0, uid: meta.uid, gid: meta.gid, target };
        } else {
          warn(`${path} is not a file, directory or symbolic link; skipped`);
        }
        next = undefined;
      }
      const top = stack.at(-1);
      if (top === undefined) return;
      if (top.at === top.list.names.length) {
        stack.pop();
        continue;
      }
      const at = top.at++;
      run.held--;
      const name = top.list.names[at]!;
      // Paths are resolved and names have no separator: joined as strings, not normalized again.
      const path = `${top.path}${sep}${name}`;
      const error = top.list.errors?.get(at);
      if (error !== undefined) {
        // readdir gave the name with U+FFFD for bytes that are not UTF-8: no such name exists.
        const isNotUtf8 = name.includes('\uFFFD') && (error as NodeJS.ErrnoException).code === 'ENOENT';
        warn(isNotUtf8
          ? `cannot back up ${path}: its name is not valid UTF-8, which a manifest cannot hold (rename it to back it up); skipped`
          : `cannot read ${path}: ${error.message}; skipped`);
        continue;
      }
      const meta = childMeta(top.list.meta, at);
      // Taken out of the map: a listing walked stays reachable from its parent's otherwise,
      // and through the parents from the root, so the whole tree's listings would be held.
      const listed = top.list.ahead.get(at);
      top.list.ahead.delete(at);
      next = { path, relative: `${top.relative}/${name}`, meta, depthKey: meta.kind === Kind.Dir ? [...top.depthKey, name] : top.depthKey, listed };
    }
  }

  return {
    sources: paths.map((p) => resolve(p)),
    host: hostname(),
    async *entries() {
      const run: Walk = { scheduler: new ListingScheduler(LISTINGS_AT_ONCE), held: 0, stopped: false };
      try {
        for (const root of roots) {
          if (isExcluded(root.name)) continue;
          let meta: Meta;
          try {
            meta = metaOf(await (root.follow ? statFollowing : lstat)(root.path));
          } catch (error) {
            warn(`cannot read ${root.path}: ${(error as Error).message}; skipped`);
            continue;
          }
          yield* walk(run, { path: root.path, relative: root.name, meta, depthKey: [root.name] });
        }
      } finally {
        run.stopped = true;
      }
    },
  };
}
