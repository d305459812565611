import { namedBackupPassword } from '../../core/catalog/named-passwords.ts';
import { backup, type BackupOptions, type BackupResult, BunkerError, parseCompression, type Source } from '../../core/mod.ts';
import { fsSource } from '../../core/host/fs-source.ts';
import { iterableReader } from '../../core/source.ts';
import { hostname } from 'node:os';
import type { Catalog } from '../../core/catalog/catalog.ts';
import { openProductCatalog, openRepository, repositoryPath } from '../context.ts';
import { displayPath, formatBytes, formatDuration, formatRate } from '../format.ts';
import type { Io } from '../io.ts';
import { parseKdfOption } from '../kdf-option.ts';
import { kmsBackupOption } from '../kms.ts';
import { passwordResolver } from '../password.ts';
import { ProgressLine } from '../progress.ts';
import { runTargetBackup } from '../target-backup.ts';
import { serverBase } from '../../core/storage/server-url.ts';
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
  /** A named password (purpose backup) from the product catalog. */
  readonly password?: string;
  /** The job being run (bunker job run): the point is recorded as the job's. */
  readonly job?: string;
  readonly json?: boolean;
  readonly profile?: boolean;
  /** A bunker serve (http(s)://HOST:PORT) to back up to. */
  readonly target?: string;
  /** Where encryption happens with --target: here (source, the default) or on the target. */
  readonly encryptOn?: 'source' | 'target';
  /** The repository's name on --target (default "default"). */
  readonly repoName?: string;
  readonly token?: string;
}

/** Standard input as one file. Sequential: its size is unknown (0), and read-ahead must not hold it whole. */
export function stdinSource(io: Io, name: string): Source {
  if (name.includes('/') || name === '.' || name === '..' || name === '') {
    throw new BunkerError('USAGE', '--stdin-name must be a plain file name');
  }
  const now = Date.now();
  return {
    sources: ['-'],
    host: hostname(),
    sequential: true,
    async *entries() {
      yield { path: name, type: 'file', mode: 0o600, mtimeMs: now, size: 0, sizeUnknown: true, open: async () => iterableReader(io.stdin()) };
    },
  };
}

/**
 * --target: with --encrypt-on source (the default) the repository is the target's
 * (`--repo URL/v1/repos/R`, encrypted here); with --encrypt-on target this side holds no key
 * and uploads a tar stream (cli/target-backup.ts). Options that need a key here are refused.
 */
function targetMode(options: BackupCliOptions): 'local' | 'source' | 'target' {
  const onTarget = options.encryptOn === 'target';
  if (options.target === undefined) {
    if (onTarget) throw new BunkerError('USAGE', '--encrypt-on target needs --target http(s)://HOST:PORT (a bunker serve holding the password)');
    if (options.repoName !== undefined) throw new BunkerError('USAGE', '--repo-name goes with --target');
    return 'local';
  }
  if (options.repo !== undefined) throw new BunkerError('USAGE', '--target and --repo exclude each other (--repo URL/v1/repos/NAME is --target URL --repo-name NAME)');
  if (!onTarget) return 'source';
  const refused = [
    options.stdin && '--stdin (a tar entry needs its size up front)',
    options.encrypt === false && '--no-encrypt',
    options.passwordFile !== undefined && '--password-file (the password stays on the target)',
    options.kdf !== undefined && '--kdf (the target\'s password has its own parameters)',
    options.job !== undefined && 'a job',
  ].filter((x): x is string => typeof x === 'string');
  if (refused.length > 0) throw new BunkerError('USAGE', `--encrypt-on target does not take ${refused.join(', ')}`);
  if (options.password === undefined) throw new BunkerError('USAGE', '--encrypt-on target needs --password NAME: a password stored on the target (bunker password create NAME there)');
  return 'target';
}

export async function runBackup(options: BackupCliOptions, io: Io): Promise<BackupResult> {
  const mode = targetMode(options);
  if (mode === 'target') throw new Error('internal error: --encrypt-on target is runTargetBackup\'s');
  if (mode === 'source') options = { ...options, repo: `${serverBase(options.target!)}/v1/repos/${options.repoName ?? 'default'}` };
  let level: number | undefined;
  try {
    level = parseCompression(options.compression ?? 'zstd');
  } catch (error) {
    throw new BunkerError('USAGE', (error as Error).message);
  }
  const kdf = parseKdfOption(options.kdf);
  if (options.stdin && options.paths.length > 0) throw new BunkerError('USAGE', '--stdin takes no PATH');
  if (options.password !== undefined && options.encrypt === false) throw new BunkerError('USAGE', '--password and --no-encrypt exclude each other');
  if (options.password !== undefined && kdf !== undefined) throw new BunkerError('USAGE', '--kdf does not apply to a named password (it has its own parameters)');
  // The catalog is used for a named password or a job: the point is recorded there, so
  // `bunker password show` knows which points a password protects.
  const usesCatalog = options.password !== undefined || options.job !== undefined;
  const catalog = usesCatalog ? await openProductCatalog(io, { create: options.job !== undefined }) : undefined;
  try {
    const passwordHash = options.password === undefined ? undefined : await namedBackupPassword(catalog, options.password);
    return await backupWith(options, io, { level, kdf, catalog, passwordHash });
  } finally {
    catalog?.close();
  }
}

async function backupWith(
  options: BackupCliOptions,
  io: Io,
  { level, kdf, catalog, passwordHash }: { level: number | undefined; kdf: BackupOptions['kdf']; catalog: Catalog | undefined; passwordHash: BackupOptions['passwordHash'] },
): Promise<BackupResult> {
  // The walk starts while the password may still be being typed (core/backup.ts): its warnings
  // wait until files are being read, so none lands in the middle of the prompt.
  const held: string[] = [];
  let holding = true;
  const release = () => {
    holding = false;
    for (const message of held.splice(0)) io.err(`warning: ${displayPath(message)}\n`);
  };
  // Every warning is also in the --json answer: a script sees what the point lacks.
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    if (holding) held.push(message);
    else io.err(`warning: ${displayPath(message)}\n`);
  };
  const source = options.stdin
    ? stdinSource(io, options.stdinName ?? 'stdin')
    : await fsSource(options.paths, { exclude: options.exclude ?? [], onWarning: warn });
  const repo = await openRepository(options, io, { createIfMissing: true });
  const kms = options.encrypt === false ? undefined : await kmsBackupOption(io, catalog);
  const progress = new ProgressLine(io);
  const result = await backup(repo, source, {
    series: options.name ?? 'default',
    encrypt: options.encrypt !== false,
    compressionLevel: level,
    resolver: passwordResolver(io, options.passwordFile, catalog),
    ...(kdf ? { kdf } : {}),
    ...(passwordHash ? { passwordHash } : {}),
    ...(kms ? { kms } : {}),
    fsi: options.fsi !== false,
    onProgress: (p) => {
      if (holding) release();
      progress.update({ files: p.files, bytes: p.bytesRead + p.bytesSkipped, label: p.currentPath });
    },
    onWarning: warn,
    ...(options.profile ? { profile: new Profile() } : {}),
    ...(io.interruption ? { signal: io.interruption() } : {}),
  }).finally(release);
  progress.done();
  if (catalog !== undefined) {
    const record = await repo.readPoint(result.pointId);
    catalog.recordPoint({
      repository: repositoryPath(options, io.env), pointId: result.pointId, series: result.series, createdAt: record.body.createdAt,
      salt: record.salt ?? null, job: options.job ?? null,
    }, repo.config.id);
  }
  if (options.json) {
    io.out(JSON.stringify({ ...result, warnings }) + '\n');
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
      // Metadata outweighs tiny inputs: a ratio below 1 would read as nonsense ("0.02x smaller").
      (s.bytesRead > 0 && stored > 0 && s.bytesRead >= stored ? `; ${(s.bytesRead / stored).toFixed(2)}x smaller after dedup and compression)` : ')') + '\n' +
      (warnings.length > 0 ? `  warnings  ${warnings.length} (above): what they name is not in this point, or not as it was\n` : ''),
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
      .option('kdf', { type: 'string', describe: 'Argon2id parameters for a new backup, m=KiB,t=N,p=N (advanced)' })
      .option('password', { type: 'string', describe: 'encrypt with this named password (bunker password create), no prompt' })
      .option('target', { type: 'string', describe: 'back up to a bunker serve: http(s)://HOST:PORT' })
      .option('encrypt-on', { choices: ['source', 'target'] as const, default: 'source' as const, describe: 'with --target: encrypt here (source) or on the target, which holds the --password NAME (target)' })
      .option('repo-name', { type: 'string', describe: 'with --target: the repository\'s name there (default "default")' }),
  run: async (argv, io) => {
    const options = argv as unknown as BackupCliOptions;
    if (targetMode(options) === 'target') {
      await runTargetBackup({
        paths: options.paths, target: options.target!, repoName: options.repoName ?? 'default', series: options.name ?? 'default',
        password: options.password!, exclude: options.exclude ?? [],
        ...(options.compression === undefined ? {} : { compression: options.compression }),
        ...(options.token === undefined ? {} : { token: options.token }),
        ...(options.json ? { json: true } : {}),
      }, io);
      return;
    }
    await runBackup(options, io);
  },
};
