/**
 * Local directory storage (the default backend). Writes go to tmp/, are fsynced, then
 * hard-linked into place, which fails atomically if the key exists (put-if-absent), and
 * the directory is fsynced so the name survives a crash (FORMAT.md §2.2).
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errnoOf, writeFileIfAbsent } from './durable-file.ts';
import { BunkerError } from '../errors.ts';
import { randomId } from '../format/bytes.ts';
import { checkKey, notFound, shortObject, type Storage } from '../storage/storage.ts';

function isErrno(error: unknown, code: string): boolean {
  return errnoOf(error) === code;
}


export class DirectoryStorage implements Storage {
  readonly location: string;
  private readonly root: string;
  private readonly createdDirs = new Set<string>();

  constructor(root: string) {
    this.root = root;
    this.location = root;
  }

  private path(key: string): string {
    return join(this.root, ...checkKey(key).split('/'));
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      const handle = await open(this.path(key), constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        return new Uint8Array(await handle.readFile());
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw notFound(key);
      throw this.failed('read', key, error);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    let handle;
    try {
      handle = await open(this.path(key), constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw notFound(key);
      throw this.failed('read', key, error);
    }
    try {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw shortObject(key);
        done += bytesRead;
      }
      return out;
    } finally {
      await handle.close();
    }
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.createdDirs.has(dir)) return;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    this.createdDirs.add(dir);
  }

  async put(key: string, data: Uint8Array): Promise<boolean> {
    const finalPath = this.path(key);
    const tmpDir = join(this.root, 'tmp');
    const tmpPath = join(tmpDir, `${randomId().slice(0, 24)}.tmp`);
    try {
      await this.ensureDir(tmpDir);
      await this.ensureDir(dirname(finalPath));
      return await writeFileIfAbsent(finalPath, tmpPath, data, 0o600);
    } catch (error) {
      throw this.failed('write', key, error);
    }
  }

  async has(key: string): Promise<boolean> {
    try {
      // lstat, like get's O_NOFOLLOW: a symbolic link is not an object.
      return (await lstat(this.path(key))).isFile();
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false;
      throw this.failed('read', key, error);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const base = prefix.replace(/\/$/, '');
    const out: string[] = [];
    const walk = async (dirKey: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(join(this.root, ...dirKey.split('/')), { withFileTypes: true });
      } catch (error) {
        if (isErrno(error, 'ENOENT')) return;
        throw this.failed('list', dirKey, error);
      }
      for (const entry of entries) {
        const key = `${dirKey}/${entry.name}`;
        if (entry.isDirectory()) await walk(key);
        else if (entry.isFile()) out.push(key);
      }
    };
    await walk(base);
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  private failed(action: string, key: string, error: unknown): BunkerError {
    if (error instanceof BunkerError) return error;
    const reason = error instanceof Error ? error.message : String(error);
    return new BunkerError('STORAGE_FAILED', `could not ${action} ${key} in ${this.root}: ${reason}`, { object: key, cause: error });
  }
}
