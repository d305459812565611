import { createRoute, z, type ApiApp } from '../openapi.ts';

const health = createRoute({
  method: 'get',
  path: '/v1/health',
  summary: 'Liveness: needs no token, says nothing about the data',
  responses: { 200: { description: 'the server is up', content: { 'application/json': { schema: z.object({ ok: z.literal(true), api: z.literal('v1') }) } } } },
});

export function registerHealthRoutes(app: ApiApp): void {
  app.openapi(health, (c) => c.json({ ok: true as const, api: 'v1' as const }, 200));
}
