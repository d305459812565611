/**
 * What the app needs from its host, handed in by the entry point (server/host.ts on Node and
 * Deno): the app itself touches no file system or runtime API, so the same `createApp` runs in
 * any runtime that can supply these.
 */
import type { Catalog, Repository, RestoreSink, Source, Storage } from '../core/mod.ts';
import type { TokenScope } from '../core/catalog/records.ts';
import type { KmsClientMaker } from '../core/kms/kms-settings.ts';
import type { JobManager } from './jobs.ts';

/** The repositories a server holds, by name (catalog-name rules: letters, digits, . _ @ : + -). */
export interface RepositoryHost {
  names(): Promise<string[]>;
  /** The raw object store of repository `name` (created on first write); USAGE for a bad name. */
  storage(name: string): Storage;
  /** Opens an existing repository, with the host's compression workers; NOT_FOUND when absent. */
  open(name: string): Promise<Repository>;
  /** Creates and opens a repository; ALREADY_EXISTS when it exists. */
  create(name: string): Promise<Repository>;
  /** Human-readable location of repository `name` (its directory), for the catalog. */
  location(name: string): string;
}

/** File-system access the app may use: only below the configured restore roots. */
export interface FileHost {
  /** Directories restore-to-path may write below (resolved, absolute). */
  readonly restoreRoots: readonly string[];
  /** Resolves `path` and confines it to a restore root; UNSAFE_PATH otherwise. */
  confine(path: string): Promise<string>;
  /** `onWarning` hears what of the point could not come back as it was (owners, set-id bits). */
  restoreSink(target: string, onWarning?: (message: string) => void): RestoreSink;
  source(paths: readonly string[], exclude: readonly string[]): Promise<Source>;
}

export interface ServerDeps {
  readonly catalog: Catalog;
  readonly repositories: RepositoryHost;
  readonly files: FileHost;
  readonly jobs: JobManager;
  /** KMS clients with the server's AWS credentials (PUT /v1/kms, backups and restores while KMS is set). */
  readonly kms: KmsClientMaker;
  /** Largest JSON request body accepted (streamed upload routes are not bounded by it). */
  readonly maxBodyBytes: number;
  /** Largest object a client may store over the storage API (default 64 MiB; packs are 16 MiB). */
  readonly maxObjectBytes?: number;
  /** One line per request or event; never given a secret. */
  readonly log: (line: string) => void;
}

export interface AppEnv {
  Variables: {
    deps: ServerDeps;
    token?: { name: string; scope: TokenScope };
  };
}
