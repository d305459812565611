/**
 * `bunker backup PATH... --target URL --encrypt-on target`: this machine holds no key. It walks
 * PATH (excludes apply) and streams the files as a tar archive to a `bunker serve`, which
 * chunks, compresses and encrypts them under a named password from ITS catalog and commits the
 * point (FORMAT.md §16.3). Nothing here asks for, reads or derives a password or a key: no
 * catalog and no repository is opened on this side.
 */
import { serverBase } from '../core/storage/server-url.ts';
import { hostname } from 'node:os';
import { BunkerError } from '../core/mod.ts';
import { fsSource } from '../core/host/fs-source.ts';
import { isCatalogName } from '../core/catalog/records.ts';
import { tarStream } from '../core/tar-writer.ts';
import { errorFromBody } from '../server/http-errors.ts';
import { formatBytes, formatDuration, formatRate } from './format.ts';
import type { Io } from './io.ts';
import { ProgressLine } from './progress.ts';
import { apiToken } from './remote.ts';
import { streamUpload } from './upload.ts';

export interface TargetBackupOptions {
  readonly paths: readonly string[];
  /** http(s)://HOST:PORT of the bunker serve. */
  readonly target: string;
  /** The repository's name on the target. */
  readonly repoName: string;
  readonly series: string;
  /** A named backup password in the target's catalog. */
  readonly password: string;
  readonly compression?: string;
  readonly exclude?: readonly string[];
  readonly token?: string;
  readonly json?: boolean;
}

/** What the target answers (routes/backups.ts). */
export interface TargetBackupResult {
  readonly jobId: string;
  readonly repository: string;
  readonly pointId: string;
  readonly series: string;
  readonly parentId: string | null;
  readonly keySource: string;
  readonly stats: Record<string, number>;
  readonly warnings: readonly string[];
}

export async function runTargetBackup(options: TargetBackupOptions, io: Io): Promise<TargetBackupResult> {
  const base = serverBase(options.target);
  if (!isCatalogName(options.repoName)) throw new BunkerError('USAGE', '--repo-name is 1-64 letters, digits and . _ @ : + -, starting with a letter or digit');
  // Never echo it: someone may have typed a password where a name belongs.
  if (!isCatalogName(options.password)) throw new BunkerError('USAGE', '--password names a password stored on the target (1-64 letters, digits and . _ @ : + -), not the password itself');
  const token = await apiToken(options, io);
  const warn = (message: string) => io.err(`warning: ${message}\n`);
  const source = await fsSource(options.paths, { exclude: options.exclude ?? [], onWarning: warn });

  const url = new URL(`${base}/v1/repos/${encodeURIComponent(options.repoName)}/backups`);
  url.searchParams.set('series', options.series);
  url.searchParams.set('password', options.password);
  if (options.compression !== undefined) url.searchParams.set('compression', options.compression);
  url.searchParams.set('host', hostname());

  const progress = new ProgressLine(io);
  let files = 0;
  let sent = 0;
  let label = '';
  const counted = tarStream(source, { onWarning: warn, onEntry: (entry) => void ((files += entry.type === 'file' ? 1 : 0), (label = entry.path)) })
    .pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        sent += chunk.length;
        progress.update({ files, bytes: sent, label });
        controller.enqueue(chunk);
      },
    }));
  const startedAt = Date.now();
  const answer = await streamUpload({ url, method: 'POST', token, contentType: 'application/x-tar', body: counted });
  progress.done();
  if (answer.status !== 201) throw errorFromBody(answer.status, answer.json, `the backup upload to ${new URL(base).host}`);
  const result = answer.json as TargetBackupResult;
  if (typeof result?.pointId !== 'string' || typeof result.stats !== 'object') throw new BunkerError('REMOTE_FAILED', `the target ${new URL(base).host} answered outside the protocol`);
  for (const warning of result.warnings ?? []) warn(`target: ${warning}`);
  if (options.json) {
    io.out(JSON.stringify(result) + '\n');
    return result;
  }
  const s = result.stats;
  const elapsed = Date.now() - startedAt;
  io.out(
    `point ${result.pointId.slice(0, 12)} saved on ${new URL(base).host}, repository "${result.repository}" (backup "${result.series}"${result.parentId ? `, parent ${result.parentId.slice(0, 12)}` : ''}; job ${result.jobId})\n` +
      `  encrypted on the target with its password "${options.password}"\n` +
      `  files     ${s.files ?? 0} files, ${s.dirs ?? 0} directories, ${s.symlinks ?? 0} symlinks\n` +
      `  sent      ${formatBytes(sent)} (tar) in ${formatDuration(elapsed)} (${formatRate(sent, elapsed)})\n` +
      `  added     ${formatBytes(s.bytesAdded ?? 0)} to the repository (${s.chunksNew ?? 0} new chunks)\n`,
  );
  return result;
}
