import { type FsiEntry, listDirectory, pointListing } from '../../core/mod.ts';
import { openRepository } from '../context.ts';
import { displayPath, formatMode } from '../format.ts';
import type { Io } from '../io.ts';
import { passwordResolver } from '../password.ts';
import type { CommandSpec } from './spec.ts';

export interface LsOptions {
  readonly point: string;
  readonly path?: string;
  readonly repo?: string;
  readonly name?: string;
  readonly recursive?: boolean;
  readonly passwordFile?: string;
  readonly json?: boolean;
}

export async function runLs(options: LsOptions, io: Io): Promise<FsiEntry[]> {
  const repo = await openRepository(options, io);
  const point = await repo.unlock(await repo.resolvePoint(options.point, options.name), passwordResolver(io, options.passwordFile));
  const listing = await pointListing(repo, point, (message) => io.err(`warning: ${displayPath(message)}\n`));
  const prefix = (options.path ?? '').replace(/^\/+|\/+$/g, '');
  const entries = options.recursive
    ? listing.filter((e) => prefix === '' || e.path === prefix || e.path.startsWith(prefix + '/'))
    : listDirectory(listing, options.path ?? '');
  if (options.json) {
    io.out(JSON.stringify(entries) + '\n');
  } else {
    for (const e of entries) {
      const when = new Date(e.mtimeMs).toISOString().slice(0, 19).replace('T', ' ');
      io.out(`${formatMode(e.type, 0o777).slice(0, 1)} ${String(e.size).padStart(12)}  ${when}  ${displayPath(e.path)}${e.type === 'dir' ? '/' : ''}\n`);
    }
  }
  return entries;
}

export const lsCommand: CommandSpec = {
  command: 'ls <point> [path]',
  describe: 'List the files of a recovery point (POINT: id, id prefix or "latest")',
  builder: (y) =>
    y
      .positional('point', { type: 'string', describe: 'point id, unique id prefix, or latest' })
      .positional('path', { type: 'string', describe: 'directory inside the point' })
      .option('name', { type: 'string', describe: 'with "latest": the backup name' })
      .option('recursive', { alias: 'r', type: 'boolean', default: false, describe: 'list everything below PATH' }),
  run: async (argv, io) => void (await runLs(argv as unknown as LsOptions, io)),
};
