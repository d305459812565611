import { namedBackupPassword } from '../../core/catalog/named-passwords.ts';
import { BunkerError, copyPoint, type CopyResult, parseCompression } from '../../core/mod.ts';
import { openProductCatalog, openRepository, repositoryPath } from '../context.ts';
import { displayPath, formatBytes, formatDuration } from '../format.ts';
import type { Io } from '../io.ts';
import { parseKdfOption } from '../kdf-option.ts';
import { kmsBackupOption } from '../kms.ts';
import { passwordResolver } from '../password.ts';
import { ProgressLine } from '../progress.ts';
import type { CommandSpec } from './spec.ts';

export interface CopyCliOptions {
  readonly point: string;
  readonly from: string;
  readonly to: string;
  /** With "latest": the source backup name. */
  readonly name?: string;
  /** The series in the target (default: the source point's). */
  readonly toName?: string;
  /** A named password (purpose backup) for the copy, from this machine's catalog. */
  readonly password?: string;
  /** The source repository's password, when not in the catalog or KMS. */
  readonly passwordFile?: string;
  /** The target's password for a new series or another password than the source's. */
  readonly toPasswordFile?: string;
  readonly include?: readonly string[];
  readonly encryptOn?: 'source' | 'target';
  readonly compression?: string;
  readonly kdf?: string;
  readonly token?: string;
  readonly json?: boolean;
}

export async function runCopy(options: CopyCliOptions, io: Io): Promise<CopyResult> {
  if (options.encryptOn === 'target') {
    const { runCopyEncryptOnTarget } = await import('../copy-target.ts');
    return runCopyEncryptOnTarget(options, io);
  }
  const catalog = await openProductCatalog(io, { create: false });
  try {
    const from = await openRepository({ repo: options.from, ...(options.token ? { token: options.token } : {}) }, io);
    const point = await from.unlock(await from.resolvePoint(options.point, options.name), passwordResolver(io, options.passwordFile, catalog));
    const to = await openRepository({ repo: options.to, ...(options.token ? { token: options.token } : {}) }, io, { createIfMissing: true });
    const passwordHash = options.password === undefined ? undefined : await namedBackupPassword(catalog, options.password);
    const kms = point.record.body.encryption === null ? undefined : await kmsBackupOption(io, catalog);
    const kdf = parseKdfOption(options.kdf);
    let compressionLevel: number | undefined;
    try {
      compressionLevel = parseCompression(options.compression ?? 'zstd');
    } catch (error) {
      throw new BunkerError('USAGE', (error as Error).message);
    }
    const progress = new ProgressLine(io);
    const result = await copyPoint(from, point, to, {
      compressionLevel,
      ...(kdf ? { kdf } : {}),
      ...(options.toName ? { series: options.toName } : {}),
      ...(options.include && options.include.length > 0 ? { include: options.include } : {}),
      resolver: passwordResolver(io, options.toPasswordFile ?? options.passwordFile, catalog),
      ...(passwordHash ? { passwordHash } : {}),
      ...(kms ? { kms } : {}),
      onProgress: (p) => progress.update({ files: p.files, bytes: p.bytesRead + p.bytesSkipped, label: p.currentPath }),
      onWarning: (message) => io.err(`warning: ${displayPath(message)}\n`),
    });
    progress.done();
    if (catalog !== undefined && passwordHash !== undefined) {
      const record = await to.readPoint(result.pointId);
      catalog.recordPoint({
        repository: repositoryPath({ repo: options.to }, io.env), pointId: result.pointId, series: result.series, createdAt: record.body.createdAt,
        salt: record.salt ?? null, job: null,
      }, to.config.id);
    }
    if (options.json) io.out(JSON.stringify(result) + '\n');
    else {
      const s = result.stats;
      io.out(`copied point ${point.id.slice(0, 12)} to ${result.pointId.slice(0, 12)} (backup "${result.series}")\n` +
        `  ${s.files} files, ${formatBytes(s.bytes)}; ${formatBytes(s.bytesAdded)} stored in the target (after compression, and dedup against what it held), in ${formatDuration(s.durationMs)}\n`);
    }
    return result;
  } finally {
    catalog?.close();
  }
}

export const copyCommand: CommandSpec = {
  command: 'copy <point>',
  describe: 'Copy a recovery point to another repository (local or on a bunker server), re-encrypting and deduplicating',
  builder: (y) => y
    .positional('point', { type: 'string', describe: 'point id, unique id prefix, or latest' })
    .option('from', { type: 'string', demandOption: true, describe: 'source repository: a directory or http(s)://HOST:PORT/v1/repos/NAME' })
    .option('to', { type: 'string', demandOption: true, describe: 'target repository: a directory or http(s)://HOST:PORT/v1/repos/NAME' })
    .option('name', { type: 'string', describe: 'with "latest": the source backup name' })
    .option('to-name', { type: 'string', describe: 'backup name in the target (default: the source point\'s)' })
    .option('password', { type: 'string', describe: 'named password for the copy (default: the target backup\'s own, or asked)' })
    .option('to-password-file', { type: 'string', describe: 'file with the target backup\'s password (default: --password-file)' })
    .option('include', { type: 'string', array: true, default: [], describe: 'copy only this path (repeatable)' })
    .option('compression', { type: 'string', default: 'zstd', describe: 'zstd, zstd:LEVEL (1-19) or none' })
    .option('kdf', { type: 'string', describe: 'Argon2id parameters for a new target backup, m=KiB,t=N,p=N (advanced)' })
    .option('encrypt-on', { type: 'string', choices: ['source', 'target'], default: 'source', describe: 'where the copy is encrypted: here (source) or on the target server, which holds --password' }),
  run: async (argv, io) => void (await runCopy(argv as unknown as CopyCliOptions, io)),
};
