/**
 * Writes a restore into a directory. Everything is first written under a private staging
 * directory inside the target; only when the whole restore verified does commit() move
 * entries into place. Paths were validated by the manifest parser (relative, no '..');
 * here no write ever goes through a symbolic link: files are created with O_EXCL|O_NOFOLLOW
 * under directories we created, and existing directories in the target are lstat-checked.
 */
import { chmodSync, closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, lutimesSync, mkdirSync, openSync, symlinkSync, utimesSync, writeSync } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BunkerError } from '../errors.ts';
import { discard, randomId } from '../format/bytes.ts';
import type { ManifestEntry } from '../manifest.ts';
import type { RestoreSink } from '../restore.ts';
import { FileWriterThread } from './file-writer.ts';
import type { Owner } from './file-writer-worker.ts';
import { fsTime } from './fs-time.ts';
import { changeOwner } from './owner-change.ts';

function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === code;
}

/**
 * A system error (an errno name: ENOSPC, EACCES, ENOTDIR…) while restoring into `target`, as
 * TARGET_FAILED; anything else as it is (Node's own ERR_… codes are bugs, not the target's).
 */
function targetError(error: unknown, target: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof BunkerError || typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) return error;
  return new BunkerError('TARGET_FAILED', `cannot restore into ${target}: ${(error as Error).message}`, { cause: error });
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
}

export interface DirectoryRestoreOptions {
  /** Make directories, links and small files on a thread of their own (core/host/file-writer.ts); default true. */
  readonly writerThread?: boolean;
  /** Told, once the restore is in place, what of the point could not come back as it was. */
  readonly onWarning?: (message: string) => void;
}

/** Set-user-id and set-group-id: bits that give whoever runs a file the rights of its owner or group. */
const SET_ID_BITS = 0o6000;

/**
 * Who owns what a restore makes. Run as root, it gives each entry its recorded owner and group,
 * and a file with no recorded owner (a point made before owners were recorded, a tar upload)
 * loses its set-id bits: it would otherwise become set-user-id root, whoever owned it. Run as
 * anyone else, it owns everything, as it cannot give files away, and set-id bits stay: they grant
 * nothing beyond its own rights.
 */
class Ownership {
  readonly asRoot = process.geteuid?.() === 0;
  private readonly uid = process.geteuid?.();
  private readonly gid = process.getegid?.();
  /**
   * What is made in the staging directory is already this process's, unless a set-group-id
   * target passed its group down: then every recorded owner is set. Known once begin() ran.
   */
  ownIdsInherited = false;
  /** Files whose set-id bits were dropped for want of an owner. */
  dropped = 0;
  /** Entries the system refused their owner (EPERM, EINVAL: a user namespace, NFS, vfat), the first reason. */
  refused = 0;
  refusedBecause = '';

  /** The owner to give `entry`; undefined when there is none to set (or it is already what it has). */
  owner(entry: { readonly uid?: number | undefined; readonly gid?: number | undefined }): Owner | undefined {
    if (!this.asRoot || entry.uid === undefined || entry.gid === undefined) return undefined;
    return this.ownIdsInherited && entry.uid === this.uid && entry.gid === this.gid ? undefined : [entry.uid, entry.gid];
  }

  /** The mode to give a file. */
  fileMode(entry: ManifestEntry): number {
    if (!this.asRoot || (entry.mode & SET_ID_BITS) === 0 || (entry.uid !== undefined && entry.gid !== undefined)) return entry.mode;
    this.dropped++;
    return entry.mode & ~SET_ID_BITS;
  }

  /** Runs `chown` (core/host/owner-change.ts); whether the owner was set: if not, the mode must lose its set-id bits. */
  apply(chown: () => void): boolean {
    const refusal = changeOwner(chown);
    if (refusal !== undefined && this.refused++ === 0) this.refusedBecause = refusal;
    return refusal === undefined;
  }
}

/**
 * A restore run as root goes through its target's directories by path: one that another user
 * can change (own it, or write it without the sticky bit) could have a link swapped in, and root
 * would then write, move, chown or chmod where that user chose. Such a target is refused.
 */
function refuseOthersDirectory(path: string, st: { uid: number; gid: number; mode: number }): void {
  const writableByOthers = st.uid !== 0 || ((st.mode & 0o1000) === 0 && ((st.mode & 0o002) !== 0 || ((st.mode & 0o020) !== 0 && st.gid !== 0)));
  if (writableByOthers) {
    throw new BunkerError('USAGE', `${path} can be changed by another user (${st.uid !== 0 ? `it belongs to uid ${st.uid}` : 'others may write to it'}), ` +
      'and a restore run as root there could be redirected through a symbolic link: restore into a directory only root can change, then move what you need');
  }
}

/** An entry commit() moves into the target by itself: its parent was in the target at plan time. */
interface Placement {
  readonly path: string;
  readonly type: ManifestEntry['type'];
  /** A directory already in the target, merged into rather than moved. */
  readonly existed: boolean;
}

/** What commit() sets on a directory once everything inside it is in place. */
interface DirectoryTimes {
  readonly path: string;
  readonly mode: number;
  readonly mtimeMs: number;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
}

export class DirectoryRestoreSink implements RestoreSink {
  private readonly target: string;
  private readonly staging: string;
  private readonly useWriterThread: boolean;
  private readonly onWarning: ((message: string) => void) | undefined;
  private readonly ownership = new Ownership();
  private writer: FileWriterThread | undefined;
  /** What the writer thread counted of owners refused, kept when it is closed. */
  private writerOwnersRefused: { count: number; code: string } | undefined;
  /** Whether the target existed when planning began; undefined until then. */
  private targetExists: boolean | undefined;
  /** Planned directories absent from the target: nothing below them can be in the way. */
  private readonly absent = new Set<string>();
  // For a new target (or a new subtree) only its top entries are placed one by one; every
  // directory is kept for its mode and time. Nothing is kept per file below a new directory.
  private readonly placements: Placement[] = [];
  private readonly directories: DirectoryTimes[] = [];

  constructor(target: string, options: DirectoryRestoreOptions = {}) {
    this.target = target;
    this.staging = join(target, `.bunker-restore-${randomId().slice(0, 16)}`);
    this.useWriterThread = options.writerThread ?? true;
    this.onWarning = options.onWarning;
  }

  private staged(path: string): string {
    return join(this.staging, ...path.split('/'));
  }

  private final(path: string): string {
    return join(this.target, ...path.split('/'));
  }

  // The target itself is followed when it is a link to a directory (as `cd` would); nothing
  // inside it ever is.
  private async checkTarget(): Promise<boolean> {
    const st = await stat(this.target).catch((error: unknown) => (isErrno(error, 'ENOENT') ? undefined : Promise.reject(error)));
    if (st !== undefined && !st.isDirectory()) throw new BunkerError('USAGE', `restore target ${this.target} is not a directory`);
    if (this.ownership.asRoot) {
      // Every directory the restore goes through by path, from the root down to the target.
      for (let dir = await realpath(st === undefined ? dirname(this.target) : this.target).catch(() => dirname(this.target)); ; dir = dirname(dir)) {
        const held = await lstatOrUndefined(dir);
        if (held !== undefined) refuseOthersDirectory(dir, held);
        if (dir === dirname(dir)) break;
      }
    }
    return st !== undefined;
  }

  // The sink's steps, each with the target's file-system errors (disk full, permission denied, a
  // path that is not a directory) as TARGET_FAILED: a person at the console reads what to fix.
  plan(entry: ManifestEntry): Promise<void> {
    return this.#guard(this.#plan(entry));
  }

  begin(): Promise<void> {
    return this.#guard(this.#begin());
  }

  directory(entry: ManifestEntry): Promise<void> {
    return this.#guard(this.#directory(entry));
  }

  symlink(entry: ManifestEntry): Promise<void> {
    return this.#guard(this.#symlink(entry));
  }

  file(entry: ManifestEntry, data: AsyncIterable<Uint8Array>): Promise<void> {
    return this.#guard(this.#file(entry, data));
  }

  smallFile(entry: ManifestEntry, data: readonly Uint8Array[]): Promise<void> {
    return this.#guard(this.#smallFile(entry, data));
  }

  commit(): Promise<void> {
    return this.#guard(this.#commit());
  }

  abort(): Promise<void> {
    return this.#guard(this.#abort());
  }

  async #guard(step: Promise<void>): Promise<void> {
    try {
      await step;
    } catch (error) {
      throw targetError(error, this.target);
    }
  }

  // Refuses early, before any data is read, what in the target is in the way.
  async #plan(entry: ManifestEntry): Promise<void> {
    this.targetExists ??= await this.checkTarget();
    if (entry.type === 'dir') this.directories.push({ path: entry.path, mode: entry.mode, mtimeMs: entry.mtimeMs, uid: entry.uid, gid: entry.gid });
    const slash = entry.path.lastIndexOf('/');
    // Below a directory that does not exist yet nothing can be in the way: skip its subtree.
    if (!this.targetExists || (slash !== -1 && this.absent.has(entry.path.slice(0, slash)))) {
      if (entry.type === 'dir') this.absent.add(entry.path);
      if (!this.targetExists && slash === -1) this.placements.push({ path: entry.path, type: entry.type, existed: false });
      return;
    }
    const existing = await lstatOrUndefined(this.final(entry.path));
    if (existing === undefined) {
      if (entry.type === 'dir') this.absent.add(entry.path);
      this.placements.push({ path: entry.path, type: entry.type, existed: false });
      return;
    }
    const isDirWanted = entry.type === 'dir';
    if (isDirWanted !== existing.isDirectory() || existing.isSymbolicLink()) {
      throw new BunkerError('ALREADY_EXISTS', `${this.final(entry.path)} already exists as a ${existing.isSymbolicLink() ? 'symbolic link' : existing.isDirectory() ? 'directory' : 'file'}; ` +
        `move it away or restore into another --target`);
    }
    if (isDirWanted && this.ownership.asRoot) refuseOthersDirectory(this.final(entry.path), existing);
    this.placements.push({ path: entry.path, type: entry.type, existed: isDirWanted });
  }

  async #begin(): Promise<void> {
    await mkdir(this.target, { recursive: true });
    const st = await stat(this.target);
    if (!st.isDirectory()) throw new BunkerError('USAGE', `restore target ${this.target} is not a directory`);
    await mkdir(this.staging, { mode: 0o700 });
    const staging = await stat(this.staging);
    this.ownership.ownIdsInherited = staging.gid === process.getegid?.() && (staging.mode & 0o2000) === 0;
    if (this.useWriterThread) this.writer = new FileWriterThread();
  }

  // Metadata operations are synchronous for the same reason as smallFile(): each is quicker
  // than a hop to the thread pool and back.
  async #directory(entry: ManifestEntry): Promise<void> {
    if (this.writer) return this.writer.directory(this.staged(entry.path));
    mkdirSync(this.staged(entry.path), { mode: 0o700 });
  }

  async #symlink(entry: ManifestEntry): Promise<void> {
    const owner = this.ownership.owner(entry);
    if (this.writer) return this.writer.symlink(this.staged(entry.path), entry.target!, fsTime(entry.mtimeMs), owner);
    const path = this.staged(entry.path);
    symlinkSync(entry.target!, path);
    if (owner) this.ownership.apply(() => lchownSync(path, owner[0], owner[1]));
    try {
      lutimesSync(path, fsTime(entry.mtimeMs), fsTime(entry.mtimeMs));
    } catch {
      // Some file systems cannot set a link's own time; the link itself is what matters.
    }
  }

  async #file(entry: ManifestEntry, data: AsyncIterable<Uint8Array>): Promise<void> {
    // Its directory may still be queued on the writer thread; the small files queued there need not wait.
    const slash = entry.path.lastIndexOf('/');
    if (this.writer && slash !== -1) await this.writer.directoryMade(this.staged(entry.path.slice(0, slash)));
    const path = this.staged(entry.path);
    const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      for await (const chunk of data) {
        let done = 0;
        while (done < chunk.length) done += (await handle.write(chunk, done, chunk.length - done)).bytesWritten;
        // Each chunk is this file's alone (restore reads every reference anew): freed once written.
        discard(chunk);
      }
      // Through the descriptor: no second path lookup, nothing that could follow a link. The
      // owner first: a change of owner clears the set-id bits the mode then sets.
      const owner = this.ownership.owner(entry);
      const owned = owner === undefined || this.ownership.apply(() => fchownSync(handle.fd, owner[0], owner[1]));
      await handle.chmod(this.ownership.fileMode(entry) & (owned ? 0o7777 : ~SET_ID_BITS));
      await handle.utimes(fsTime(entry.mtimeMs), fsTime(entry.mtimeMs));
    } finally {
      await handle.close();
    }
  }

  /**
   * Small files are written with synchronous calls: the data is in memory and the page cache
   * takes it at once, while a hop to the thread pool per call (open, write, chmod, utimes,
   * close) costs more than the call itself, badly so on virtual machines.
   */
  async #smallFile(entry: ManifestEntry, data: readonly Uint8Array[]): Promise<void> {
    const owner = this.ownership.owner(entry);
    const mode = this.ownership.fileMode(entry);
    if (this.writer) return this.writer.file(this.staged(entry.path), mode, fsTime(entry.mtimeMs), owner, data);
    const fd = openSync(this.staged(entry.path), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      for (const chunk of data) {
        let done = 0;
        while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done);
      }
      const owned = owner === undefined || this.ownership.apply(() => fchownSync(fd, owner[0], owner[1]));
      fchmodSync(fd, owned ? mode : mode & ~SET_ID_BITS);
      futimesSync(fd, fsTime(entry.mtimeMs), fsTime(entry.mtimeMs));
    } finally {
      closeSync(fd);
    }
  }

  async #commit(): Promise<void> {
    // Every file on the writer thread is written (or its failure thrown) before anything moves.
    if (this.writer) {
      await this.writer.flush();
      this.writerOwnersRefused = this.writer.ownersRefused;
      await this.writer.close();
      this.writer = undefined;
    }
    // Move top-down: a directory absent from the target moves whole with its subtree.
    const moved = new Set<string>();
    const isUnderMoved = (path: string): boolean => {
      for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) if (moved.has(path.slice(0, i))) return true;
      return false;
    };
    for (const placement of this.placements) {
      if (isUnderMoved(placement.path)) continue;
      const final = this.final(placement.path);
      const existing = await lstatOrUndefined(final);
      if (placement.type === 'dir' && existing !== undefined) {
        if (!existing.isDirectory() || existing.isSymbolicLink()) {
          throw new BunkerError('ALREADY_EXISTS', `${final} changed during the restore; stopped`);
        }
        // Made in the target since planning: what it gets was not planned one by one, so the
        // staged directory's own listing says what to move.
        if (!placement.existed) await this.mergeStaged(placement.path);
        continue; // merge into the existing directory
      }
      if (existing?.isDirectory()) throw new BunkerError('ALREADY_EXISTS', `${final} changed during the restore; stopped`);
      await rename(this.staged(placement.path), final);
      if (placement.type === 'dir') moved.add(placement.path);
    }
    // Directory modes and times last, deepest first: writing inside changes them.
    for (let i = this.directories.length - 1; i >= 0; i--) {
      const dir = this.directories[i]!;
      const final = this.final(dir.path);
      const owner = this.ownership.owner(dir);
      const owned = owner === undefined || this.ownership.apply(() => lchownSync(final, owner[0], owner[1]));
      chmodSync(final, owned ? dir.mode : dir.mode & ~SET_ID_BITS);
      utimesSync(final, fsTime(dir.mtimeMs), fsTime(dir.mtimeMs));
    }
    await rm(this.staging, { recursive: true, force: true });
    const refused = this.ownership.refused + (this.writerOwnersRefused?.count ?? 0);
    if (refused > 0) {
      this.onWarning?.(`${refused} entr${refused === 1 ? 'y' : 'ies'} could not be given the recorded owner (${this.ownership.refusedBecause || this.writerOwnersRefused?.code}: ` +
        'the file system or a user namespace does not allow it): they belong to the user restoring, without set-id bits');
    }
    const dropped = this.ownership.dropped;
    if (dropped > 0) {
      this.onWarning?.(`${dropped} file${dropped === 1 ? ' has' : 's have'} set-user-id or set-group-id bits and no recorded owner ` +
        `(a point made before bunker recorded owners, or a tar upload): restored without those bits, as they would have run as root`);
    }
  }

  /** Moves what the staging holds under `path` into the target's `path`, a directory, as commit() does. */
  private async mergeStaged(path: string): Promise<void> {
    for (const child of await readdir(this.staged(path), { withFileTypes: true })) {
      const childPath = `${path}/${child.name}`;
      const final = this.final(childPath);
      const existing = await lstatOrUndefined(final);
      if (child.isDirectory() && existing !== undefined) {
        if (!existing.isDirectory() || existing.isSymbolicLink()) throw new BunkerError('ALREADY_EXISTS', `${final} changed during the restore; stopped`);
        await this.mergeStaged(childPath);
        continue;
      }
      if (existing?.isDirectory()) throw new BunkerError('ALREADY_EXISTS', `${final} changed during the restore; stopped`);
      await rename(this.staged(childPath), final);
    }
  }

  async #abort(): Promise<void> {
    // Nothing may still be writing into the staging directory while it is removed.
    await this.writer?.close();
    this.writer = undefined;
    await rm(this.staging, { recursive: true, force: true });
  }
}
