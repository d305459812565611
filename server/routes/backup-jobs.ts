/**
 * Saved backup jobs (bunker job): a backup's sources, repository, backup name and named
 * password stored in the catalog, run by name. Sources are paths on the server, so defining a
 * job (which decides what the server reads) needs admin; running one needs backup. A run is a
 * job of the job manager: progress as events, cancellable, committing nothing when cancelled.
 */
import type { Context } from 'hono';
import { backup, BunkerError, isBunkerError, type Repository } from '../../core/mod.ts';
import { compressionLevel, defineJob, recordBackupPoint, runnableJob } from '../../core/backup-job.ts';
import type { CatalogJob } from '../../core/catalog/records.ts';
import { namedBackupPassword } from '../../core/catalog/named-passwords.ts';
import { kmsBackupOptionFor, readKmsSettings } from '../../core/kms/kms-settings.ts';
import type { AppEnv, RepositoryHost } from '../deps.ts';
import { serverKeyResolver } from '../point-access.ts';
import { apiRoute, jsonBody, NameSchema, z, type ApiApp } from '../openapi.ts';
import { JobSchema } from './jobs.ts';
import { SeriesSchema } from './points.ts';

/** Warnings kept in a run's result. */
const MAX_WARNINGS = 100;

const BackupJobSchema = z.object({
  name: z.string(),
  repo: z.string().nullable().openapi({ description: 'the server repository it backs up to; null when its repository is not one of this server\'s' }),
  repository: z.string().openapi({ description: 'the repository\'s location on the server' }),
  series: z.string(),
  sources: z.array(z.string()).readonly(),
  excludes: z.array(z.string()).readonly(),
  password: z.string().nullable().openapi({ description: 'the named backup password it uses (a name, never a password)' }),
  encrypt: z.boolean(),
  compression: z.string(),
  createdAt: z.string(),
  lastRunAt: z.string().nullable(),
  lastPointId: z.string().nullable(),
}).openapi('BackupJob');

const AbsolutePath = z.string().min(1).max(4096).regex(/^(\/|[A-Za-z]:[\\/])/, 'a source is an absolute path on the server').refine((p) => !p.includes('\0'), 'a path has no NUL byte');
const params = z.object({ name: NameSchema });

const list = apiRoute('read', {
  method: 'get', path: '/v1/backup-jobs', summary: 'Saved backup jobs',
  responses: { 200: { description: 'jobs', content: { 'application/json': { schema: z.object({ jobs: z.array(BackupJobSchema) }) } } } },
});
const create = apiRoute('admin', {
  method: 'post', path: '/v1/backup-jobs', summary: 'Save a backup job: server paths into one of the server\'s repositories',
  request: {
    body: jsonBody(z.object({
      name: NameSchema,
      sources: z.array(AbsolutePath).min(1).max(100),
      repo: NameSchema.openapi({ description: 'a repository on this server (POST /v1/repos creates one)' }),
      password: NameSchema.optional().openapi({ description: 'a named backup password (POST /v1/passwords); required unless encrypt is false' }),
      exclude: z.array(z.string().min(1).max(1024)).max(1000).optional().openapi({ description: 'globs to skip; without "/" they match names anywhere' }),
      encrypt: z.boolean().optional(),
      series: SeriesSchema.optional().openapi({ description: 'the backup name its points get (default: the job\'s name)' }),
      compression: z.string().max(16).optional().openapi({ description: 'zstd (default), zstd:LEVEL (1-19) or none' }),
    }).strict()),
  },
  responses: {
    201: { description: 'saved', content: { 'application/json': { schema: BackupJobSchema } } },
    409: { description: 'a job with that name exists (ALREADY_EXISTS)' },
  },
});
const show = apiRoute('read', {
  method: 'get', path: '/v1/backup-jobs/{name}', summary: 'A saved backup job', request: { params },
  responses: { 200: { description: 'the job', content: { 'application/json': { schema: BackupJobSchema } } } },
});
const run = apiRoute('backup', {
  method: 'post', path: '/v1/backup-jobs/{name}/run', summary: 'Run a saved backup job, as a job whose result is the backup summary', request: { params },
  responses: { 202: { description: 'the running job', content: { 'application/json': { schema: z.object({ job: JobSchema }) } } } },
});
const remove = apiRoute('admin', {
  method: 'delete', path: '/v1/backup-jobs/{name}', summary: 'Forget a saved backup job (its points stay)', request: { params },
  responses: { 200: { description: 'the job removed', content: { 'application/json': { schema: BackupJobSchema } } } },
});

/** The server repository at `location`, if it is one: its name is the location's last part. */
function repositoryNameOf(host: RepositoryHost, location: string): string | null {
  const last = location.split(/[\\/]/).at(-1) ?? '';
  try {
    return host.location(last) === location ? last : null;
  } catch {
    return null;
  }
}

function view(c: Context<AppEnv>, job: CatalogJob) {
  return { ...job, repo: repositoryNameOf(c.var.deps.repositories, job.repository) };
}

async function openOrCreate(host: RepositoryHost, name: string): Promise<Repository> {
  try {
    return await host.open(name);
  } catch (error) {
    if (!isBunkerError(error, 'NOT_FOUND')) throw error;
    return host.create(name).catch((again: unknown) => (isBunkerError(again, 'ALREADY_EXISTS') ? host.open(name) : Promise.reject(again)));
  }
}

export function registerBackupJobRoutes(app: ApiApp): void {
  app.openapi(list, (c) => c.json({ jobs: c.var.deps.catalog.listJobs().map((job) => view(c, job)) }, 200));
  app.openapi(create, async (c) => {
    const body = c.req.valid('json');
    const deps = c.var.deps;
    if (body.encrypt !== false && body.password === undefined) {
      throw new BunkerError('USAGE', 'an encrypted job on the server needs a named backup password (POST /v1/passwords), or "encrypt": false: the server cannot ask for one');
    }
    // The repository must exist: a typing mistake must not make a new one on the first run.
    await deps.repositories.open(body.repo);
    const definition = defineJob({
      name: body.name, repository: deps.repositories.location(body.repo), sources: body.sources, excludes: body.exclude ?? [],
      ...(body.series === undefined ? {} : { series: body.series }), ...(body.password === undefined ? {} : { password: body.password }),
      ...(body.encrypt === undefined ? {} : { encrypt: body.encrypt }), ...(body.compression === undefined ? {} : { compression: body.compression }),
    });
    return c.json(view(c, deps.catalog.createJob(definition)), 201);
  });
  app.openapi(show, (c) => c.json(view(c, c.var.deps.catalog.getJob(c.req.valid('param').name)), 200));
  app.openapi(run, async (c) => {
    const deps = c.var.deps;
    const saved = runnableJob(deps.catalog, c.req.valid('param').name);
    const repoName = repositoryNameOf(deps.repositories, saved.repository);
    if (repoName === null) throw new BunkerError('USAGE', `job "${saved.name}" backs up to a repository that is not one of this server's: run it with bunker job run where it was made`);
    // Everything a run needs from the catalog is checked now, so a bad job is a 4xx, not a failed run.
    const passwordHash = saved.password === null ? undefined : await namedBackupPassword(deps.catalog, saved.password);
    const level = compressionLevel(saved.compression);
    const kms = saved.encrypt ? kmsBackupOptionFor(readKmsSettings(deps.catalog), deps.kms) : undefined;
    const job = deps.jobs.start('backup', 'backup', async (ctx) => {
      const warnings: string[] = [];
      const source = await deps.files.source(saved.sources, saved.excludes);
      const repo = await openOrCreate(deps.repositories, repoName);
      const result = await backup(repo, source, {
        series: saved.series, encrypt: saved.encrypt, compressionLevel: level, resolver: serverKeyResolver(deps),
        ...(passwordHash ? { passwordHash } : {}), ...(kms ? { kms } : {}),
        signal: ctx.signal,
        onProgress: (p) => ctx.progress({ files: p.files, bytesRead: p.bytesRead, bytesSkipped: p.bytesSkipped, bytesAdded: p.bytesAdded, currentPath: p.currentPath }),
        onWarning: (message) => void (warnings.length < MAX_WARNINGS && warnings.push(message)),
      });
      await recordBackupPoint(deps.catalog, repo, result, saved.repository, saved.name);
      return { ...result, job: saved.name, repo: repoName, warnings };
    });
    return c.json({ job }, 202);
  });
  app.openapi(remove, (c) => c.json(view(c, c.var.deps.catalog.removeJob(c.req.valid('param').name)), 200));
}
