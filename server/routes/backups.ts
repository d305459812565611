/**
 * Backup upload, encrypt on target (FORMAT.md §16.3): a machine that holds no key streams its
 * files as a tar archive; this server chunks, compresses and encrypts them under a named
 * password from ITS catalog and commits the point into one of its repositories. The body is
 * read as it arrives (never buffered: the path is in app.ts STREAMED_BODY), as a job, so
 * /v1/jobs/{id}/events shows its progress and POST /v1/jobs/{id}/cancel stops it. A cancelled
 * job, a client that goes away, or a tar that is refused commits nothing. While KMS is enabled
 * on the server, the point also carries H under its KMS key, as any backup there does.
 */
import type { Context } from 'hono';
import { backup, type BackupResult, BunkerError, isBunkerError, parseCompression, type Repository } from '../../core/mod.ts';
import { checkSeriesName } from '../../core/backup.ts';
import { recordBackupPoint } from '../../core/backup-job.ts';
import { namedBackupPassword } from '../../core/catalog/named-passwords.ts';
import { kmsBackupOptionFor, readKmsSettings } from '../../core/kms/kms-settings.ts';
import { tarSource } from '../../core/tar-source.ts';
import type { AppEnv, ServerDeps } from '../deps.ts';
import { serverKeyResolver } from '../point-access.ts';
import { apiRoute, NameSchema, z, type ApiApp } from '../openapi.ts';

/** Warnings kept in a result (a tar of many devices must not make a huge response). */
const MAX_WARNINGS = 100;

const params = z.object({ name: NameSchema.openapi({ description: 'repository name on this server' }) });
const query = z.object({
  series: z.string().min(1).max(128).openapi({ description: 'backup name (points of one name share keys and dedup)', example: 'laptop' }),
  password: NameSchema.openapi({ description: 'a named backup password in this server\'s catalog (bunker password create NAME)' }),
  compression: z.string().optional().openapi({ description: 'zstd (default), zstd:LEVEL (1-19) or none' }),
  create: z.enum(['true', 'false']).optional().openapi({ description: 'create the repository if it does not exist (default true); false: 404 instead' }),
  host: z.string().max(255).optional().openapi({ description: 'the sending machine\'s name, recorded in the manifest' }),
}).strict();

const Result = z.object({
  jobId: z.string(),
  repository: z.string(),
  pointId: z.string(),
  series: z.string(),
  parentId: z.string().nullable(),
  keySource: z.string(),
  stats: z.record(z.string(), z.number()),
  warnings: z.array(z.string()),
}).openapi('BackupUpload');

const tar = {
  'application/x-tar': { schema: z.string().openapi({ format: 'binary', description: 'a tar archive (ustar, PAX or GNU)' }) },
};

function uploadRoute(method: 'post' | 'put') {
  return apiRoute('backup', {
    method, path: '/v1/repos/{name}/backups',
    summary: method === 'post'
      ? 'Back up a tar stream, encrypting here under a named password (encrypt on target); answers when the point is committed'
      : 'Same as POST (for curl -T)',
    request: { params, query, body: { content: tar, required: true } },
    responses: {
      201: { description: 'the point is committed', content: { 'application/json': { schema: Result } } },
      409: { description: 'the job was cancelled (CANCELLED): nothing was committed' },
      422: { description: 'the tar stream is damaged or truncated (TAMPERED): nothing was committed' },
    },
  });
}

/** Content types a tar upload may carry: none at all (curl -T), tar, or raw bytes. */
const TAR_TYPES = new Set(['', 'application/x-tar', 'application/tar', 'application/octet-stream']);

export async function openOrCreate(deps: ServerDeps, name: string, create: boolean): Promise<Repository> {
  try {
    return await deps.repositories.open(name);
  } catch (error) {
    if (!create || !isBunkerError(error, 'NOT_FOUND')) throw error;
  }
  try {
    return await deps.repositories.create(name);
  } catch (error) {
    // Another upload created it first.
    if (isBunkerError(error, 'ALREADY_EXISTS')) return deps.repositories.open(name);
    throw error;
  }
}

async function upload(c: Context<AppEnv>, name: string, q: z.infer<typeof query>) {
  const deps = c.var.deps;
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (!TAR_TYPES.has(type)) throw new BunkerError('USAGE', `the body must be a tar stream (Content-Type: application/x-tar), not ${type.slice(0, 100)}`);
  const body = c.req.raw.body;
  if (body === null) throw new BunkerError('USAGE', 'the request has no body: send a tar stream');
  checkSeriesName(q.series);
  let level: number | undefined;
  try {
    level = parseCompression(q.compression ?? 'zstd');
  } catch (error) {
    throw new BunkerError('USAGE', (error as Error).message);
  }
  // Everything that can be refused is refused before a byte of the body is read.
  const passwordHash = await namedBackupPassword(deps.catalog, q.password);
  const kms = kmsBackupOptionFor(readKmsSettings(deps.catalog), deps.kms);
  const repo = await openOrCreate(deps, name, q.create !== 'false');

  const warnings: string[] = [];
  const warn = (message: string) => {
    if (warnings.length < MAX_WARNINGS) warnings.push(message);
  };
  let failure: unknown;
  const job = deps.jobs.start('backup', 'backup', async (context) => {
    try {
      const result: BackupResult = await backup(repo, tarSource(body, { host: q.host ?? '', signal: context.signal, onWarning: warn }), {
        series: q.series,
        encrypt: true,
        compressionLevel: level,
        passwordHash,
        ...(kms ? { kms } : {}),
        // The parent point opens with this server's keys (catalog, then KMS); never a prompt.
        resolver: serverKeyResolver(deps),
        signal: context.signal,
        onWarning: warn,
        onProgress: (p) => context.progress({ repository: name, series: q.series, ...p }),
      });
      await recordBackupPoint(deps.catalog, repo, result, deps.repositories.location(name), null);
      return { repository: name, pointId: result.pointId, series: result.series, parentId: result.parentId, keySource: result.keySource, stats: result.stats, warnings };
    } catch (error) {
      failure = error;
      throw error;
    }
  });
  // A client that goes away mid-upload breaks the tar stream before its end marker: the
  // source fails (TAMPERED), so the job fails and commits nothing.
  const done = await deps.jobs.settled(job.id);
  if (done.status === 'cancelled') throw new BunkerError('CANCELLED', 'the backup was cancelled; nothing was committed');
  if (done.status !== 'succeeded') throw failure ?? new Error('internal error: the backup job failed without an error');
  return c.json({ jobId: job.id, ...(done.result as Omit<z.infer<typeof Result>, 'jobId'>) }, 201);
}

export function registerBackupRoutes(app: ApiApp): void {
  for (const method of ['post', 'put'] as const) {
    app.openapi(uploadRoute(method), (c) => upload(c as unknown as Context<AppEnv>, c.req.valid('param').name, c.req.valid('query')));
  }
}
