/** Shared by every command: where the data and the repository are, and opening it. */
import { repositoryUrl } from '../core/storage/server-url.ts';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { BunkerError, HttpStorage, Repository, type Storage } from '../core/mod.ts';
import { defaultWorkerCount, nativeMetadataZstd, workerCodecPool } from '../core/host/worker-codec-pool.ts';
import { DirectoryStorage } from '../core/host/directory-storage.ts';
import { openCatalog } from '../core/host/catalog-home.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';
import type { Io } from './io.ts';
import { apiToken, isRemoteLocation } from './remote.ts';

export interface RepoOptions {
  readonly repo?: string | undefined;
  /** API token for a repository on a bunker server (else BUNKER_TOKEN_FILE, BUNKER_TOKEN). */
  readonly token?: string | undefined;
}

/** BUNKER_HOME, else the platform's per-user data directory. */
export function dataHome(env: Io['env']): string {
  if (env.BUNKER_HOME) return resolve(env.BUNKER_HOME);
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'bunker');
  if (process.platform === 'win32') return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'bunker');
  return join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'bunker');
}

/**
 * The product catalog (named passwords, jobs, …) in the data directory. With `create` false,
 * undefined when there is none yet: reading creates nothing.
 */
export function openProductCatalog(io: Io, options: { create: boolean }): Promise<Catalog | undefined> {
  return openCatalog(dataHome(io.env), options);
}

/**
 * --repo, else BUNKER_REPO, else the default repository in the data directory. A directory
 * comes back absolute; a server's repository (http(s)://HOST:PORT/v1/repos/NAME) as its URL,
 * which is also what the catalog records (never with a token: URLs carrying credentials are refused).
 */
export function repositoryPath(options: RepoOptions, env: Io['env']): string {
  const location = options.repo ?? env.BUNKER_REPO ?? join(dataHome(env), 'repository');
  return isRemoteLocation(location) ? repositoryUrl(location).location : resolve(location);
}

/** The storage of the repository `options` name: a directory, or a repository on a bunker server. */
export async function repositoryStorage(options: RepoOptions, io: Io): Promise<Storage> {
  const location = repositoryPath(options, io.env);
  if (isRemoteLocation(location)) return new HttpStorage(location, await apiToken(options, io));
  return new DirectoryStorage(location);
}

export async function openRepository(options: RepoOptions, io: Io, { createIfMissing = false } = {}): Promise<Repository> {
  await loadWasmFromPackages();
  const storage = await repositoryStorage(options, io);
  const path = storage.location;
  let repo: Repository;
  if (createIfMissing && !(await Repository.exists(storage))) {
    repo = await Repository.init(storage);
    io.err(`bunker: created a new repository at ${path}\n`);
  } else {
    repo = await Repository.open(storage);
  }
  useWorkers(repo, io.env);
  return repo;
}

/**
 * Compression on worker threads: BUNKER_WORKERS (default: one per CPU; 0 = inline on the main
 * thread) and BUNKER_ZSTD=wasm|native (default native where usable, see worker-codec-pool.ts),
 * which also chooses the zstd that reads and writes metadata on this thread.
 */
export function useWorkers(repo: Repository, env: Io['env']): void {
  const workers = env.BUNKER_WORKERS === undefined ? defaultWorkerCount() : Number(env.BUNKER_WORKERS);
  if (!Number.isInteger(workers) || workers < 0 || workers > 64) throw new BunkerError('USAGE', 'BUNKER_WORKERS must be a whole number 0..64');
  const native = env.BUNKER_ZSTD === 'wasm' ? undefined : nativeMetadataZstd();
  if (native !== undefined) repo.metadataZstd = native;
  if (workers === 0) return;
  repo.codecs = workerCodecPool({ workers, native: env.BUNKER_ZSTD !== 'wasm', inline: repo.codecs });
}
