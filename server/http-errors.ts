/**
 * One place mapping bunker's error codes to HTTP statuses (the CLI's counterpart is
 * cli/exit-codes.ts). Every error body is `{error: {code, message}}`; messages never carry a
 * secret (BunkerError's contract), and an error without a code is "internal error", its
 * details kept out of the response.
 */
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { BunkerError, type ErrorCode, isBunkerError } from '../core/mod.ts';

export const HTTP_STATUS: Readonly<Record<ErrorCode, ContentfulStatusCode>> = Object.freeze({
  USAGE: 400,
  KDF_PARAMS_OUT_OF_RANGE: 400,
  UNSAFE_PATH: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  AMBIGUOUS: 409,
  IN_USE: 409,
  CANCELLED: 409,
  TOO_LARGE: 413,
  WRONG_PASSWORD: 422,
  PASSWORD_REQUIRED: 422,
  TAMPERED: 422,
  CORRUPTED_POINT: 422,
  UNSUPPORTED_VERSION: 422,
  KMS_KEY_UNUSABLE: 422,
  CATALOG_FAILED: 500,
  REMOTE_FAILED: 502,
  STORAGE_FAILED: 503,
  TARGET_FAILED: 503,
  KMS_UNAVAILABLE: 503,
});

export interface ErrorBody {
  readonly error: { readonly code: ErrorCode | 'INTERNAL'; readonly message: string; readonly object?: string };
}

/** Hono's own exceptions (malformed JSON, body limit) as bunker errors with the same shape. */
export function toBunkerError(error: unknown): BunkerError | undefined {
  if (isBunkerError(error)) return error;
  if (error instanceof HTTPException) {
    const message = error.message || 'bad request';
    if (error.status === 413) return new BunkerError('TOO_LARGE', 'the request body is too large');
    if (error.status === 404) return new BunkerError('NOT_FOUND', message);
    if (error.status === 401) return new BunkerError('UNAUTHORIZED', message);
    if (error.status === 403) return new BunkerError('FORBIDDEN', message);
    if (error.status < 500) return new BunkerError('USAGE', /malformed/i.test(message) ? 'the request body is not valid JSON' : message);
  }
  return undefined;
}

/**
 * The error as a client may see it. Storage and catalog failures name the server's own
 * directories and files: the client gets what failed, the server's log gets where.
 */
export function publicError(error: BunkerError, log: (line: string) => void = () => undefined): BunkerError {
  if (error.code === 'STORAGE_FAILED') {
    log(`storage failure: ${error.message}`);
    const what = error.object === undefined ? 'the repository' : error.object;
    return new BunkerError('STORAGE_FAILED', `the server could not read or write ${what} (its log says why)`, error.object === undefined ? {} : { object: error.object });
  }
  if (error.code === 'CATALOG_FAILED') {
    log(`catalog failure: ${error.message}`);
    return new BunkerError('CATALOG_FAILED', 'the server\'s product database failed (its log says why)');
  }
  return error;
}

export function errorResponse(error: unknown, log?: (line: string) => void): { status: ContentfulStatusCode; body: ErrorBody } {
  const known = toBunkerError(error);
  if (known === undefined) return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } };
  return { status: HTTP_STATUS[known.code], body: { error: publicError(known, log).toJSON() } };
}

/** The BunkerError a client raises for an error body (a server's code comes back as itself). */
export function errorFromBody(status: number, body: unknown, what: string): BunkerError {
  const error = (body as ErrorBody | undefined)?.error;
  if (error && typeof error.code === 'string' && typeof error.message === 'string' && error.code !== 'INTERNAL' && (HTTP_STATUS as Record<string, unknown>)[error.code] !== undefined) {
    return new BunkerError(error.code as ErrorCode, error.message, error.object === undefined ? {} : { object: error.object });
  }
  return new BunkerError('REMOTE_FAILED', `${what}: the server answered HTTP ${status}${error?.message ? ` (${error.message})` : ''}`);
}
