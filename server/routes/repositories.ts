/** The server's repositories: list, create (init), describe. */
import { isBunkerError } from '../../core/mod.ts';
import { apiRoute, jsonBody, NameSchema, z, type ApiApp } from '../openapi.ts';

export const RepositorySchema = z.object({
  name: z.string(),
  id: z.string().nullable().openapi({ description: 'the id in its config; null when the config cannot be read (bunker check tells why)' }),
}).openapi('Repository');
const RepositoryDetailSchema = z.object({
  name: z.string(),
  id: z.string(),
  version: z.number().int(),
  createdAt: z.string(),
  chunker: z.object({ minBytes: z.number().int(), avgBytes: z.number().int(), maxBytes: z.number().int() }),
  chunkIdAlgorithm: z.number().int(),
  packTargetBytes: z.number().int(),
  points: z.number().int().openapi({ description: 'how many recovery points the repository holds' }),
}).openapi('RepositoryDetail');

const params = z.object({ name: NameSchema });

const list = apiRoute('read', {
  method: 'get', path: '/v1/repos', summary: 'The repositories this server holds, by name',
  responses: { 200: { description: 'repositories', content: { 'application/json': { schema: z.object({ repositories: z.array(RepositorySchema) }) } } } },
});
const create = apiRoute('backup', {
  method: 'post', path: '/v1/repos', summary: 'Create a repository (bunker init)',
  request: { body: jsonBody(z.object({ name: NameSchema }).strict()) },
  responses: {
    201: { description: 'created', content: { 'application/json': { schema: RepositorySchema } } },
    409: { description: 'a repository with that name exists (ALREADY_EXISTS)' },
  },
});
const show = apiRoute('read', {
  method: 'get', path: '/v1/repos/{name}', summary: 'A repository\'s configuration and point count', request: { params },
  responses: { 200: { description: 'the repository', content: { 'application/json': { schema: RepositoryDetailSchema } } } },
});

export function registerRepositoryRoutes(app: ApiApp): void {
  app.openapi(list, async (c) => {
    const host = c.var.deps.repositories;
    const repositories = [];
    for (const name of await host.names()) {
      try {
        repositories.push({ name, id: (await host.open(name)).config.id });
      } catch (error) {
        // A directory that is not (yet) a repository is not one; a damaged one is still listed.
        if (isBunkerError(error, 'NOT_FOUND')) continue;
        if (!isBunkerError(error)) throw error;
        repositories.push({ name, id: null });
      }
    }
    return c.json({ repositories }, 200);
  });
  app.openapi(create, async (c) => {
    const { name } = c.req.valid('json');
    const repo = await c.var.deps.repositories.create(name);
    return c.json({ name, id: repo.config.id }, 201);
  });
  app.openapi(show, async (c) => {
    const { name } = c.req.valid('param');
    const repo = await c.var.deps.repositories.open(name);
    const config = repo.config;
    return c.json({
      name, id: config.id, version: config.version, createdAt: config.createdAt, chunker: { minBytes: config.chunker.minBytes, avgBytes: config.chunker.avgBytes, maxBytes: config.chunker.maxBytes },
      chunkIdAlgorithm: config.chunkIdAlgorithm, packTargetBytes: config.packTargetBytes, points: (await repo.pointIds()).length,
    }, 200);
  });
}
