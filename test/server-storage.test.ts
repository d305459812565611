/**
 * The storage API (server/routes/storage.ts, FORMAT.md §16.1) in-process, and HttpStorage
 * (core/storage/http-storage.ts) talking to that same app: every route's success, missing
 * token, wrong scope, malformed key, missing object and oversized upload; the client's error
 * mapping, retries and put-if-absent after a lost answer. Bad requests write nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BunkerError, HttpStorage, Repository } from '../core/mod.ts';
import { testServer, type TestServer } from './server-kit.ts';

const text = (s: string) => new TextEncoder().encode(s);
const OBJ = '/v1/repos/r1/objects';
const enc = (key: string) => `${OBJ}/${encodeURIComponent(key)}`;
const PACK = 'packs/ab/ab0123';

async function hex(bytes: Uint8Array): Promise<string> {
  return Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** Every file under `dir`, relative, sorted (tmp/ staging included: a refused write leaves none). */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(d, e.name), `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  };
  await walk(dir, '');
  return out.sort();
}

function put(server: TestServer, key: string, body: Uint8Array, scope: 'read' | 'backup' | 'admin' | null = 'backup', headers: Record<string, string> = {}) {
  return server.request(enc(key), { method: 'PUT', body: body as Uint8Array<ArrayBuffer>, scope, headers: { 'content-type': 'application/octet-stream', ...headers } });
}

test('PUT stores an object if absent (201), creating the repository directory; a second PUT writes nothing (200, the stored digest)', async () => {
  await using server = await testServer();
  const repoDir = join(server.reposRoot, 'r1');
  assert.not.ok(await exists(repoDir));
  const first = text('first bytes');
  const res = await put(server, PACK, first);
  assert.is(res.status, 201);
  assert.equal(await res.json(), { created: true });
  assert.equal(new Uint8Array(await readFile(join(repoDir, 'packs', 'ab', 'ab0123'))), first);
  const again = await put(server, PACK, text('other bytes'));
  assert.is(again.status, 200);
  assert.equal(await again.json(), { created: false, sha256: await hex(first) });
  assert.equal(new Uint8Array(await readFile(join(repoDir, 'packs', 'ab', 'ab0123'))), first, 'the stored object is unchanged');
  const empty = await put(server, 'config', new Uint8Array(0));
  assert.is(empty.status, 201, 'an empty object is an object');
});

test('GET returns the whole object; Range returns a slice (206), what exists of a range past the end, 416 TAMPERED from past the end', async () => {
  await using server = await testServer();
  const data = text('0123456789abcdef');
  assert.is((await put(server, PACK, data)).status, 201);
  const whole = await server.request(enc(PACK), { scope: 'read' });
  assert.is(whole.status, 200);
  assert.is(whole.headers.get('content-type'), 'application/octet-stream');
  assert.equal(new Uint8Array(await whole.arrayBuffer()), data);

  const range = await server.request(enc(PACK), { scope: 'read', headers: { range: 'bytes=4-9' } });
  assert.is(range.status, 206);
  assert.is(range.headers.get('content-range'), 'bytes 4-9/*');
  assert.equal(new Uint8Array(await range.arrayBuffer()), data.slice(4, 10));

  const short = await server.request(enc(PACK), { scope: 'read', headers: { range: 'bytes=12-99' } });
  assert.is(short.status, 206);
  assert.equal(new Uint8Array(await short.arrayBuffer()), data.slice(12), 'the part the object holds');

  const past = await server.request(enc(PACK), { scope: 'read', headers: { range: 'bytes=16-20' } });
  assert.is(past.status, 416);
  assert.is(past.headers.get('content-range'), 'bytes */16');
  assert.is(await errorCode(past), 'TAMPERED');

  for (const bad of ['bytes=5-2', 'bytes=-5', 'bytes=0-1,4-5', 'items=0-1', 'bytes=0-99999999']) {
    const res = await server.request(enc(PACK), { scope: 'read', headers: { range: bad } });
    assert.is(res.status, 400, bad);
    assert.is(await errorCode(res), 'USAGE', bad);
  }
});

test('HEAD says whether an object exists (200/404, no body)', async () => {
  await using server = await testServer();
  await put(server, PACK, text('x'));
  const yes = await server.request(enc(PACK), { method: 'HEAD', scope: 'read' });
  assert.is(yes.status, 200);
  assert.is(await yes.text(), '');
  const no = await server.request(enc('packs/ab/ab9999'), { method: 'HEAD', scope: 'read' });
  assert.is(no.status, 404);
});

test('GET ?prefix lists keys under the prefix, sorted; a missing repository lists nothing', async () => {
  await using server = await testServer();
  for (const key of ['packs/cd/cd01', 'packs/ab/ab02', 'packs/ab/ab01', 'index/0001', 'config']) assert.is((await put(server, key, text(key))).status, 201);
  const res = await server.request(`${OBJ}?prefix=packs/`, { scope: 'read' });
  assert.is(res.status, 200);
  assert.equal(await res.json(), { keys: ['packs/ab/ab01', 'packs/ab/ab02', 'packs/cd/cd01'] });
  const none = await server.request('/v1/repos/r2/objects?prefix=points/', { scope: 'read' });
  assert.equal(await none.json(), { keys: [] });
  assert.not.ok(await exists(join(server.reposRoot, 'r2')), 'reading creates no repository');
  for (const bad of ['packs', '', '../', 'tmp/', 'Packs/']) {
    const r = await server.request(`${OBJ}?prefix=${encodeURIComponent(bad)}`, { scope: 'read' });
    assert.is(r.status, 400, bad);
    assert.is(await errorCode(r), 'UNSAFE_PATH', bad);
  }
  const missing = await server.request(OBJ, { scope: 'read' });
  assert.is(missing.status, 400);
  assert.is(await errorCode(missing), 'USAGE');
});

test('DELETE removes an object (admin, 204; idempotent); a backup token gets 403 and the object stays', async () => {
  await using server = await testServer();
  await put(server, PACK, text('x'));
  const refused = await server.request(enc(PACK), { method: 'DELETE', scope: 'backup' });
  assert.is(refused.status, 403);
  assert.is(await errorCode(refused), 'FORBIDDEN');
  assert.ok(await exists(join(server.reposRoot, 'r1', 'packs', 'ab', 'ab0123')));
  const res = await server.request(enc(PACK), { method: 'DELETE', scope: 'admin' });
  assert.is(res.status, 204);
  assert.not.ok(await exists(join(server.reposRoot, 'r1', 'packs', 'ab', 'ab0123')));
  assert.is((await server.request(enc(PACK), { method: 'DELETE', scope: 'admin' })).status, 204, 'an absent key is not an error');
});

test('no token: 401 on every route; a read token cannot PUT (403, nothing written)', async () => {
  await using server = await testServer();
  await put(server, PACK, text('x'));
  const before = await files(join(server.reposRoot, 'r1'));
  const anonymous: [string, RequestInit][] = [
    [enc('packs/ab/ab7777'), { method: 'PUT', body: 'y' }],
    [enc(PACK), {}],
    [enc(PACK), { headers: { range: 'bytes=0-0' } }],
    [enc(PACK), { method: 'HEAD' }],
    [`${OBJ}?prefix=packs/`, {}],
    [enc(PACK), { method: 'DELETE' }],
  ];
  for (const [path, init] of anonymous) {
    const res = await server.request(path, { ...init, scope: null });
    assert.is(res.status, 401, `${init.method ?? 'GET'} ${path}`);
    if (init.method !== 'HEAD') assert.is(await errorCode(res), 'UNAUTHORIZED');
  }
  const wrong = await server.request(enc(PACK), { scope: null, headers: { authorization: 'Bearer bunker_not_a_token' } });
  assert.is(wrong.status, 401);
  const readPut = await put(server, 'packs/ab/ab7777', text('y'), 'read');
  assert.is(readPut.status, 403);
  assert.is(await errorCode(readPut), 'FORBIDDEN');
  assert.equal(await files(join(server.reposRoot, 'r1')), before, 'nothing written by refused requests');
});

test('malformed keys are 400 UNSAFE_PATH on every object route; a bad repository name is 400 USAGE; nothing is written', async () => {
  await using server = await testServer();
  const keys = ['../config', 'packs/.', '..%2Fx',  'packs/../../x', 'Packs/AB', '/packs/ab', 'packs//ab', 'packs/ab/', 'tmp/abc.tmp', 'a b', 'packs/ab/ab\u00e9'];
  for (const key of keys) {
    for (const method of ['PUT', 'GET', 'DELETE'] as const) {
      const res = await server.request(enc(key), { method, scope: 'admin', ...(method === 'PUT' ? { body: 'data' } : {}) });
      assert.is(res.status, 400, `${method} ${JSON.stringify(key)}`);
      assert.is(await errorCode(res), 'UNSAFE_PATH', `${method} ${JSON.stringify(key)}`);
    }
    assert.is((await server.request(enc(key), { method: 'HEAD', scope: 'read' })).status, 400, `HEAD ${JSON.stringify(key)}`);
  }
  // A bare "." or ".." segment never reaches the route: URL parsing removes it (and %2E%2E) first.
  for (const dots of ['.', '..', '%2E%2E']) {
    const res = await server.request(`${OBJ}/${dots}`, { method: 'PUT', body: 'data', scope: 'admin' });
    assert.is(res.status, 404, dots);
    assert.is(await errorCode(res), 'NOT_FOUND', dots);
  }
  const badName = await server.request(`/v1/repos/${encodeURIComponent('../etc')}/objects/config`, { method: 'PUT', body: 'x', scope: 'backup' });
  assert.is(badName.status, 400);
  assert.is(await errorCode(badName), 'USAGE');
  assert.equal(await files(server.reposRoot), [], 'no file anywhere under the repositories root');
  assert.equal(await files(join(server.home, '..')).then((all) => all.filter((f) => !f.startsWith('home/') && !f.startsWith('restore/'))), [], 'nothing beside it either');
});

test('a missing object is 404 NOT_FOUND (whole and ranged)', async () => {
  await using server = await testServer();
  for (const headers of [{}, { range: 'bytes=0-9' }] as Record<string, string>[]) {
    const res = await server.request(enc('points/' + 'a'.repeat(64)), { scope: 'read', headers });
    assert.is(res.status, 404);
    assert.is(await errorCode(res), 'NOT_FOUND');
  }
});

test('an upload over the object limit is 413 TOO_LARGE (declared length, or counted as it streams); nothing is written', async () => {
  await using server = await testServer({ maxObjectBytes: 1000 });
  assert.is((await put(server, 'packs/ab/ab0001', new Uint8Array(1000))).status, 201, 'exactly the limit is fine');
  const declared = await put(server, 'packs/ab/ab0002', new Uint8Array(1001));
  assert.is(declared.status, 413);
  assert.is(await errorCode(declared), 'TOO_LARGE');
  // No Content-Length: the server counts while reading and stops early.
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(400));
      if (pulled > 1000) controller.close();
    },
  });
  const streamed = await server.request(enc('packs/ab/ab0003'), { method: 'PUT', body: endless, scope: 'backup', duplex: 'half' } as RequestInit);
  assert.is(streamed.status, 413);
  assert.is(await errorCode(streamed), 'TOO_LARGE');
  assert.ok(pulled < 10, `stopped reading early (${pulled} chunks pulled)`);
  assert.equal((await files(join(server.reposRoot, 'r1'))).filter((f) => !f.startsWith('tmp/')), ['packs/ab/ab0001']);
  assert.equal((await files(join(server.reposRoot, 'r1'))).filter((f) => f.startsWith('tmp/')), [], 'no staging leftovers');
});

test('a storage failure is 503 STORAGE_FAILED naming the key, not the server\'s paths (those go to its log)', async () => {
  await using server = await testServer();
  // A file where the repository directory belongs: every write there fails.
  await mkdir(server.reposRoot, { recursive: true });
  await writeFile(join(server.reposRoot, 'r1'), 'not a directory');
  const res = await put(server, PACK, text('x'));
  assert.is(res.status, 503);
  const body = (await res.json()) as { error: { code: string; message: string; object?: string } };
  assert.is(body.error.code, 'STORAGE_FAILED');
  assert.is(body.error.object, PACK);
  assert.not.ok(body.error.message.includes(server.reposRoot), body.error.message);
  assert.ok(server.log.some((line) => line.includes(`could not write ${PACK}`) && line.includes(server.reposRoot)), 'the detail is in the server log');
});

test('the OpenAPI document describes the storage routes with their scopes', async () => {
  await using server = await testServer();
  const doc = await (await server.request('/v1/openapi.json', { scope: null })).json() as { paths: Record<string, Record<string, { 'x-bunker-scope'?: string }>> };
  const object = doc.paths['/v1/repos/{name}/objects/{key}']!;
  assert.equal(Object.fromEntries(Object.entries(object).map(([m, op]) => [m, op['x-bunker-scope']])), { put: 'backup', get: 'read', head: 'read', delete: 'admin' });
  assert.is(doc.paths['/v1/repos/{name}/objects']!.get!['x-bunker-scope'], 'read');
});

// ---- HttpStorage against the same app ----

type Fetch = typeof fetch;
const BASE = 'http://bunker.test/v1/repos/r1';

function appFetch(server: TestServer): Fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => server.app.request(String(input), init)) as Fetch;
}

function client(server: TestServer, scope: 'read' | 'backup' | 'admin', fetchFn: Fetch = appFetch(server), retries = 2) {
  return new HttpStorage(BASE, server.tokens[scope], { fetch: fetchFn, retries, retryDelayMs: 1, timeoutMs: 5000 });
}

async function rejects(promise: Promise<unknown>, code: string, label: string): Promise<BunkerError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, BunkerError, label);
    assert.is((error as BunkerError).code, code, `${label}: ${(error as Error).message}`);
    return error as BunkerError;
  }
  assert.unreachable(`${label}: resolved`);
  throw new Error('unreachable');
}

test('HttpStorage keeps the Storage contract: put-if-absent, get, getRange (TAMPERED when short), has, list, delete', async () => {
  await using server = await testServer();
  const storage = client(server, 'admin');
  assert.is(storage.location, BASE);
  const data = text('the object bytes');
  assert.is(await storage.put(PACK, data), true);
  assert.is(await storage.put(PACK, text('else')), false);
  assert.equal(await storage.get(PACK), data);
  assert.equal(await storage.getRange(PACK, 4, 6), data.slice(4, 10));
  assert.equal(await storage.getRange(PACK, 0, 0), new Uint8Array(0));
  assert.is(await storage.has(PACK), true);
  assert.is(await storage.has('packs/ab/ab9999'), false);
  await rejects(storage.get('packs/ab/ab9999'), 'NOT_FOUND', 'get missing');
  await rejects(storage.getRange('packs/ab/ab9999', 0, 4), 'NOT_FOUND', 'getRange missing');
  await rejects(storage.getRange(PACK, 10, 100), 'TAMPERED', 'range running past the end');
  await rejects(storage.getRange(PACK, 100, 4), 'TAMPERED', 'range starting past the end');
  await storage.put('packs/cd/cd01', text('b'));
  await storage.put('index/0001', text('c'));
  assert.equal(await storage.list('packs/'), ['packs/ab/ab0123', 'packs/cd/cd01']);
  await storage.delete(PACK);
  assert.is(await storage.has(PACK), false);
  // Objects with no config are refused as a repository that lost its config (Repository.init).
  await rejects(Repository.init(client(server, 'backup')), 'NOT_FOUND', 'objects and no config');
  for (const key of ['packs/cd/cd01', 'index/0001']) await storage.delete(key);
  // A repository round-trips its config through it.
  const repo = await Repository.init(client(server, 'backup'));
  assert.equal((await Repository.open(client(server, 'read'))).config.id, repo.config.id);
  await rejects(Repository.init(client(server, 'backup')), 'ALREADY_EXISTS', 'second init');
});

test('HttpStorage maps the server\'s errors to their codes and never puts the token in a message', async () => {
  await using server = await testServer({ maxObjectBytes: 100 });
  const reader = client(server, 'read');
  const errors = [
    await rejects(reader.put(PACK, text('x')), 'FORBIDDEN', 'read token put'),
    await rejects(client(server, 'backup').delete(PACK), 'FORBIDDEN', 'backup token delete'),
    await rejects(client(server, 'backup').put(PACK, new Uint8Array(101)), 'TOO_LARGE', 'oversize'),
    await rejects(new HttpStorage(BASE, 'bunker_wrong', { fetch: appFetch(server) }).get('config'), 'UNAUTHORIZED', 'bad token get'),
    await rejects(new HttpStorage(BASE, 'bunker_wrong', { fetch: appFetch(server) }).has('config'), 'UNAUTHORIZED', 'bad token head'),
  ];
  for (const error of errors) {
    for (const token of Object.values(server.tokens)) assert.not.ok(error.message.includes(token), error.message);
    assert.not.ok(error.message.includes('bunker_wrong'), error.message);
  }
  assert.ok(errors[0]!.message.includes('http://bunker.test'), errors[0]!.message);
  assert.is(await reader.has(PACK), false, 'nothing written');
  await rejects(Promise.resolve().then(() => new HttpStorage('http://u:secret@bunker.test/v1/repos/r1', server.tokens.read)), 'USAGE', 'credentials in the URL');
  await rejects(Promise.resolve().then(() => new HttpStorage('ftp://bunker.test/v1/repos/r1', server.tokens.read)), 'USAGE', 'not http');
});

test('HttpStorage retries a write whose answer was lost: its own object counts as written, another\'s does not', async () => {
  await using server = await testServer();
  let dropNext = 0;
  let calls = 0;
  // The request reaches the real app and is done; then the connection "drops".
  const lossy: Fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    calls++;
    const res = await server.app.request(String(input), init);
    if (dropNext > 0) {
      dropNext--;
      throw new TypeError('fetch failed');
    }
    return res;
  }) as Fetch;
  const storage = client(server, 'backup', lossy);
  dropNext = 1;
  assert.is(await storage.put(PACK, text('mine')), true, 'the retry finds our own bytes');
  assert.is(calls, 2);
  assert.equal(await storage.get(PACK), text('mine'));
  assert.is(await storage.put(PACK, text('mine')), false, 'a first attempt finding the key reports it as existing');
  dropNext = 1;
  assert.is(await storage.put(PACK, text('not mine')), false, 'a retry finding other bytes: not ours');
  assert.equal(await storage.get(PACK), text('mine'));
  dropNext = 1;
  assert.equal(await storage.get(PACK), text('mine'), 'reads are retried too');
});

test('HttpStorage retries 502/503/504, then gives up with REMOTE_FAILED; a timeout is REMOTE_FAILED', async () => {
  await using server = await testServer();
  await client(server, 'backup').put(PACK, text('x'));
  let failures = 2;
  let calls = 0;
  const flaky: Fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    calls++;
    if (failures-- > 0) return new Response('busy', { status: 503 });
    return server.app.request(String(input), init);
  }) as Fetch;
  assert.equal(await client(server, 'read', flaky, 2).get(PACK), text('x'));
  assert.is(calls, 3);
  const down: Fetch = (async () => new Response('<html>bad gateway</html>', { status: 502 })) as Fetch;
  const gave = await rejects(client(server, 'read', down, 2).get(PACK), 'REMOTE_FAILED', 'always 502');
  assert.match(gave.message, /HTTP 502/);
  // Never answers (Node's AbortSignal.timeout does not keep the process alive: a timer does).
  const silent: Fetch = ((_input: RequestInfo | URL, init?: RequestInit) => new Promise((_resolve, reject) => {
    const alive = setTimeout(() => undefined, 10_000);
    init!.signal!.addEventListener('abort', () => {
      clearTimeout(alive);
      reject(init!.signal!.reason);
    });
  })) as Fetch;
  const timeout = await rejects(new HttpStorage(BASE, server.tokens.read, { fetch: silent, retries: 1, retryDelayMs: 1, timeoutMs: 50 }).has(PACK), 'REMOTE_FAILED', 'no answer');
  assert.match(timeout.message, /no answer in time/);
});

test('HttpStorage names the unreachable host (real socket, nothing listening) and not the token', async () => {
  // Port 1: privileged, so no test (nor any unprivileged process) can be listening there.
  const port = 1;
  const token = 'bunker_secret_token_value';
  const storage = new HttpStorage(`http://127.0.0.1:${port}/v1/repos/r1/`, token, { retries: 1, retryDelayMs: 1 });
  assert.is(storage.location, `http://127.0.0.1:${port}/v1/repos/r1`);
  const error = await rejects(storage.put(PACK, text('x')), 'REMOTE_FAILED', 'unreachable');
  assert.ok(error.message.includes(`http://127.0.0.1:${port}`), error.message);
  assert.match(error.message, /2 attempts/);
  assert.not.ok(error.message.includes(token), error.message);
});

test.run();
