/**
 * Bearer tokens and scopes. A token is checked against the catalog (hashes compared in
 * constant time there); its scope must cover the route's: read < backup < admin.
 */
import type { MiddlewareHandler } from 'hono';
import { BunkerError } from '../core/mod.ts';
import type { TokenScope } from '../core/catalog/records.ts';
import type { AppEnv } from './deps.ts';

const RANK: Readonly<Record<TokenScope, number>> = { read: 0, backup: 1, admin: 2 };

export function scopeCovers(held: TokenScope, needed: TokenScope): boolean {
  return RANK[held] >= RANK[needed];
}

/** Sets `c.var.token`; UNAUTHORIZED without a valid token. */
export function authenticate(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer ([A-Za-z0-9_-]{1,200})$/.exec(header);
    if (match === null) throw new BunkerError('UNAUTHORIZED', 'this route needs an API token: Authorization: Bearer <token> (bunker token create)');
    const token = await c.var.deps.catalog.verifyToken(match[1]!);
    if (token === undefined) throw new BunkerError('UNAUTHORIZED', 'the API token is not valid (revoked, or never issued here)');
    c.set('token', token);
    await next();
  };
}

/** FORBIDDEN unless the request's token has at least `needed`. */
export function requireScope(needed: TokenScope): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = c.var.token;
    if (token === undefined) throw new BunkerError('UNAUTHORIZED', 'this route needs an API token');
    if (!scopeCovers(token.scope, needed)) {
      throw new BunkerError('FORBIDDEN', `this needs a token with scope "${needed}"; token "${token.name}" has "${token.scope}"`);
    }
    await next();
  };
}
