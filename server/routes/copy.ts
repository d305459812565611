/**
 * Backup copy on the server: a point of one of its repositories becomes a point of another
 * (core copyPoint), as a job. Both keys come from the server itself: the source point's from
 * its catalog or KMS, the copy's from a named password (or, continuing a series, the target
 * series' own). Useful where only the server holds a point's key (encrypted on the target).
 */
import { BunkerError, copyPoint, parseCompression } from '../../core/mod.ts';
import { recordBackupPoint } from '../../core/backup-job.ts';
import { namedBackupPassword } from '../../core/catalog/named-passwords.ts';
import { kmsBackupOptionFor, readKmsSettings } from '../../core/kms/kms-settings.ts';
import { checkSeriesName } from '../../core/backup.ts';
import { serverKeyResolver, unlockPoint } from '../point-access.ts';
import { apiRoute, jsonBody, NameSchema, PointIdSchema, z, type ApiApp } from '../openapi.ts';
import { JobSchema } from './jobs.ts';
import { openOrCreate } from './backups.ts';
import { EntryPathSchema, SeriesSchema } from './points.ts';

const copy = apiRoute('backup', {
  method: 'post', path: '/v1/repos/{name}/points/{id}/copy', summary: 'Copy the point into another repository of this server (re-encrypted, deduplicated), as a job',
  request: {
    params: z.object({ name: NameSchema, id: PointIdSchema }),
    query: z.object({ series: SeriesSchema.optional() }),
    body: jsonBody(z.object({
      to: NameSchema.openapi({ description: 'the target repository on this server (created on first use)' }),
      series: SeriesSchema.optional().openapi({ description: 'backup name in the target (default: the point\'s)' }),
      password: NameSchema.optional().openapi({ description: 'a named backup password of this server for the copy (default: the target series\' own)' }),
      include: z.array(EntryPathSchema).max(1000).optional().openapi({ description: 'copy only these paths (and what is below them)' }),
      compression: z.string().max(16).optional().openapi({ description: 'zstd, zstd:LEVEL or none (default zstd)' }),
    }).strict()),
  },
  responses: {
    202: { description: 'the copy job; its result is the new point', content: { 'application/json': { schema: z.object({ job: JobSchema }) } } },
    422: { description: 'the server holds no key for the point or for a new encrypted target backup (PASSWORD_REQUIRED)' },
  },
});

export function registerCopyRoutes(app: ApiApp): void {
  app.openapi(copy, async (c) => {
    const { name, id } = c.req.valid('param');
    const { series } = c.req.valid('query');
    const body = c.req.valid('json');
    const deps = c.var.deps;
    if (body.series !== undefined) checkSeriesName(body.series);
    let level: number | undefined;
    try {
      level = parseCompression(body.compression ?? 'zstd');
    } catch (error) {
      throw new BunkerError('USAGE', (error as Error).message);
    }
    // Refused before the job starts: a missing point, key or password.
    const { repo: from, point } = await unlockPoint(c, name, id, series);
    const passwordHash = body.password === undefined ? undefined : await namedBackupPassword(deps.catalog, body.password);
    const kms = point.record.body.encryption === null ? undefined : kmsBackupOptionFor(readKmsSettings(deps.catalog), deps.kms);
    if (body.to === name) throw new BunkerError('USAGE', 'the target repository is the source: copy to another repository');
    const to = await openOrCreate(deps, body.to, true);
    const targetSeries = body.series ?? point.record.body.series;
    if (point.record.body.encryption !== null && passwordHash === undefined && (await to.listPoints(targetSeries)).length === 0) {
      throw new BunkerError('PASSWORD_REQUIRED', `backup "${targetSeries}" is new in repository "${body.to}": name the server's password for it ("password")`);
    }
    const job = deps.jobs.start('copy', 'backup', async (ctx) => {
      const result = await copyPoint(from, point, to, {
        compressionLevel: level,
        ...(body.series ? { series: body.series } : {}),
        ...(body.include && body.include.length > 0 ? { include: body.include } : {}),
        ...(passwordHash ? { passwordHash } : {}),
        ...(kms ? { kms } : {}),
        resolver: serverKeyResolver(deps),
        signal: ctx.signal,
        onProgress: (p) => ctx.progress({ repository: body.to, ...p }),
      });
      await recordBackupPoint(deps.catalog, to, result, deps.repositories.location(body.to), null);
      return { repository: body.to, pointId: result.pointId, series: result.series, parentId: result.parentId, sourcePointId: result.sourcePointId, keySource: result.keySource, stats: result.stats };
    });
    return c.json({ job }, 202);
  });
}
