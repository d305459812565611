/**
 * Recovery points: list and show (public metadata, no key needed), browse a point's file-system
 * index, and search the index of every point. Keys come from the server (point-access.ts).
 */
import { findFiles, listDirectory, pointListing } from '../../core/mod.ts';
import { summarizePoint } from '../../core/browse.ts';
import { serverKeyResolver, unlockPoint } from '../point-access.ts';
import { apiRoute, NameSchema, PointIdSchema, z, type ApiApp } from '../openapi.ts';

/** A backup name (series), as a query parameter. */
export const SeriesSchema = z.string().min(1).max(256).openapi({ description: 'a backup name (series)' });
/** A path inside a point: '/'-separated, relative ('' or absent: the top). */
export const EntryPathSchema = z.string().max(4096).refine((p) => !p.includes('\0'), 'a path has no NUL byte');

export const PointSchema = z.object({
  id: z.string(),
  name: z.string().openapi({ description: 'the backup name (series)' }),
  createdAt: z.string(),
  parent: z.string().nullable(),
  encrypted: z.boolean(),
  files: z.number().int(),
  bytes: z.number().int(),
  bytesAdded: z.number().int(),
}).openapi('Point');

const EntrySchema = z.object({
  path: z.string(),
  type: z.enum(['file', 'dir', 'symlink']),
  size: z.number().int(),
  mtimeMs: z.number(),
}).openapi('Entry');

const PointDetailSchema = PointSchema.extend({
  stats: z.record(z.string(), z.number()),
  kdf: z.object({ algorithm: z.string(), memoryKiB: z.number().int(), iterations: z.number().int(), parallelism: z.number().int() }).nullable(),
  kms: z.boolean().openapi({ description: 'the point carries its password hash encrypted under AWS KMS' }),
}).openapi('PointDetail');

const repoParams = z.object({ name: NameSchema });
const pointParams = z.object({ name: NameSchema, id: PointIdSchema });
const seriesQuery = z.object({ series: SeriesSchema.optional() });

const list = apiRoute('read', {
  method: 'get', path: '/v1/repos/{name}/points', summary: 'Recovery points, oldest first (of one backup name with ?series=)',
  request: { params: repoParams, query: seriesQuery },
  responses: { 200: { description: 'points', content: { 'application/json': { schema: z.object({ points: z.array(PointSchema) }) } } } },
});
const show = apiRoute('read', {
  method: 'get', path: '/v1/repos/{name}/points/{id}', summary: 'One point\'s metadata ("latest": the newest, of ?series= when the repository holds several)',
  request: { params: pointParams, query: seriesQuery },
  responses: {
    200: { description: 'the point', content: { 'application/json': { schema: PointDetailSchema } } },
    409: { description: '"latest" without ?series= in a repository of several backup names (AMBIGUOUS)' },
  },
});
const tree = apiRoute('read', {
  method: 'get', path: '/v1/repos/{name}/points/{id}/tree', summary: 'The entries directly under a directory of the point (its file-system index)',
  request: { params: pointParams, query: seriesQuery.extend({ path: EntryPathSchema.optional().openapi({ description: 'a directory inside the point; absent: the top' }) }) },
  responses: {
    200: { description: 'the entries', content: { 'application/json': { schema: z.object({ path: z.string(), entries: z.array(EntrySchema) }) } } },
    422: { description: 'the server holds no key for the point (PASSWORD_REQUIRED)' },
  },
});
const search = apiRoute('read', {
  method: 'get', path: '/v1/repos/{name}/search', summary: 'Glob search over the file-system index of every point (bunker find)',
  request: {
    params: repoParams,
    query: seriesQuery.extend({ pattern: z.string().min(1).max(1024).openapi({ description: 'a glob; without "/" it matches names ("*.conf"), with "/" whole paths ("etc/**")' }) }),
  },
  responses: {
    200: {
      description: 'matches, oldest point first',
      content: { 'application/json': { schema: z.object({ matches: z.array(z.object({ pointId: z.string(), series: z.string(), createdAt: z.string(), entry: EntrySchema })) }) } },
    },
    422: { description: 'the server holds no key for one of the points (PASSWORD_REQUIRED)' },
  },
});

export function registerPointRoutes(app: ApiApp): void {
  app.openapi(list, async (c) => {
    const { name } = c.req.valid('param');
    const { series } = c.req.valid('query');
    const repo = await c.var.deps.repositories.open(name);
    return c.json({ points: (await repo.listPoints(series)).map(summarizePoint) }, 200);
  });
  app.openapi(show, async (c) => {
    const { name, id } = c.req.valid('param');
    const { series } = c.req.valid('query');
    const repo = await c.var.deps.repositories.open(name);
    const record = await repo.resolvePoint(id, series);
    const encryption = record.body.encryption;
    return c.json({
      ...summarizePoint(record), stats: { ...record.body.stats },
      kdf: encryption === null ? null : { ...encryption.kdf }, kms: encryption !== null && encryption.kms !== undefined,
    }, 200);
  });
  app.openapi(tree, async (c) => {
    const { name, id } = c.req.valid('param');
    const { series, path = '' } = c.req.valid('query');
    const { repo, point } = await unlockPoint(c, name, id, series);
    return c.json({ path, entries: listDirectory(await pointListing(repo, point), path) }, 200);
  });
  app.openapi(search, async (c) => {
    const { name } = c.req.valid('param');
    const { series, pattern } = c.req.valid('query');
    const repo = await c.var.deps.repositories.open(name);
    const matches = await findFiles(repo, pattern, { ...(series === undefined ? {} : { series }), resolver: serverKeyResolver(c.var.deps) });
    return c.json({ matches }, 200);
  });
}
