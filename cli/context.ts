/** Shared by every command: where the data and the repository are, and opening it. */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { Repository } from '../core/mod.ts';
import { DirectoryStorage } from '../core/host/directory-storage.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';
import type { Io } from './io.ts';

export interface RepoOptions {
  readonly repo?: string | undefined;
}

/** BUNKER_HOME, else the platform's per-user data directory. */
export function dataHome(env: Io['env']): string {
  if (env.BUNKER_HOME) return resolve(env.BUNKER_HOME);
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'bunker');
  if (process.platform === 'win32') return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'bunker');
  return join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'bunker');
}

/** --repo, else BUNKER_REPO, else the default repository in the data directory. */
export function repositoryPath(options: RepoOptions, env: Io['env']): string {
  return resolve(options.repo ?? env.BUNKER_REPO ?? join(dataHome(env), 'repository'));
}

export async function openRepository(options: RepoOptions, io: Io, { createIfMissing = false } = {}): Promise<Repository> {
  await loadWasmFromPackages();
  const path = repositoryPath(options, io.env);
  const storage = new DirectoryStorage(path);
  if (createIfMissing && !(await Repository.exists(storage))) {
    const repo = await Repository.init(storage);
    io.err(`bunker: created a new repository at ${path}\n`);
    return repo;
  }
  return Repository.open(storage);
}
