import { dumpFile } from '../../core/mod.ts';
import { openRepository } from '../context.ts';
import type { Io } from '../io.ts';
import { passwordResolver } from '../password.ts';
import type { CommandSpec } from './spec.ts';

export interface DumpOptions {
  readonly point: string;
  readonly path: string;
  readonly repo?: string;
  readonly name?: string;
  readonly passwordFile?: string;
}

export async function runDump(options: DumpOptions, io: Io): Promise<number> {
  const repo = await openRepository(options, io);
  const point = await repo.unlock(await repo.resolvePoint(options.point, options.name), passwordResolver(io, options.passwordFile));
  return dumpFile(repo, point, options.path, (chunk) => io.writeOut(chunk));
}

export const dumpCommand: CommandSpec = {
  command: 'dump <point> <path>',
  describe: 'Write one file of a recovery point to standard output',
  builder: (y) =>
    y
      .positional('point', { type: 'string', describe: 'point id, unique id prefix, or latest' })
      .positional('path', { type: 'string', describe: 'file path inside the point' })
      .option('name', { type: 'string', describe: 'with "latest": the backup name' }),
  run: async (argv, io) => void (await runDump(argv as unknown as DumpOptions, io)),
};
