import { resolve } from 'node:path';
import { restore, type RestoreResult } from '../../core/mod.ts';
import { DirectoryRestoreSink } from '../../core/host/fs-restore-sink.ts';
import { openRepository } from '../context.ts';
import { displayPath, formatBytes, formatDuration, formatRate } from '../format.ts';
import type { Io } from '../io.ts';
import { passwordResolver } from '../password.ts';
import { ProgressLine } from '../progress.ts';
import type { CommandSpec } from './spec.ts';
import { Profile } from '../../core/profile.ts';

export interface RestoreCliOptions {
  readonly point: string;
  readonly target: string;
  readonly include?: readonly string[];
  readonly repo?: string;
  readonly name?: string;
  readonly passwordFile?: string;
  readonly json?: boolean;
  readonly profile?: boolean;
}

export async function runRestore(options: RestoreCliOptions, io: Io): Promise<RestoreResult & { pointId: string; keySource: string; target: string; durationMs: number; warnings: string[] }> {
  const startedAt = Date.now();
  const repo = await openRepository(options, io);
  const point = await repo.unlock(await repo.resolvePoint(options.point, options.name), passwordResolver(io, options.passwordFile));
  const target = resolve(options.target);
  const progress = new ProgressLine(io);
  const profile = options.profile ? new Profile() : undefined;
  const warnings: string[] = [];
  const onWarning = (message: string): void => {
    warnings.push(message);
    io.err(`warning: ${displayPath(message)}\n`);
  };
  const result = await restore(repo, point, new DirectoryRestoreSink(target, { onWarning }), {
    ...(options.include && options.include.length > 0 ? { include: options.include } : {}),
    onProgress: (p) => progress.update({ files: p.files, bytes: p.bytes, totalBytes: p.bytesTotal, label: p.currentPath }),
    ...(profile ? { profile } : {}),
    ...(io.interruption ? { signal: io.interruption() } : {}),
  });
  progress.done();
  const durationMs = Date.now() - startedAt;
  const summary = { ...result, pointId: point.id, keySource: point.keySource, target, durationMs, warnings, ...(profile ? { profile: profile.rounded() } : {}) };
  if (options.json) {
    io.out(JSON.stringify(summary) + '\n');
  } else {
    io.out(
      `restored point ${point.id.slice(0, 12)} to ${target}\n` +
        `  ${result.files} files, ${result.dirs} directories, ${result.symlinks} symlinks, ${formatBytes(result.bytes)} ` +
        `in ${formatDuration(durationMs)} (${formatRate(result.bytes, durationMs)})\n` +
        `  key: ${describeKeySource(point.keySource)}\n` +
        (profile ? `  profile: ${Object.entries(profile.rounded()).map(([k, v]) => `${k} ${formatDuration(v)}`).join(', ')}\n` : ''),
    );
  }
  return summary;
}

export function describeKeySource(source: string): string {
  switch (source) {
    case 'none': return 'not encrypted';
    case 'password': return 'derived from the password and the point\'s salt';
    case 'catalog': return 'password hash from the product database';
    case 'kms': return 'password hash decrypted by AWS KMS';
    default: return source;
  }
}

export const restoreCommand: CommandSpec = {
  command: 'restore <point>',
  describe: 'Restore a recovery point into a directory',
  builder: (y) =>
    y
      .positional('point', { type: 'string', describe: 'point id, unique id prefix, or latest' })
      .option('target', { type: 'string', demandOption: true, describe: 'directory to restore into (created if missing)' })
      .option('include', { type: 'string', array: true, default: [], describe: 'restore only this path (repeatable)' })
      .option('name', { type: 'string', describe: 'with "latest": the backup name' })
      .option('profile', { type: 'boolean', default: false, describe: 'report the time spent in each stage' }),
  run: async (argv, io) => void (await runRestore(argv as unknown as RestoreCliOptions, io)),
};
