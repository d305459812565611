/** Checking a repository (bunker check), as a job whose result is the check report. */
import { checkRepository } from '../../core/mod.ts';
import { serverKeyResolver } from '../point-access.ts';
import { apiRoute, jsonBody, NameSchema, z, type ApiApp } from '../openapi.ts';
import { JobSchema } from './jobs.ts';

const check = apiRoute('backup', {
  method: 'post', path: '/v1/repos/{name}/check', summary: 'Verify the repository as a job (readData: also read and authenticate every chunk)',
  request: {
    params: z.object({ name: NameSchema }),
    body: jsonBody(z.object({ readData: z.boolean().optional() }).strict(), false),
  },
  responses: {
    202: {
      description: 'the check job; its result is the report {isOk, points, chunksChecked, bytesRead, problems, unreferenced, pointsUnreadable}',
      content: { 'application/json': { schema: z.object({ job: JobSchema }) } },
    },
  },
});

export function registerCheckRoutes(app: ApiApp): void {
  app.openapi(check, async (c) => {
    const { name } = c.req.valid('param');
    const { readData = false } = c.req.valid('json') ?? {};
    const deps = c.var.deps;
    const repo = await deps.repositories.open(name);
    const job = deps.jobs.start('check', 'backup', (ctx) => checkRepository(repo, {
      readData, resolver: serverKeyResolver(deps), signal: ctx.signal, onProgress: (message) => ctx.progress({ message }),
    }));
    return c.json({ job }, 202);
  });
}
