import { type PointSummary, summarizePoint } from '../../core/browse.ts';
import { openRepository } from '../context.ts';
import { formatBytes, formatTime } from '../format.ts';
import type { Io } from '../io.ts';
import type { CommandSpec } from './spec.ts';

export interface PointsOptions {
  readonly repo?: string;
  readonly name?: string;
  readonly json?: boolean;
}

export async function runPoints(options: PointsOptions, io: Io): Promise<PointSummary[]> {
  const repo = await openRepository(options, io);
  const points = (await repo.listPoints(options.name)).map(summarizePoint);
  if (options.json) {
    io.out(JSON.stringify(points) + '\n');
  } else if (points.length === 0) {
    io.out('no recovery points\n');
  } else {
    io.out(`${'ID'.padEnd(12)}  ${'TIME'.padEnd(20)}  ${'NAME'.padEnd(16)}  ${'FILES'.padStart(8)}  ${'SIZE'.padStart(10)}  ENCRYPTED\n`);
    for (const p of points) {
      io.out(`${p.id.slice(0, 12)}  ${formatTime(p.createdAt).padEnd(20)}  ${p.name.padEnd(16)}  ${String(p.files).padStart(8)}  ${formatBytes(p.bytes).padStart(10)}  ${p.encrypted ? 'yes' : 'no'}\n`);
    }
  }
  return points;
}

export const pointsCommand: CommandSpec = {
  command: 'points',
  describe: 'List recovery points',
  builder: (y) => y.option('name', { type: 'string', describe: 'only points of this backup name' }),
  run: async (argv, io) => void (await runPoints(argv as PointsOptions, io)),
};
