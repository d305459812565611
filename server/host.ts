/**
 * The server's host side on Node and Deno (both through node: modules): repositories as
 * directories under one root, the catalog of the server's BUNKER_HOME, restore roots, and the
 * file-system source. createApp gets all of it as ServerDeps.
 */
import { mkdir, readdir, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { BunkerError, type Catalog, Repository } from '../core/mod.ts';
import { DirectoryStorage } from '../core/host/directory-storage.ts';
import { DirectoryRestoreSink } from '../core/host/fs-restore-sink.ts';
import { fsSource } from '../core/host/fs-source.ts';
import { awsKmsClient } from '../core/host/aws-kms-client.ts';
import { defaultWorkerCount, nativeMetadataZstd, workerCodecPool } from '../core/host/worker-codec-pool.ts';
import { isCatalogName } from '../core/catalog/records.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';
import type { FileHost, RepositoryHost, ServerDeps } from './deps.ts';
import { JobManager } from './jobs.ts';

export interface HostOptions {
  readonly catalog: Catalog;
  /** Directory holding one repository directory per name. */
  readonly reposRoot: string;
  /** Directories restore-to-path may write below. Empty: restore to a path is refused. */
  readonly restoreRoots: readonly string[];
  readonly workers?: number;
  readonly maxBodyBytes?: number;
  readonly maxObjectBytes?: number;
  readonly log?: (line: string) => void;
  /** The environment KMS clients read (AWS_ENDPOINT_URL_KMS, for messages); default: the process's. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export function checkRepositoryName(name: string): string {
  if (!isCatalogName(name)) throw new BunkerError('USAGE', 'a repository name is 1-64 letters, digits and . _ @ : + -, starting with a letter or digit');
  return name;
}

export function directoryRepositories(root: string, workers = defaultWorkerCount()): RepositoryHost {
  const location = (name: string) => join(root, checkRepositoryName(name));
  // One pool of codec threads for every repository and request: a pool per open would start
  // new threads on each request and never stop them.
  let shared: Repository['codecs'] | undefined;
  const withWorkers = (repo: Repository): Repository => {
    repo.metadataZstd = nativeMetadataZstd() ?? repo.metadataZstd;
    if (workers > 0) repo.codecs = shared ??= workerCodecPool({ workers, native: true, inline: repo.codecs });
    return repo;
  };
  return {
    location,
    async names() {
      const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
      return entries.filter((e) => e.isDirectory() && isCatalogName(e.name)).map((e) => e.name).sort();
    },
    storage: (name) => new DirectoryStorage(location(name)),
    async open(name) {
      await loadWasmFromPackages();
      const storage = new DirectoryStorage(location(name));
      if (!(await Repository.exists(storage))) throw new BunkerError('NOT_FOUND', `no repository named "${name}" on this server`);
      return withWorkers(await Repository.open(storage));
    },
    async create(name) {
      await loadWasmFromPackages();
      const storage = new DirectoryStorage(location(name));
      if (await Repository.exists(storage)) throw new BunkerError('ALREADY_EXISTS', `a repository named "${name}" exists on this server`);
      await mkdir(root, { recursive: true, mode: 0o700 });
      return withWorkers(await Repository.init(storage));
    },
  };
}

export async function fileHost(restoreRoots: readonly string[]): Promise<FileHost> {
  const roots: string[] = [];
  for (const root of restoreRoots) {
    await mkdir(resolve(root), { recursive: true, mode: 0o700 });
    roots.push(await realpath(resolve(root)));
  }
  return {
    restoreRoots: roots,
    async confine(path) {
      if (roots.length === 0) throw new BunkerError('FORBIDDEN', 'this server allows no restore to a path (bunker serve --restore-root DIR)');
      if (typeof path !== 'string' || path === '' || path.includes('\0')) throw new BunkerError('UNSAFE_PATH', 'the restore path is empty or invalid');
      // Relative paths are below the first root; absolute ones must be below some root,
      // after resolving every symbolic link of the part that exists.
      const wanted = isAbsolute(path) ? resolve(path) : resolve(roots[0]!, path);
      const real = await realExisting(wanted);
      if (!roots.some((root) => real === root || real.startsWith(root + sep))) {
        throw new BunkerError('UNSAFE_PATH', 'the restore path is outside the directories this server may restore to');
      }
      return real;
    },
    restoreSink: (target, onWarning) => new DirectoryRestoreSink(target, onWarning ? { onWarning } : {}),
    source: (paths, exclude) => fsSource(paths, { exclude }),
  };
}

/** `path` with its longest existing prefix resolved through symbolic links. */
async function realExisting(path: string): Promise<string> {
  let existing = path;
  const rest: string[] = [];
  for (;;) {
    try {
      const real = await realpath(existing);
      return rest.length === 0 ? real : join(real, ...rest.reverse());
    } catch {
      const parent = resolve(existing, '..');
      if (parent === existing) return path;
      rest.push(relative(parent, existing));
      existing = parent;
    }
  }
}

export async function serverDeps(options: HostOptions): Promise<ServerDeps> {
  return {
    catalog: options.catalog,
    repositories: directoryRepositories(options.reposRoot, options.workers),
    files: await fileHost(options.restoreRoots),
    jobs: new JobManager(options.log),
    kms: (kms) => awsKmsClient({ ...kms, ...(options.env === undefined ? {} : { env: options.env }) }),
    maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
    ...(options.maxObjectBytes ? { maxObjectBytes: options.maxObjectBytes } : {}),
    log: options.log ?? (() => undefined),
  };
}
