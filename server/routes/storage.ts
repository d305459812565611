/**
 * The storage API (FORMAT.md §16.1): a repository's raw object store over HTTP, so a bunker on
 * another machine can back up into a repository held here while encrypting on its own side.
 * The server stores and returns opaque bytes; it never holds a key, a password or plaintext.
 *
 * A key has '/' in it (`packs/ab/<id>`); it travels as ONE path segment with each '/' written
 * `%2F` (encodeURIComponent), because an OpenAPI path parameter is one segment.
 */
import type { Context } from 'hono';
import { BunkerError, isBunkerError } from '../../core/mod.ts';
import { isStorageKey, type Storage } from '../../core/storage/storage.ts';
import type { AppEnv } from '../deps.ts';
import { apiRoute, NameSchema, z, type ApiApp } from '../openapi.ts';
import { readBody } from '../request-body.ts';

export const DEFAULT_MAX_OBJECT_BYTES = 64 * 1024 * 1024;

const objectParams = z.object({
  name: NameSchema,
  key: z.string().openapi({
    description: 'Storage key (FORMAT.md §2): lowercase [a-z0-9._-] segments; each "/" sent as %2F',
    example: 'packs%2Fab%2Fab12',
  }),
});
const repoParams = z.object({ name: NameSchema });
const octets = { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } };

const put = apiRoute('backup', {
  method: 'put', path: '/v1/repos/{name}/objects/{key}',
  summary: 'Store an object if the key is absent (put-if-absent); the repository directory is created on the first',
  request: { params: objectParams, body: { content: octets, required: true } },
  responses: {
    201: { description: 'written', content: { 'application/json': { schema: z.object({ created: z.literal(true) }) } } },
    200: {
      description: 'the key exists: nothing written; sha256 is the stored object\'s digest, so a client retrying a write can tell its own earlier write from another object',
      content: { 'application/json': { schema: z.object({ created: z.literal(false), sha256: z.string() }) } },
    },
    413: { description: 'the body is larger than the server\'s object limit (TOO_LARGE)' },
  },
});
const get = apiRoute('read', {
  method: 'get', path: '/v1/repos/{name}/objects/{key}',
  summary: 'Read an object, or a byte range of it (Range: bytes=FIRST-LAST)',
  request: { params: objectParams, headers: z.object({ range: z.string().optional().openapi({ description: 'bytes=FIRST-LAST (one range; LAST inclusive)' }) }) },
  responses: {
    200: { description: 'the whole object', content: octets },
    206: { description: 'the range, or the part of it the object holds (a shorter body means the object is shorter)', content: octets },
    416: { description: 'the range starts at or past the end of the object (TAMPERED)' },
  },
});
// Hono answers HEAD with the GET handler (see `read` below); declared for the document.
const head = apiRoute('read', {
  method: 'head', path: '/v1/repos/{name}/objects/{key}', summary: 'Whether an object exists (200 or 404, no body)',
  request: { params: objectParams },
  responses: { 200: { description: 'the object exists' } },
});
const list = apiRoute('read', {
  method: 'get', path: '/v1/repos/{name}/objects', summary: 'Keys under a prefix, sorted',
  request: {
    params: repoParams,
    query: z.object({ prefix: z.string().openapi({ description: 'a key followed by "/", e.g. packs/', example: 'packs/' }) }),
  },
  responses: { 200: { description: 'the keys', content: { 'application/json': { schema: z.object({ keys: z.array(z.string()) }) } } } },
});
const remove = apiRoute('admin', {
  method: 'delete', path: '/v1/repos/{name}/objects/{key}', summary: 'Delete an object (idempotent: an absent key is not an error)',
  request: { params: objectParams },
  responses: { 204: { description: 'the object is gone' } },
});

/** A key from a client: the storage key rule, and never the directory backend's staging area. */
function objectKey(raw: string): string {
  if (!isStorageKey(raw) || raw.split('/')[0] === 'tmp') {
    throw new BunkerError('UNSAFE_PATH', 'not a storage key: lowercase [a-z0-9._-] segments joined by "/" (sent as %2F), no "." or "..", not under tmp/');
  }
  return raw;
}

function listPrefix(raw: string): string {
  if (!raw.endsWith('/') || !isStorageKey(raw.slice(0, -1)) || raw.split('/')[0] === 'tmp') {
    throw new BunkerError('UNSAFE_PATH', 'prefix must be a storage key followed by "/", e.g. packs/');
  }
  return raw;
}

/**
 * Storage errors carry the server's own paths: log them here, tell the client only what
 * failed. Other errors (NOT_FOUND, TAMPERED) pass through as they are.
 */
async function storageCall<T>(c: Context<AppEnv>, what: string, key: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isBunkerError(error) && error.code !== 'STORAGE_FAILED') throw error;
    c.var.deps.log(`storage: could not ${what} ${key}: ${error instanceof Error ? error.message : String(error)}`);
    throw new BunkerError('STORAGE_FAILED', `the server could not ${what} ${key}`, { object: key });
  }
}

function storageOf(c: Context<AppEnv>, name: string): Storage {
  return c.var.deps.repositories.storage(name);
}

function maxObjectBytes(c: Context<AppEnv>): number {
  return c.var.deps.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
}

function parseRange(header: string, limit: number): { first: number; length: number } {
  const match = /^bytes=(\d{1,15})-(\d{1,15})$/.exec(header.trim());
  if (match === null) throw new BunkerError('USAGE', 'Range must be one range, bytes=FIRST-LAST');
  const first = Number(match[1]);
  const length = Number(match[2]) - first + 1;
  if (length < 1) throw new BunkerError('USAGE', 'Range: LAST is before FIRST');
  if (length > limit) throw new BunkerError('USAGE', `a range may span at most ${limit} bytes`);
  return { first, length };
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

const OCTETS = { 'content-type': 'application/octet-stream' };

export function registerStorageRoutes(app: ApiApp): void {
  app.openapi(put, async (c) => {
    const { name, key: rawKey } = c.req.valid('param');
    const key = objectKey(rawKey);
    const storage = storageOf(c, name);
    const data = await readBody(c, maxObjectBytes(c), 'an object');
    if (await storageCall(c, 'write', key, () => storage.put(key, data))) return c.json({ created: true as const }, 201);
    const existing = await storageCall(c, 'read', key, () => storage.get(key));
    return c.json({ created: false as const, sha256: await sha256Hex(existing) }, 200);
  });

  app.openapi(get, async (c) => {
    const { name, key: rawKey } = c.req.valid('param');
    const key = objectKey(rawKey);
    const storage = storageOf(c, name);
    if (c.req.method === 'HEAD') {
      if (!(await storageCall(c, 'read', key, () => storage.has(key)))) throw new BunkerError('NOT_FOUND', `object ${key} is missing from the repository`, { object: key });
      return c.body(null, 200) as never;
    }
    const rangeHeader = c.req.valid('header').range;
    if (rangeHeader === undefined) {
      const bytes = await storageCall(c, 'read', key, () => storage.get(key));
      return c.body(bytes as Uint8Array<ArrayBuffer>, 200, OCTETS) as never;
    }
    const { first, length } = parseRange(rangeHeader, maxObjectBytes(c));
    let bytes: Uint8Array;
    try {
      bytes = await storageCall(c, 'read', key, () => storage.getRange(key, first, length));
    } catch (error) {
      if (!isBunkerError(error, 'TAMPERED')) throw error;
      // The object is shorter than the range: send what it holds; the client decides.
      const whole = await storageCall(c, 'read', key, () => storage.get(key));
      if (first >= whole.length) {
        c.header('content-range', `bytes */${whole.length}`);
        return c.json({ error: { code: 'TAMPERED', message: `object ${key} is shorter than the range asked for (truncated)`, object: key } }, 416) as never;
      }
      bytes = whole.subarray(first, first + length);
    }
    return c.body(bytes as Uint8Array<ArrayBuffer>, 206, { ...OCTETS, 'content-range': `bytes ${first}-${first + bytes.length - 1}/*` }) as never;
  });
  // Documented only (Hono answers HEAD with the GET handler): without its middleware, which is no OpenAPI member.
  const { middleware: _middleware, ...documented } = head as typeof head & { middleware?: unknown };
  app.openAPIRegistry.registerPath(documented);

  app.openapi(list, async (c) => {
    const { name } = c.req.valid('param');
    const prefix = listPrefix(c.req.valid('query').prefix);
    const storage = storageOf(c, name);
    const keys = await storageCall(c, 'list', prefix, () => storage.list(prefix));
    return c.json({ keys: keys.filter((k) => isStorageKey(k)) }, 200);
  });

  app.openapi(remove, async (c) => {
    const { name, key: rawKey } = c.req.valid('param');
    const key = objectKey(rawKey);
    const storage = storageOf(c, name);
    await storageCall(c, 'delete', key, () => storage.delete(key));
    return c.body(null, 204) as never;
  });
}
