import { findFiles, type FindMatch } from '../../core/mod.ts';
import { openRepository } from '../context.ts';
import { displayPath, formatTime } from '../format.ts';
import type { Io } from '../io.ts';
import { passwordResolver } from '../password.ts';
import type { CommandSpec } from './spec.ts';

export interface FindOptions {
  readonly pattern: string;
  readonly repo?: string;
  readonly name?: string;
  readonly passwordFile?: string;
  readonly json?: boolean;
}

export async function runFind(options: FindOptions, io: Io): Promise<FindMatch[]> {
  const repo = await openRepository(options, io);
  const matches = await findFiles(repo, options.pattern, {
    ...(options.name === undefined ? {} : { series: options.name }),
    resolver: passwordResolver(io, options.passwordFile),
    onWarning: (message) => io.err(`warning: ${displayPath(message)}\n`),
  });
  if (options.json) {
    io.out(JSON.stringify(matches) + '\n');
  } else {
    for (const m of matches) io.out(`${m.pointId.slice(0, 12)}  ${formatTime(m.createdAt)}  ${displayPath(m.entry.path)}${m.entry.type === 'dir' ? '/' : ''}\n`);
    if (matches.length === 0) io.err('no matches\n');
  }
  return matches;
}

export const findCommand: CommandSpec = {
  command: 'find <pattern>',
  describe: 'Search the file-system index of every point (glob; without "/" it matches names)',
  builder: (y) =>
    y.positional('pattern', { type: 'string', describe: 'glob, e.g. "*.conf" or "etc/**"' })
      .option('name', { type: 'string', describe: 'only points of this backup name' }),
  run: async (argv, io) => void (await runFind(argv as unknown as FindOptions, io)),
};
