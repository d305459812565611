/**
 * `bunker copy --encrypt-on target`: the point is read and authenticated here, with the source
 * repository's keys, and streamed as a tar archive to a `bunker serve` that encrypts it under a
 * named password of ITS catalog (the same upload as `backup --encrypt-on target`, FORMAT.md
 * §16.3). The target repository never receives plaintext objects; the plaintext crosses the
 * connection to the target, which is the trusted side in this zone (use https beyond loopback).
 */
import { repositoryUrl } from '../core/storage/server-url.ts';
import { BunkerError, type CopyResult, pointSource } from '../core/mod.ts';
import { isCatalogName } from '../core/catalog/records.ts';
import { tarStream } from '../core/tar-writer.ts';
import { errorFromBody } from '../server/http-errors.ts';
import type { CopyCliOptions } from './commands/copy.ts';
import { openProductCatalog, openRepository } from './context.ts';
import { formatBytes } from './format.ts';
import type { Io } from './io.ts';
import { passwordResolver } from './password.ts';
import { ProgressLine } from './progress.ts';
import { apiToken, isRemoteLocation } from './remote.ts';
import type { TargetBackupResult } from './target-backup.ts';
import { streamUpload } from './upload.ts';

export async function runCopyEncryptOnTarget(options: CopyCliOptions, io: Io): Promise<CopyResult> {
  if (!isRemoteLocation(options.to)) throw new BunkerError('USAGE', 'with --encrypt-on target, --to is a repository on a bunker serve: http(s)://HOST:PORT/v1/repos/NAME');
  const { base, name } = repositoryUrl(options.to);
  if (options.password === undefined) throw new BunkerError('USAGE', 'with --encrypt-on target, --password names the password stored on the target that encrypts the copy');
  if (!isCatalogName(options.password)) throw new BunkerError('USAGE', '--password names a password stored on the target (1-64 letters, digits and . _ @ : + -), not the password itself');
  if (options.toPasswordFile !== undefined) throw new BunkerError('USAGE', '--to-password-file does not apply with --encrypt-on target: the target holds the password');
  const token = await apiToken(options, io);
  const catalog = await openProductCatalog(io, { create: false });
  try {
    const from = await openRepository({ repo: options.from, ...(options.token ? { token: options.token } : {}) }, io);
    const point = await from.unlock(await from.resolvePoint(options.point, options.name), passwordResolver(io, options.passwordFile, catalog));
    if (point.record.body.encryption === null) throw new BunkerError('USAGE', 'this point is not encrypted: copy it with --encrypt-on source (the target would encrypt what was stored in clear)');
    const source = await pointSource(from, point, options.include && options.include.length > 0 ? { include: options.include } : {});
    const url = new URL(`${base}/v1/repos/${encodeURIComponent(name)}/backups`);
    url.searchParams.set('series', options.toName ?? point.record.body.series);
    url.searchParams.set('password', options.password);
    if (options.compression !== undefined) url.searchParams.set('compression', options.compression);
    url.searchParams.set('host', source.host);
    const progress = new ProgressLine(io);
    let files = 0;
    let sent = 0;
    const body = tarStream(source, { strict: true, onEntry: (e) => void (files += e.type === 'file' ? 1 : 0) })
      .pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          sent += chunk.length;
          progress.update({ files, bytes: sent });
          controller.enqueue(chunk);
        },
      }));
    const answer = await streamUpload({ url, method: 'POST', token, contentType: 'application/x-tar', body });
    progress.done();
    if (answer.status !== 201) throw errorFromBody(answer.status, answer.json, `the copy to ${new URL(base).host}`);
    const target = answer.json as TargetBackupResult;
    if (typeof target?.pointId !== 'string' || typeof target.stats !== 'object') throw new BunkerError('REMOTE_FAILED', `the target ${new URL(base).host} answered outside the protocol`);
    const result = {
      pointId: target.pointId, series: target.series, parentId: target.parentId, keySource: target.keySource,
      stats: target.stats as unknown as CopyResult['stats'], sourcePointId: point.id,
    } satisfies CopyResult;
    if (options.json) io.out(JSON.stringify({ ...result, jobId: target.jobId, repository: target.repository }) + '\n');
    else {
      io.out(`copied point ${point.id.slice(0, 12)} to ${target.pointId.slice(0, 12)} on ${new URL(base).host}, repository "${name}" (backup "${target.series}"), encrypted there with its password "${options.password}"\n` +
        `  sent ${formatBytes(sent)}; ${formatBytes(Number(target.stats.bytesAdded ?? 0))} new in the target\n`);
    }
    return result;
  } finally {
    catalog?.close();
  }
}
