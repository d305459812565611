/**
 * The catalog's master key file (FORMAT.md §15.1): `<data directory>/master.key`, mode 0600,
 * created on first use. It is written the way directory storage writes objects — a temporary
 * file (O_EXCL, 0600), fsync, then link() to the final name, which fails if the name exists —
 * so two processes creating it at once end up with one key, and no one ever reads half a key.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errnoOf, writeFileIfAbsent } from './durable-file.ts';
import { newMasterKeyFile, parseMasterKeyFile } from '../catalog/secret-box.ts';
import type { MasterKeyStore } from '../catalog/catalog.ts';
import { BunkerError } from '../errors.ts';
import { randomId } from '../format/bytes.ts';

export const MASTER_KEY_FILE_NAME = 'master.key';
export const MASTER_KEY_FILE_MODE = 0o600;


function failed(path: string, what: string, error: unknown): BunkerError {
  return new BunkerError('CATALOG_FAILED', `cannot ${what} the master key file ${path}: ${errnoOf(error) ?? (error instanceof Error ? error.message : String(error))}`, { cause: error });
}

async function readKeyFile(path: string): Promise<Uint8Array | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw failed(path, 'open', error);
  }
  try {
    const stat = await handle.stat();
    // Like ssh with a private key: a key others can read is refused, not silently used.
    if ((stat.mode & 0o077) !== 0) {
      throw new BunkerError('CATALOG_FAILED', `the master key file ${path} is accessible to other users (mode ${(stat.mode & 0o777).toString(8)}): run chmod 600 on it`);
    }
    return parseMasterKeyFile(new Uint8Array(await handle.readFile()), path);
  } catch (error) {
    if (error instanceof BunkerError) throw error;
    throw failed(path, 'read', error);
  } finally {
    await handle.close();
  }
}


/** The master key file in `home` (which must exist). */
export function masterKeyFile(home: string): MasterKeyStore {
  const path = join(home, MASTER_KEY_FILE_NAME);
  return {
    location: path,
    read: () => readKeyFile(path),
    async create() {
      const tmpPath = join(dirname(path), `.${MASTER_KEY_FILE_NAME}.${randomId().slice(0, 24)}.tmp`);
      try {
        // False when another process created it first: then theirs is used.
        await writeFileIfAbsent(path, tmpPath, newMasterKeyFile(), MASTER_KEY_FILE_MODE);
      } catch (error) {
        throw failed(path, 'create', error);
      }
      const key = await readKeyFile(path);
      if (key === undefined) throw new BunkerError('CATALOG_FAILED', `the master key file ${path} vanished while it was created`);
      return key;
    },
  };
}
