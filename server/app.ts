/**
 * The HTTP API: one Hono app, portable (Web-standard Request/Response only; the host hands
 * in everything else through `deps`). `bunker serve` runs it on Node (@hono/node-server) or
 * on Deno (Deno.serve): see server/serve.ts.
 */
import { swaggerUI } from '@hono/swagger-ui';
import { bodyLimit } from 'hono/body-limit';
import { BunkerError } from '../core/mod.ts';
import { authenticate } from './auth.ts';
import type { ServerDeps } from './deps.ts';
import { errorResponse } from './http-errors.ts';
import { newApiApp } from './openapi.ts';
import { registerBackupRoutes } from './routes/backups.ts';
import { registerCopyRoutes } from './routes/copy.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerJobRoutes } from './routes/jobs.ts';
import { registerStorageRoutes } from './routes/storage.ts';
import { registerRepositoryRoutes } from './routes/repositories.ts';
import { registerPointRoutes } from './routes/points.ts';
import { registerRestoreRoutes } from './routes/restore.ts';
import { registerCheckRoutes } from './routes/check.ts';
import { registerPasswordRoutes } from './routes/passwords.ts';
import { registerKmsRoutes } from './routes/kms.ts';
import { registerBundleRoutes } from './routes/bundle.ts';
import { registerBackupJobRoutes } from './routes/backup-jobs.ts';

export const API_VERSION = 'v1';

/** Routes whose request body is a stream (uploads): never buffered, so not size-bounded. */
const STREAMED_BODY = [
  /^\/v1\/repos\/[^/]+\/objects\//,
  /^\/v1\/repos\/[^/]+\/backups$/,
  /^\/v1\/bundle\/import$/,
];

export function createApp(deps: ServerDeps) {
  const app = newApiApp();
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'bunker token create NAME --scope read|backup|admin' });

  app.onError((error, c) => {
    const { status, body } = errorResponse(error, deps.log);
    if (status >= 500 && body.error.code === 'INTERNAL') deps.log(`${c.req.method} ${new URL(c.req.url).pathname}: internal error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    return c.json(body, status);
  });
  app.notFound(() => {
    throw new BunkerError('NOT_FOUND', 'no such route (the API is under /v1; see /v1/openapi.json)');
  });

  app.use('*', async (c, next) => {
    c.set('deps', deps);
    const started = Date.now();
    await next();
    // Paths and statuses only: query strings and headers may hold names a user typed.
    deps.log(`${c.req.method} ${new URL(c.req.url).pathname} ${c.res.status} ${Date.now() - started}ms`);
  });
  app.use('/v1/*', async (c, next) => {
    const path = new URL(c.req.url).pathname;
    if (STREAMED_BODY.some((pattern) => pattern.test(path))) return next();
    return bodyLimit({
      maxSize: deps.maxBodyBytes,
      onError: () => {
        throw new BunkerError('TOO_LARGE', `the request body is larger than ${deps.maxBodyBytes} bytes`);
      },
    })(c, next);
  });
  // Everything under /v1 but the health check and the API's own description needs a token.
  app.use('/v1/*', async (c, next) => {
    const path = new URL(c.req.url).pathname;
    if (path === '/v1/health' || path === '/v1/openapi.json') return next();
    return authenticate()(c, next);
  });

  registerHealthRoutes(app);
  registerJobRoutes(app);
  registerBackupRoutes(app);
  registerStorageRoutes(app);
  registerRepositoryRoutes(app);
  registerPointRoutes(app);
  registerRestoreRoutes(app);
  registerCopyRoutes(app);
  registerCheckRoutes(app);
  registerPasswordRoutes(app);
  registerKmsRoutes(app);
  registerBundleRoutes(app);
  registerBackupJobRoutes(app);

  app.doc31('/v1/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'bunker', version: API_VERSION, description: 'Encrypted, deduplicating backups over HTTP. Every route but /v1/health needs a bearer token.' },
  });
  app.get('/docs', swaggerUI({ url: '/v1/openapi.json' }));
  return app;
}

export type BunkerApp = ReturnType<typeof createApp>;
