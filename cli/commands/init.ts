import { Repository } from '../../core/mod.ts';
import { DirectoryStorage } from '../../core/host/directory-storage.ts';
import { loadWasmFromPackages } from '../../wasm/packages.ts';
import { repositoryPath } from '../context.ts';
import type { Io } from '../io.ts';
import type { CommandSpec } from './spec.ts';

export interface InitOptions {
  readonly repo?: string;
  readonly json?: boolean;
}

export async function runInit(options: InitOptions, io: Io): Promise<{ path: string; id: string }> {
  await loadWasmFromPackages();
  const path = repositoryPath(options, io.env);
  const repo = await Repository.init(new DirectoryStorage(path));
  const result = { path, id: repo.config.id };
  if (options.json) io.out(JSON.stringify(result) + '\n');
  else io.out(`created repository ${repo.config.id.slice(0, 12)} at ${path}\n`);
  return result;
}

export const initCommand: CommandSpec = {
  command: 'init',
  describe: 'Create a repository (backups create one on first use too)',
  builder: (y) => y,
  run: async (argv, io) => void (await runInit(argv as InitOptions, io)),
};
