/**
 * Route definitions: every route is declared once with @hono/zod-openapi, so the validators
 * that check a request and the OpenAPI document describe the same thing. `apiRoute` adds the
 * bearer security requirement and the scope check.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { BunkerError } from '../core/mod.ts';
import type { TokenScope } from '../core/catalog/records.ts';
import { requireScope } from './auth.ts';
import type { AppEnv } from './deps.ts';

export type ApiApp = OpenAPIHono<AppEnv>;

export function newApiApp(): ApiApp {
  return new OpenAPIHono<AppEnv>({
    // A request that fails validation is a USAGE error (400), in the one error shape.
    defaultHook: (result) => {
      if (!result.success) throw new BunkerError('USAGE', describeIssues(result.error.issues));
    },
  });
}

function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string; code?: string; keys?: readonly string[] }[]): string {
  return 'invalid request: ' + issues.slice(0, 5).map((issue) => {
    const where = issue.path.length ? issue.path.map(String).join('.') : 'body';
    if (issue.code === 'unrecognized_keys') return `${where}: unknown field${issue.keys && issue.keys.length > 1 ? 's' : ''} ${(issue.keys ?? []).join(', ')}`;
    return `${where}: ${issue.message}`;
  }).join('; ');
}

export const ErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), object: z.string().optional() }),
}).openapi('Error');

/** The error responses every authenticated route can give. */
export const errorResponses = {
  400: { description: 'malformed request (USAGE)', content: { 'application/json': { schema: ErrorSchema } } },
  401: { description: 'no valid token (UNAUTHORIZED)', content: { 'application/json': { schema: ErrorSchema } } },
  403: { description: 'the token\'s scope does not allow this (FORBIDDEN)', content: { 'application/json': { schema: ErrorSchema } } },
  404: { description: 'not found (NOT_FOUND)', content: { 'application/json': { schema: ErrorSchema } } },
} as const;

/** Names of repositories, passwords, jobs and tokens (catalog names). */
export const NameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,63}$/, 'a name is 1-64 letters, digits and . _ @ : + -');
export const PointIdSchema = z.string().regex(/^[0-9a-f]{64}$|^latest$/, 'a point id is 64 hex digits, or "latest"');
export const JobIdSchema = z.string().regex(/^[0-9a-f]{32}$/, 'a job id is 32 hex digits');

type RouteConfig = Parameters<typeof createRoute>[0];

/** A JSON request body of `schema` (give it `.strict()`, so an unknown field is 400). */
export function jsonBody<T extends z.ZodType>(schema: T, required = true) {
  return { required, content: { 'application/json': { schema } } };
}

/**
 * An authenticated route needing `scope`. The scope is in the document too
 * (`x-bunker-scope`), so a client sees which token each route takes.
 */
export function apiRoute<R extends RouteConfig>(scope: TokenScope, config: R) {
  const middleware = [requireScope(scope), ...asArray(config.middleware)] as MiddlewareHandler[];
  return createRoute({
    ...config,
    security: [{ bearer: [] }],
    middleware,
    responses: { ...errorResponses, ...config.responses },
    'x-bunker-scope': scope,
  } as R & { security: { bearer: never[] }[] });
}

function asArray<T>(value: T | readonly T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? [...value] : [value as T];
}

export { createRoute, z };
