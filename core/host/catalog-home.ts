/**
 * Opening the product catalog in a data directory (`BUNKER_HOME`): the directory (mode 0700),
 * the SQLite database `catalog.db` (created 0600; SQLite gives its -wal and -shm files the
 * same mode) and the master key file beside it (core/host/master-key-file.ts).
 */
import { constants } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Catalog } from '../catalog/catalog.ts';
import { BunkerError } from '../errors.ts';
import { masterKeyFile } from './master-key-file.ts';
import { openSqliteDatabase } from './sqlite.ts';

export const CATALOG_FILE_NAME = 'catalog.db';

export function catalogPath(home: string): string {
  return join(home, CATALOG_FILE_NAME);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return false;
    throw new BunkerError('CATALOG_FAILED', `cannot read ${path}: ${(error as { code?: string }).code ?? String(error)}`, { cause: error });
  }
}

/**
 * Opens the catalog in `home`. With `create` false, a home without a database gives undefined
 * (nothing is created: reading must not leave files behind); with `create` true, the
 * directory, database and master key file are created as needed.
 */
export async function openCatalog(home: string, options: { create: boolean }): Promise<Catalog | undefined> {
  const path = catalogPath(home);
  if (!options.create && !(await exists(path))) return undefined;
  try {
    await mkdir(home, { recursive: true, mode: 0o700 });
    // Create the file ourselves, 0600, before SQLite opens it (SQLite would use 0644 less the umask).
    const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    await handle.close();
  } catch (error) {
    throw new BunkerError('CATALOG_FAILED', `cannot create the product database ${path}: ${(error as { code?: string }).code ?? String(error)}`, { cause: error });
  }
  const db = openSqliteDatabase(path);
  try {
    return await Catalog.open(db, masterKeyFile(home));
  } catch (error) {
    db.close();
    throw error;
  }
}
