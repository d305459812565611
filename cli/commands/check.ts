import { checkRepository, type CheckReport } from '../../core/mod.ts';
import { openRepository } from '../context.ts';
import { EXIT_CHECK_FAILED } from '../exit-codes.ts';
import { formatBytes } from '../format.ts';
import type { Io } from '../io.ts';
import { passwordResolver } from '../password.ts';
import type { CommandSpec } from './spec.ts';

export interface CheckCliOptions {
  readonly repo?: string;
  readonly readData?: boolean;
  readonly name?: string;
  readonly passwordFile?: string;
  readonly json?: boolean;
}

export async function runCheck(options: CheckCliOptions, io: Io): Promise<CheckReport> {
  const repo = await openRepository(options, io);
  const report = await checkRepository(repo, {
    readData: options.readData ?? false,
    ...(options.name === undefined ? {} : { series: options.name }),
    resolver: passwordResolver(io, options.passwordFile),
    onProgress: (message) => {
      if (io.isInteractive) io.err(`\r\x1b[K${message}`);
    },
    ...(io.interruption ? { signal: io.interruption() } : {}),
  });
  if (io.isInteractive) io.err('\r\x1b[K');
  if (options.json) {
    io.out(JSON.stringify(report) + '\n');
  } else {
    io.out(`checked ${report.points} points` + (options.readData ? `, read ${report.chunksChecked} chunks (${formatBytes(report.bytesRead)})` : '') + '\n');
    for (const p of report.problems) io.out(`  ${p.code}: ${p.message}\n`);
    if (report.unreferenced.length > 0) {
      io.out(report.pointsUnreadable === 0
        ? `  ${report.unreferenced.length} unreferenced objects (left by interrupted runs; harmless):\n`
        // The points that could not be read may be what references them: they are no garbage yet.
        : `  ${report.unreferenced.length} objects no readable point references; ${report.pointsUnreadable} point${report.pointsUnreadable === 1 ? '' : 's'} could not be read ` +
          `and may use them: keep them until those points are repaired or removed:\n`);
      for (const key of report.unreferenced.slice(0, 20)) io.out(`    ${key}\n`);
    }
    io.out(report.isOk ? 'no problems found\n' : `${report.problems.length} problems found\n`);
  }
  return report;
}

export const checkCommand: CommandSpec = {
  command: 'check',
  describe: 'Verify the repository (--read-data also reads and authenticates every chunk)',
  builder: (y) =>
    y
      .option('read-data', { type: 'boolean', default: false, describe: 'read and verify all data' })
      .option('name', { type: 'string', describe: 'check only this backup\'s points (one password at a time)' }),
  run: async (argv, io) => ((await runCheck(argv as CheckCliOptions, io)).isOk ? 0 : EXIT_CHECK_FAILED),
};
