import { backup, type BackupResult, BunkerError, parseCompression, type Source } from '../../core/mod.ts';
import { fsSource } from '../../core/host/fs-source.ts';
import { iterableReader } from '../../core/source.ts';
import { hostname } from 'node:os';
import { openRepository } from '../context.ts';
import { formatBytes, formatDuration, formatRate } from '../format.ts';
import type { Io } from '../io.ts';
import { parseKdfOption } from '../kdf-option.ts';
import { passwordResolver } from '../password.ts';
import { ProgressLine } from '../progress.ts';
import type { CommandSpec } from './spec.ts';
import { Profile } from '../../core/profile.ts';

export interface BackupCliOptions {
  readonly paths: readonly string[];
  readonly repo?: string;
  readonly name?: string;
  readonly encrypt?: boolean;
  readonly compression?: string;
  readonly exclude?: readonly string[];
  readonly stdin?: boolean;
  readonly stdinName?: string;
  readonly fsi?: boolean;
  readonly passwordFile?: string;
  readonly kdf?: string;
  readonly json?: boolean;
  readonly profile?: boolean;
}

function stdinSource(io: Io, name: string): Source {
  if (name.includes('/') || name === '.' || name === '..' || name === '') {
    throw new BunkerError('USAGE', '--stdin-name must be a plain file name');
  }
  const now = Date.now();
  return {
    sources: ['-'],
    host: hostname(),
    async *entries() {
      yield { path: name, type: 'file', mode: 0o600, mtimeMs: now, size: 0, open: async () => iterableReader(io.stdin()) };
    },
  };
}

export async function runBackup(options: BackupCliOptions, io: Io): Promise<BackupResult> {
  let level: number | undefined;
  try {
    level = parseCompression(options.compression ?? 'zstd');
  } catch (error) {
    throw new BunkerError('USAGE', (error as Error).message);
  }
  const kdf = parseKdfOption(options.kdf);
  if (options.stdin && options.paths.length > 0) throw new BunkerError('USAGE', '--stdin takes no PATH');
  const warn = (message: string) => io.err(`warning: ${message}\n`);
  const source = options.stdin
    ? stdinSource(io, options.stdinName ?? 'stdin')
    : await fsSource(options.paths, { exclude: options.exclude ?? [], onWarning: warn });
  const repo = await openRepository(options, io, { createIfMissing: true });
  const progress = new ProgressLine(io);
  const result = await backup(repo, source, {
    series: options.name ?? 'default',
    encrypt: options.encrypt !== false,
    compressionLevel: level,
    resolver: passwordResolver(io, options.passwordFile),
    ...(kdf ? { kdf } : {}),
    fsi: options.fsi !== false,
    onProgress: (p) => progress.update({ files: p.files, bytes: p.bytesRead + p.bytesSkipped, label: p.currentPath }),
    onWarning: warn,
    ...(options.profile ? { profile: new Profile() } : {}),
  });
  progress.done();
  if (options.json) {
    io.out(JSON.stringify(result) + '\n');
    return result;
  }
  const s = result.stats;
  const stored = s.bytesAdded;
  io.out(
    `point ${result.pointId.slice(0, 12)} saved (backup "${result.series}"${result.parentId ? `, parent ${result.parentId.slice(0, 12)}` : ''})\n` +
      `  files     ${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnchanged} unchanged; ${s.dirs} directories, ${s.symlinks} symlinks\n` +
      `  read      ${formatBytes(s.bytesRead)} of ${formatBytes(s.bytes)} in ${formatDuration(s.durationMs)} (${formatRate(s.bytesRead, s.durationMs)})\n` +
      (result.profile ? `  profile   ${Object.entries(result.profile).map(([k, v]) => `${k} ${formatDuration(v)}`).join(', ')}\n` : '') +
      `  added     ${formatBytes(stored)} to the repository (${s.chunksNew} new chunks` +
      (s.bytesRead > 0 && stored > 0 ? `; ${(s.bytesRead / stored).toFixed(2)}x smaller after dedup and compression)` : ')') + '\n',
  );
  return result;
}

export const backupCommand: CommandSpec = {
  command: 'backup [paths..]',
  describe: 'Back up files and directories into a new recovery point',
  builder: (y) =>
    y
      .positional('paths', { type: 'string', array: true, default: [], describe: 'files or directories to back up' })
      .option('name', { type: 'string', default: 'default', describe: 'backup name: points of one name share keys and dedup' })
      .option('encrypt', { type: 'boolean', default: true, describe: 'encrypt (use --no-encrypt for an unencrypted backup)' })
      .option('compression', { type: 'string', default: 'zstd', describe: 'zstd, zstd:LEVEL (1-19) or none' })
      .option('exclude', { type: 'string', array: true, default: [], describe: 'glob to skip; without "/" it matches names anywhere' })
      .option('stdin', { type: 'boolean', default: false, describe: 'back up standard input as one file' })
      .option('stdin-name', { type: 'string', default: 'stdin', describe: 'file name for --stdin' })
      .option('fsi', { type: 'boolean', default: true, describe: 'write the file-system index (--no-fsi to skip)' })
      .option('profile', { type: 'boolean', default: false, describe: 'report the time spent in each pipeline stage' })
      .option('kdf', { type: 'string', describe: 'Argon2id parameters for a new backup, m=KiB,t=N,p=N (advanced)' }),
  run: async (argv, io) => void (await runBackup(argv as unknown as BackupCliOptions, io)),
};
