/** Long-running work: status, progress as Server-Sent Events, cancellation. */
import { streamSSE } from 'hono/streaming';
import { BunkerError } from '../../core/mod.ts';
import { scopeCovers } from '../auth.ts';
import { apiRoute, JobIdSchema, z, type ApiApp } from '../openapi.ts';
import type { AppEnv } from '../deps.ts';
import type { Context } from 'hono';

export const JobSchema = z.object({
  id: z.string(),
  kind: z.string(),
  status: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  progress: z.record(z.string(), z.unknown()).nullable(),
  result: z.unknown(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
}).openapi('Job');

const params = z.object({ id: JobIdSchema });

const list = apiRoute('read', {
  method: 'get', path: '/v1/jobs', summary: 'Jobs this server runs or ran (since it started)',
  responses: { 200: { description: 'jobs', content: { 'application/json': { schema: z.object({ jobs: z.array(JobSchema) }) } } } },
});
const show = apiRoute('read', {
  method: 'get', path: '/v1/jobs/{id}', summary: 'A job\'s status, progress and result', request: { params },
  responses: { 200: { description: 'the job', content: { 'application/json': { schema: JobSchema } } } },
});
const events = apiRoute('read', {
  method: 'get', path: '/v1/jobs/{id}/events', summary: 'Progress and status changes as Server-Sent Events, until the job ends', request: { params },
  responses: { 200: { description: 'an event stream: events "progress" and "status", data = the job', content: { 'text/event-stream': { schema: z.string() } } } },
});
const cancel = apiRoute('backup', {
  method: 'post', path: '/v1/jobs/{id}/cancel', summary: 'Cancel a running job: it stops and commits nothing', request: { params },
  responses: { 202: { description: 'cancellation requested', content: { 'application/json': { schema: JobSchema } } } },
});

/** A job is visible to tokens that could have started it. */
function checkJobScope(c: Context<AppEnv>, id: string): void {
  const needed = c.var.deps.jobs.scopeOf(id);
  if (!scopeCovers(c.var.token!.scope, needed)) throw new BunkerError('FORBIDDEN', `this job needs a token with scope "${needed}"`);
}

export function registerJobRoutes(app: ApiApp): void {
  app.openapi(list, (c) => {
    const jobs = c.var.deps.jobs.list().filter((j) => scopeCovers(c.var.token!.scope, c.var.deps.jobs.scopeOf(j.id)));
    return c.json({ jobs }, 200);
  });
  app.openapi(show, (c) => {
    const { id } = c.req.valid('param');
    checkJobScope(c, id);
    return c.json(c.var.deps.jobs.get(id), 200);
  });
  app.openapi(events, (c) => {
    const { id } = c.req.valid('param');
    checkJobScope(c, id);
    const jobs = c.var.deps.jobs;
    return streamSSE(c, async (stream) => {
      const queue: { type: string; job: unknown }[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = jobs.subscribe(id, (event) => {
        queue.push(event);
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      // The current state first, so a late subscriber knows where the job is.
      const first = jobs.get(id);
      await stream.writeSSE({ event: 'status', data: JSON.stringify(first) });
      let finished = first.status !== 'running';
      while (!finished && !stream.aborted) {
        if (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        for (const event of queue.splice(0)) {
          await stream.writeSSE({ event: event.type, data: JSON.stringify(event.job) });
          if (event.type === 'status') finished = true;
        }
      }
      unsubscribe();
    }) as never;
  });
  app.openapi(cancel, (c) => {
    const { id } = c.req.valid('param');
    checkJobScope(c, id);
    return c.json(c.var.deps.jobs.cancel(id), 202);
  });
}
