import { Repository } from '../../core/mod.ts';
import { loadWasmFromPackages } from '../../wasm/packages.ts';
import { repositoryStorage } from '../context.ts';
import type { Io } from '../io.ts';
import type { CommandSpec } from './spec.ts';

export interface InitOptions {
  readonly repo?: string;
  readonly token?: string;
  readonly json?: boolean;
}

export async function runInit(options: InitOptions, io: Io): Promise<{ path: string; id: string }> {
  await loadWasmFromPackages();
  const storage = await repositoryStorage(options, io);
  const path = storage.location;
  const repo = await Repository.init(storage);
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
