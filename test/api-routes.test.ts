/**
 * The HTTP API's resource routes, in-process (app.request on a fresh BUNKER_HOME): every route
 * of the OpenAPI document refuses a request without a token (401), with a token of too small a
 * scope (403), with malformed input (400), about something that is not there (404) and with a
 * JSON body over the limit (413), always in the one error shape; a route added without a case
 * here fails the table. Then each resource does what its CLI command does, and no response or
 * log line holds a password, a password hash or a token.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { unpackTar } from 'modern-tar';
import { backup, derivePasswordVersion, PasswordKeyResolver, Repository } from '../core/mod.ts';
import { DirectoryStorage } from '../core/host/directory-storage.ts';
import { fsSource } from '../core/host/fs-source.ts';
import { toBase64, toHex } from '../core/format/bytes.ts';
import { createApp } from '../server/app.ts';
import { serverDeps } from '../server/host.ts';
import { TEST_KDF, pseudoRandomBytes, tempDir } from './helpers.ts';
import { testServer } from './server-kit.ts';
import { ageTree, snapshotTree, writeTree } from './tree.ts';

const KDF = { memoryKiB: TEST_KDF.memoryKiB, iterations: TEST_KDF.iterations, parallelism: TEST_KDF.parallelism };
const PASSWORD = 'api-routes backup password';
const ROTATED = 'api-routes rotated password';
const OTHER = 'api-routes unknown to the server';
const BUNDLE_PASSWORD = 'api-routes bundle password';
const MAX_BODY = 4096;

const work = await tempDir('bunker-api-routes-');
const server = await testServer({ maxBodyBytes: MAX_BODY });
test.after(async () => {
  await server[Symbol.asyncDispose]();
  await work[Symbol.asyncDispose]();
});

/** Every response body this file sees, for the secrets check at the end. */
const seen: string[] = [];

interface Call {
  readonly method?: string;
  readonly path: string;
  readonly json?: unknown;
  readonly body?: BodyInit;
  readonly headers?: Record<string, string>;
}

async function call(req: Call, scope: 'read' | 'backup' | 'admin' | null = 'admin'): Promise<Response> {
  const headers: Record<string, string> = { ...req.headers };
  let body = req.body;
  if (req.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(req.json);
  }
  const res = await server.request(req.path, { method: req.method ?? 'GET', headers, ...(body === undefined ? {} : { body }), scope });
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('json') || type.includes('text')) seen.push(await res.clone().text());
  return res;
}

async function ok<T = any>(req: Call, status = 200, scope: 'read' | 'backup' | 'admin' = 'admin'): Promise<T> {
  const res = await call(req, scope);
  const text = await res.text();
  assert.is(res.status, status, `${req.method ?? 'GET'} ${req.path}: ${text}`);
  return JSON.parse(text) as T;
}

/** The one error shape, with the expected status and code. */
async function refused(res: Response, status: number, codes: string | string[], what: string): Promise<string> {
  assert.is(res.status, status, `${what}: status`);
  if (res.headers.get('content-length') === '0' || what.startsWith('HEAD')) return '';
  const body = await res.json() as { error?: { code?: unknown; message?: unknown } };
  assert.type(body.error, 'object', `${what}: error body`);
  assert.type(body.error!.message, 'string', `${what}: message`);
  assert.ok((body.error!.message as string).length > 0, `${what}: empty message`);
  assert.ok(([] as string[]).concat(codes).includes(body.error!.code as string), `${what}: code ${String(body.error!.code)}, wanted ${String(codes)}`);
  return body.error!.message as string;
}

/** Waits for the job, then reads its view over the API (so the secrets test sees job results too). */
async function settled(jobId: string): Promise<any> {
  await server.deps.jobs.settled(jobId);
  return ok({ path: `/v1/jobs/${jobId}` });
}

// ---- fixtures: a repository, a named password, a saved job and its first point ------------
const src = join(work.path, 'src');
const FILES = {
  'a.txt': 'alpha\n',
  'docs/readme.md': '# read me\n',
  'docs/deep/notes.conf': 'key = value\n',
  'data/blob.bin': pseudoRandomBytes(300_000, 7),
  'link': { link: 'a.txt' },
};
await writeTree(src, FILES);
await ageTree(src); // so that a rerun finds them unchanged
await ok({ method: 'POST', path: '/v1/repos', json: { name: 'r1' } }, 201);
await ok({ method: 'POST', path: '/v1/passwords', json: { name: 'pw', password: PASSWORD, kdf: KDF, description: 'for r1' } }, 201);
await ok({ method: 'POST', path: '/v1/backup-jobs', json: { name: 'j1', sources: [src], repo: 'r1', password: 'pw' } }, 201);
const firstRun = (await ok<{ job: { id: string } }>({ method: 'POST', path: '/v1/backup-jobs/j1/run' }, 202, 'backup')).job;
const firstDone = await settled(firstRun.id);
assert.is(firstDone.status, 'succeeded', JSON.stringify(firstDone.error));
const POINT: string = firstDone.result.pointId;
const FIRST_VERSION = await server.catalog.currentPassword('pw', 'backup');

// ---- the table ------------------------------------------------------------------------------
/** A request that must be 400, or why the route takes no input that can be malformed. */
type Bad = Call & { codes?: string[] } | string;
/** A request that must be 404, or why the route has nothing that can be missing. */
type Missing = Call | string;

const ZERO_JOB = '0'.repeat(32);
const ZERO_POINT = '0'.repeat(64);
const tarBody = { headers: { 'content-type': 'application/x-tar' }, body: 'x' };

const CASES: Record<string, { bad: Bad; missing: Missing }> = {
  'GET /v1/jobs': { bad: 'takes no input', missing: 'lists what there is' },
  'GET /v1/jobs/{id}': { bad: { path: '/v1/jobs/not-a-job' }, missing: { path: `/v1/jobs/${ZERO_JOB}` } },
  'GET /v1/jobs/{id}/events': { bad: { path: '/v1/jobs/not-a-job/events' }, missing: { path: `/v1/jobs/${ZERO_JOB}/events` } },
  'POST /v1/jobs/{id}/cancel': { bad: { method: 'POST', path: '/v1/jobs/XYZ/cancel' }, missing: { method: 'POST', path: `/v1/jobs/${ZERO_JOB}/cancel` } },

  'PUT /v1/repos/{name}/objects/{key}': { bad: { method: 'PUT', path: '/v1/repos/r1/objects/..%2Fx', body: 'x', codes: ['UNSAFE_PATH'] }, missing: 'put-if-absent creates' },
  'GET /v1/repos/{name}/objects/{key}': { bad: { path: '/v1/repos/r1/objects/BAD', codes: ['UNSAFE_PATH'] }, missing: { path: '/v1/repos/r1/objects/points%2Fnothing' } },
  'HEAD /v1/repos/{name}/objects/{key}': { bad: { method: 'HEAD', path: '/v1/repos/r1/objects/BAD' }, missing: { method: 'HEAD', path: '/v1/repos/r1/objects/points%2Fnothing' } },
  'GET /v1/repos/{name}/objects': { bad: { path: '/v1/repos/r1/objects' }, missing: 'a repository with no objects lists none' },
  'DELETE /v1/repos/{name}/objects/{key}': { bad: { method: 'DELETE', path: '/v1/repos/r1/objects/BAD', codes: ['UNSAFE_PATH'] }, missing: 'idempotent: deleting nothing succeeds' },
  'POST /v1/repos/{name}/backups': {
    bad: { method: 'POST', path: '/v1/repos/r1/backups', ...tarBody },
    missing: { method: 'POST', path: '/v1/repos/nope/backups?series=s&password=pw&create=false', ...tarBody },
  },
  'PUT /v1/repos/{name}/backups': {
    bad: { method: 'PUT', path: '/v1/repos/r1/backups', ...tarBody },
    missing: { method: 'PUT', path: '/v1/repos/nope/backups?series=s&password=pw&create=false', ...tarBody },
  },

  'GET /v1/repos': { bad: 'takes no input', missing: 'lists what there is' },
  'POST /v1/repos': { bad: { method: 'POST', path: '/v1/repos', json: { name: '../x' } }, missing: 'creates' },
  'GET /v1/repos/{name}': { bad: { path: '/v1/repos/-bad' }, missing: { path: '/v1/repos/nope' } },
  'GET /v1/repos/{name}/points': { bad: { path: '/v1/repos/r1/points?series=' }, missing: { path: '/v1/repos/nope/points' } },
  'GET /v1/repos/{name}/points/{id}': { bad: { path: '/v1/repos/r1/points/12ab' }, missing: { path: `/v1/repos/r1/points/${ZERO_POINT}` } },
  'GET /v1/repos/{name}/points/{id}/tree': { bad: { path: '/v1/repos/r1/points/zz/tree' }, missing: { path: `/v1/repos/r1/points/${POINT}/tree?path=no/such/dir` } },
  'GET /v1/repos/{name}/search': { bad: { path: '/v1/repos/r1/search' }, missing: { path: '/v1/repos/nope/search?pattern=*' } },
  'POST /v1/repos/{name}/points/{id}/restore': {
    bad: { method: 'POST', path: `/v1/repos/r1/points/${POINT}/restore`, json: { target: 'x', overwrite: true } },
    missing: { method: 'POST', path: `/v1/repos/r1/points/${ZERO_POINT}/restore`, json: { target: 'x' } },
  },
  'POST /v1/repos/{name}/points/{id}/copy': {
    bad: { method: 'POST', path: `/v1/repos/r1/points/${POINT}/copy`, json: { to: 'r9', password: 'pw', overwrite: true } },
    missing: { method: 'POST', path: `/v1/repos/r1/points/${ZERO_POINT}/copy`, json: { to: 'r9', password: 'pw' } },
  },
  'GET /v1/repos/{name}/points/{id}/file': { bad: { path: `/v1/repos/r1/points/${POINT}/file` }, missing: { path: `/v1/repos/r1/points/${POINT}/file?path=src/none.txt` } },
  'GET /v1/repos/{name}/points/{id}/tar': { bad: { path: '/v1/repos/r1/points/LATEST/tar' }, missing: { path: `/v1/repos/r1/points/${POINT}/tar?path=src/none` } },
  'POST /v1/repos/{name}/check': { bad: { method: 'POST', path: '/v1/repos/r1/check', json: { readData: 'yes' } }, missing: { method: 'POST', path: '/v1/repos/nope/check', json: {} } },

  'POST /v1/passwords': { bad: { method: 'POST', path: '/v1/passwords', json: { name: 'x', password: 'p', purpose: 'other' } }, missing: 'creates' },
  'GET /v1/passwords': { bad: 'takes no input', missing: 'lists what there is' },
  'GET /v1/passwords/{name}': { bad: { path: '/v1/passwords/a%20b' }, missing: { path: '/v1/passwords/nope' } },
  'POST /v1/passwords/{name}/rotate': {
    bad: { method: 'POST', path: '/v1/passwords/pw/rotate', json: { password: '' } },
    missing: { method: 'POST', path: '/v1/passwords/nope/rotate', json: { password: 'x' } },
  },
  'DELETE /v1/passwords/{name}': { bad: { method: 'DELETE', path: '/v1/passwords/pw?force=yes' }, missing: { method: 'DELETE', path: '/v1/passwords/nope' } },

  'GET /v1/kms': { bad: 'takes no input', missing: 'answers enabled: false when not set' },
  'PUT /v1/kms': { bad: { method: 'PUT', path: '/v1/kms', json: { keyId: 'k', endpoint: 'file:///etc/passwd' } }, missing: 'a missing key is a KMS answer (test/api-kms.test.ts)' },
  'DELETE /v1/kms': { bad: 'takes no input', missing: { method: 'DELETE', path: '/v1/kms' } },

  'POST /v1/bundle/export': { bad: { method: 'POST', path: '/v1/bundle/export', json: {} }, missing: { method: 'POST', path: '/v1/bundle/export', json: { passwordName: 'nope' } } },
  'POST /v1/bundle/import': { bad: { method: 'POST', path: '/v1/bundle/import?replace=maybe', body: 'x' }, missing: 'imports what it is given' },

  'GET /v1/backup-jobs': { bad: 'takes no input', missing: 'lists what there is' },
  'POST /v1/backup-jobs': {
    bad: { method: 'POST', path: '/v1/backup-jobs', json: { name: 'j2', sources: ['relative/path'], repo: 'r1', password: 'pw' } },
    missing: { method: 'POST', path: '/v1/backup-jobs', json: { name: 'j2', sources: ['/srv'], repo: 'nope', password: 'pw' } },
  },
  'GET /v1/backup-jobs/{name}': { bad: { path: '/v1/backup-jobs/-x' }, missing: { path: '/v1/backup-jobs/nope' } },
  'POST /v1/backup-jobs/{name}/run': { bad: { method: 'POST', path: '/v1/backup-jobs/%20/run' }, missing: { method: 'POST', path: '/v1/backup-jobs/nope/run' } },
  'DELETE /v1/backup-jobs/{name}': { bad: { method: 'DELETE', path: '/v1/backup-jobs/-x' }, missing: { method: 'DELETE', path: '/v1/backup-jobs/nope' } },
};

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly scope: 'read' | 'backup' | 'admin';
  readonly hasParams: boolean;
  readonly jsonBody: boolean;
}

async function documentedOperations(): Promise<{ doc: any; operations: Operation[]; open: string[] }> {
  const res = await server.app.request('/v1/openapi.json');
  assert.is(res.status, 200);
  const doc = await res.json() as any;
  const operations: Operation[] = [];
  const open: string[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      const key = `${method.toUpperCase()} ${path}`;
      if (op['x-bunker-scope'] === undefined) {
        open.push(key);
        continue;
      }
      operations.push({
        method: method.toUpperCase(), path, scope: op['x-bunker-scope'],
        hasParams: (op.parameters ?? []).length > 0 || op.requestBody !== undefined,
        jsonBody: op.requestBody?.content?.['application/json'] !== undefined,
      });
    }
  }
  return { doc, operations, open };
}

test('the OpenAPI document is valid OpenAPI 3.1 and lists exactly the routes the app serves', async () => {
  const { doc, operations, open } = await documentedOperations();
  const result = await new Validator().validate(doc);
  assert.ok(result.valid, JSON.stringify(result.errors, null, 1)?.slice(0, 2000));
  assert.equal(open.sort(), ['GET /v1/health'], 'only the health check is open (the document and /docs are not API operations)');
  const served = new Set(server.app.routes
    .filter((r) => r.method !== 'ALL' && r.path.startsWith('/v1/') && r.path !== '/v1/openapi.json')
    .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`));
  const documented = new Set([...operations.map((o) => `${o.method} ${o.path}`), ...open]);
  assert.equal([...served].filter((r) => !documented.has(r)).sort(), [], 'served but not documented');
  // Hono answers HEAD with the GET route.
  assert.equal([...documented].filter((r) => !served.has(r.replace(/^HEAD /, 'GET '))).sort(), [], 'documented but not served');
});

test('interactive docs at /docs: a Swagger UI page that loads /v1/openapi.json', async () => {
  const res = await server.app.request('/docs');
  assert.is(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  const html = await res.text();
  assert.match(html, /swagger-ui/i);
  assert.match(html, '/v1/openapi.json');
});

test('every route: 401 without a token, 403 with too small a scope, 400 malformed, 404 missing, 413 oversize, one error shape', async () => {
  const { operations } = await documentedOperations();
  const untested = operations.map((o) => `${o.method} ${o.path}`).filter((key) => CASES[key] === undefined);
  assert.equal(untested, [], 'routes without a case in CASES: add one');
  const below = { read: null, backup: 'read', admin: 'backup' } as const;
  let checked = 0;
  for (const op of operations) {
    const key = `${op.method} ${op.path}`;
    const cases = CASES[key]!;
    const sample = op.path.replace(/\{[a-z]+\}/gi, 'x1');
    await refused(await call({ method: op.method, path: sample }, null), 401, 'UNAUTHORIZED', `${key} without a token`);
    const bad = await call({ method: op.method, path: sample, headers: { authorization: 'Bearer not-a-token' } }, null);
    await refused(bad, 401, 'UNAUTHORIZED', `${key} with a token never issued`);
    const lower = below[op.scope];
    if (lower !== null) await refused(await call({ method: op.method, path: sample }, lower), 403, 'FORBIDDEN', `${key} with a ${lower} token`);
    if (typeof cases.bad === 'string') {
      assert.not.ok(op.hasParams && op.jsonBody, `${key} takes a body: give a malformed case`);
    } else {
      await refused(await call(cases.bad), 400, cases.bad.codes ?? ['USAGE', 'KDF_PARAMS_OUT_OF_RANGE'], `${key} malformed`);
    }
    if (typeof cases.missing === 'string') {
      assert.ok(cases.missing.length > 0, `${key}: say why nothing can be missing`);
    } else {
      await refused(await call(cases.missing), 404, 'NOT_FOUND', `${key} missing`);
    }
    if (op.jsonBody) {
      const big = { method: op.method, path: op.path.replace(/\{[a-z]+\}/gi, 'r1'), json: { padding: 'x'.repeat(MAX_BODY + 1) } };
      await refused(await call(big), 413, 'TOO_LARGE', `${key} oversize`);
      const malformed = { method: op.method, path: op.path.replace(/\{[a-z]+\}/gi, 'r1'), body: '{"name": ', headers: { 'content-type': 'application/json' } };
      await refused(await call(malformed), 400, 'USAGE', `${key} with malformed JSON`);
    }
    checked++;
  }
  assert.ok(checked >= 30, `only ${checked} routes checked`);
});

test('repositories: create, list with ids, describe; a taken name is 409 and nothing changes', async () => {
  const made = await ok<{ name: string; id: string }>({ method: 'POST', path: '/v1/repos', json: { name: 'r2' } }, 201, 'backup');
  assert.match(made.id, /^[0-9a-f]{64}$/);
  await refused(await call({ method: 'POST', path: '/v1/repos', json: { name: 'r2' } }), 409, 'ALREADY_EXISTS', 'second create');
  const { repositories } = await ok<{ repositories: { name: string; id: string }[] }>({ path: '/v1/repos' }, 200, 'read');
  assert.equal(repositories.find((r) => r.name === 'r2'), { name: 'r2', id: made.id });
  assert.ok(repositories.some((r) => r.name === 'r1'));
  const r2 = await ok({ path: '/v1/repos/r2' }, 200, 'read');
  assert.equal([r2.id, r2.points, r2.version, r2.chunkIdAlgorithm], [made.id, 0, 1, 1]);
  assert.equal(Object.keys(r2.chunker).sort(), ['avgBytes', 'maxBytes', 'minBytes']);
  assert.is((await ok({ path: '/v1/repos/r1' })).points, 1);
});

test('points: list, show, "latest" of a series, browse the index, search every point', async () => {
  const { points } = await ok<{ points: any[] }>({ path: '/v1/repos/r1/points' }, 200, 'read');
  assert.equal(points.map((p) => [p.id, p.name, p.encrypted, p.files]), [[POINT, 'j1', true, 4]]);
  assert.equal((await ok({ path: '/v1/repos/r1/points?series=other' }, 200, 'read')).points, []);
  const shown = await ok({ path: '/v1/repos/r1/points/latest?series=j1' }, 200, 'read');
  assert.equal([shown.id, shown.kms, shown.kdf.memoryKiB, shown.stats.files], [POINT, false, KDF.memoryKiB, 4]);
  assert.is((await ok({ path: `/v1/repos/r1/points/${POINT}` }, 200, 'read')).id, POINT);

  const top = await ok({ path: `/v1/repos/r1/points/${POINT}/tree` }, 200, 'read');
  assert.equal(top.entries.map((e: any) => [e.path, e.type]), [['src', 'dir']]);
  const inner = await ok({ path: `/v1/repos/r1/points/${POINT}/tree?path=src/docs` }, 200, 'read');
  assert.equal(inner.entries.map((e: any) => [e.path, e.type, e.size]).sort(), [['src/docs/deep', 'dir', 0], ['src/docs/readme.md', 'file', 10]]);
  const file = await ok({ path: `/v1/repos/r1/points/${POINT}/tree?path=src/a.txt` }, 200, 'read');
  assert.equal(file.entries.map((e: any) => e.path), ['src/a.txt'], 'a file lists itself');

  const found = await ok({ path: '/v1/repos/r1/search?pattern=*.conf' }, 200, 'read');
  assert.equal(found.matches.map((m: any) => [m.pointId, m.entry.path]), [[POINT, 'src/docs/deep/notes.conf']]);
  const byPath = await ok({ path: `/v1/repos/r1/search?pattern=${encodeURIComponent('src/docs/**')}&series=j1` }, 200, 'read');
  assert.equal(byPath.matches.map((m: any) => m.entry.path).sort(), ['src/docs', 'src/docs/deep', 'src/docs/deep/notes.conf', 'src/docs/readme.md']);
});

test('a point whose key the server does not hold: 422 PASSWORD_REQUIRED naming the fix; listing and showing still work', async () => {
  const other = join(work.path, 'other');
  await writeTree(other, { 'x.txt': 'x\n' });
  // Made elsewhere, with a password whose hash this server's catalog does not hold.
  const version = await derivePasswordVersion(OTHER, TEST_KDF);
  const repo = await server.deps.repositories.open('r1');
  await backup(repo, await fsSource([other]), {
    series: 'elsewhere', encrypt: true, compressionLevel: 3, passwordHash: { ...version, source: 'password' }, resolver: new PasswordKeyResolver(async () => undefined),
  });
  const res = await call({ path: '/v1/repos/r1/points/latest/tree?series=elsewhere' }, 'read');
  const message = await refused(res, 422, 'PASSWORD_REQUIRED', 'locked point');
  assert.match(message, 'POST /v1/bundle/import');
  await refused(await call({ path: '/v1/repos/r1/search?pattern=*' }, 'read'), 422, 'PASSWORD_REQUIRED', 'search across a locked point');
  await refused(await call({ path: '/v1/repos/r1/points/latest' }, 'read'), 409, 'AMBIGUOUS', '"latest" across two backup names');
  const { points } = await ok<{ points: any[] }>({ path: '/v1/repos/r1/points?series=elsewhere' }, 200, 'read');
  assert.is(points.length, 1);
  // Once the server holds the hash (as a bundle import of the other machine's catalog gives it), the same request opens it.
  await server.catalog.createPassword({ name: 'elsewhere', purpose: 'backup', version });
  const opened = await ok({ path: '/v1/repos/r1/points/latest/tree?series=elsewhere' }, 200, 'read');
  assert.equal(opened.entries.map((e: any) => e.path), ['other']);
});

test('file: the exact bytes streamed, with length and type; a directory is 400', async () => {
  const res = await call({ path: `/v1/repos/r1/points/${POINT}/file?path=src/data/blob.bin` }, 'read');
  assert.is(res.status, 200);
  assert.is(res.headers.get('content-type'), 'application/octet-stream');
  assert.is(res.headers.get('content-length'), '300000');
  assert.match(res.headers.get('content-disposition') ?? '', 'filename="blob.bin"');
  assert.equal(new Uint8Array(await res.arrayBuffer()), FILES['data/blob.bin']);
  const latest = await call({ path: '/v1/repos/r1/points/latest/file?series=j1&path=/src/a.txt' }, 'read');
  assert.is(await latest.text(), 'alpha\n');
  await refused(await call({ path: `/v1/repos/r1/points/${POINT}/file?path=src/docs` }, 'read'), 400, 'USAGE', 'a directory');
});

test('tar: a subtree as a tar stream with its parents, exact contents; the whole point', async () => {
  const res = await call({ path: `/v1/repos/r1/points/${POINT}/tar?path=src/docs` }, 'read');
  assert.is(res.status, 200);
  assert.is(res.headers.get('content-type'), 'application/x-tar');
  const entries = await unpackTar(new Uint8Array(await res.arrayBuffer()));
  assert.equal(entries.map((e) => [e.header.name, e.header.type]).sort(), [
    ['src/', 'directory'], ['src/docs/', 'directory'], ['src/docs/deep/', 'directory'], ['src/docs/deep/notes.conf', 'file'], ['src/docs/readme.md', 'file'],
  ]);
  assert.is(new TextDecoder().decode(entries.find((e) => e.header.name === 'src/docs/deep/notes.conf')!.data!), 'key = value\n');
  const all = await unpackTar(new Uint8Array(await (await call({ path: `/v1/repos/r1/points/${POINT}/tar` }, 'read')).arrayBuffer()));
  assert.equal(all.find((e) => e.header.name === 'src/data/blob.bin')!.data, FILES['data/blob.bin']);
  assert.equal(all.find((e) => e.header.name === 'src/link')!.header.linkname, 'a.txt');
});

test('restore to a path: a job below the restore root restores exactly; outside the root 400 UNSAFE_PATH; no roots 403', async () => {
  const started = await ok<{ job: { id: string; kind: string } }>({ method: 'POST', path: `/v1/repos/r1/points/${POINT}/restore`, json: { target: 'out1' } }, 202);
  const done = await settled(started.job.id);
  assert.is(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal([done.result.files, done.result.pointId, done.result.keySource], [4, POINT, 'catalog']);
  assert.equal(await snapshotTree(join(server.restoreRoot, 'out1', 'src')), await snapshotTree(src));
  const partial = await ok({ method: 'POST', path: `/v1/repos/r1/points/${POINT}/restore`, json: { target: join(server.restoreRoot, 'out2'), include: ['src/docs'] } }, 202);
  assert.is((await settled(partial.job.id)).status, 'succeeded');
  assert.equal(Object.keys(await snapshotTree(join(server.restoreRoot, 'out2'))).sort(), ['src', 'src/docs', 'src/docs/deep', 'src/docs/deep/notes.conf', 'src/docs/readme.md']);

  await refused(await call({ method: 'POST', path: `/v1/repos/r1/points/${POINT}/restore`, json: { target: join(work.path, 'outside') } }), 400, 'UNSAFE_PATH', 'outside the root');
  await refused(await call({ method: 'POST', path: `/v1/repos/r1/points/${POINT}/restore`, json: { target: '../escape' } }), 400, 'UNSAFE_PATH', 'relative escape');
  const noRootsDeps = await serverDeps({ catalog: server.catalog, reposRoot: server.reposRoot, restoreRoots: [], workers: 0 });
  const noRoots = createApp(noRootsDeps);
  const res = await noRoots.request(`/v1/repos/r1/points/${POINT}/restore`, {
    method: 'POST', headers: { authorization: `Bearer ${server.tokens.admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ target: 'x' }),
  });
  await refused(res, 403, 'FORBIDDEN', 'no restore roots');
  assert.equal(noRootsDeps.jobs.list(), [], 'no job started');
});

test('check: a job whose result is the report', async () => {
  const { job } = await ok<{ job: { id: string } }>({ method: 'POST', path: '/v1/repos/r1/check', json: { readData: true } }, 202, 'backup');
  const done = await settled(job.id);
  assert.is(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal([done.result.isOk, done.result.points, done.result.problems], [true, 2, []]);
  assert.ok(done.result.chunksChecked > 0);
  const plain = await ok<{ job: { id: string } }>({ method: 'POST', path: '/v1/repos/r1/check' }, 202, 'backup');
  assert.is((await settled(plain.job.id)).result.chunksChecked, 0, 'no body: no data read');
});

test('backup jobs: create, list, show, run again (continues the series), remove; a job the server cannot run is refused', async () => {
  await refused(await call({ method: 'POST', path: '/v1/backup-jobs', json: { name: 'j2', sources: [src], repo: 'r1' } }), 400, 'USAGE', 'encrypted without a named password');
  await refused(await call({ method: 'POST', path: '/v1/backup-jobs', json: { name: 'j1', sources: [src], repo: 'r1', password: 'pw' } }), 409, 'ALREADY_EXISTS', 'taken name');
  await refused(await call({ method: 'POST', path: '/v1/backup-jobs', json: { name: 'j2', sources: [src], repo: 'r1', password: 'nope' } }), 404, 'NOT_FOUND', 'unknown password');
  const plain = await ok({ method: 'POST', path: '/v1/backup-jobs', json: { name: 'j2', sources: [join(src, 'docs')], repo: 'r1', encrypt: false, series: 'plain', exclude: ['*.md'] } }, 201);
  assert.equal([plain.repo, plain.series, plain.encrypt, plain.password, plain.excludes], ['r1', 'plain', false, null, ['*.md']]);
  await refused(await call({ method: 'POST', path: '/v1/backup-jobs', json: { name: 'j3', sources: [src], repo: 'r1' } }, 'backup'), 403, 'FORBIDDEN', 'defining a job needs admin');

  const { jobs } = await ok<{ jobs: any[] }>({ path: '/v1/backup-jobs' }, 200, 'read');
  assert.equal(jobs.map((j) => j.name), ['j1', 'j2']);
  assert.is((await ok({ path: '/v1/backup-jobs/j1' }, 200, 'read')).lastPointId, POINT);

  const run = await ok<{ job: { id: string } }>({ method: 'POST', path: '/v1/backup-jobs/j1/run' }, 202, 'backup');
  const second = await settled(run.job.id);
  assert.is(second.status, 'succeeded', JSON.stringify(second.error));
  assert.equal([second.result.parentId, second.result.stats.filesUnchanged, second.result.keySource], [POINT, 4, 'catalog']);
  const plainRun = await settled((await ok<{ job: { id: string } }>({ method: 'POST', path: '/v1/backup-jobs/j2/run' }, 202, 'backup')).job.id);
  assert.is(plainRun.status, 'succeeded', JSON.stringify(plainRun.error));
  const tree = await ok({ path: `/v1/repos/r1/points/${plainRun.result.pointId}/tree?path=docs` }, 200, 'read');
  assert.equal(tree.entries.map((e: any) => e.path), ['docs/deep'], 'the exclude applied');

  const removed = await ok({ method: 'DELETE', path: '/v1/backup-jobs/j2' });
  assert.is(removed.name, 'j2');
  await refused(await call({ path: '/v1/backup-jobs/j2' }, 'read'), 404, 'NOT_FOUND', 'removed job');
  assert.equal((await ok({ path: `/v1/repos/r1/points?series=plain` }, 200, 'read')).points.length, 1, 'its points stay');
});

test('passwords: create, list, show, rotate (earlier points still open), remove (IN_USE, then force); nothing secret in any answer', async () => {
  const created = await ok({ method: 'POST', path: '/v1/passwords', json: { name: 'bp', purpose: 'bundle', password: BUNDLE_PASSWORD, kdf: KDF } }, 201);
  assert.equal([created.name, created.purpose, created.currentVersion], ['bp', 'bundle', 1]);
  await refused(await call({ method: 'POST', path: '/v1/passwords', json: { name: 'bp', password: 'other' } }), 409, 'ALREADY_EXISTS', 'taken name');
  await refused(await call({ method: 'POST', path: '/v1/passwords', json: { name: 'weak', password: 'x', kdf: { memoryKiB: 1, iterations: 1, parallelism: 1 } } }), 400, 'KDF_PARAMS_OUT_OF_RANGE', 'kdf bounds');
  const { passwords } = await ok<{ passwords: any[] }>({ path: '/v1/passwords' });
  assert.equal(passwords.map((p) => [p.name, p.jobs]), [['bp', []], ['elsewhere', []], ['pw', ['j1']]]);
  const shown = await ok({ path: '/v1/passwords/pw' });
  assert.equal([shown.jobs, shown.points.length >= 1, shown.versions[0].kms], [['j1'], true, false]);

  const rotated = await ok({ method: 'POST', path: '/v1/passwords/pw/rotate', json: { password: ROTATED } });
  assert.equal([rotated.currentVersion, rotated.versions.length], [2, 2]);
  const after = await settled((await ok<{ job: { id: string } }>({ method: 'POST', path: '/v1/backup-jobs/j1/run' }, 202, 'backup')).job.id);
  assert.is(after.status, 'succeeded', JSON.stringify(after.error));
  assert.is((await call({ path: `/v1/repos/r1/points/${POINT}/file?path=src/a.txt` }, 'read').then((r) => r.text())), 'alpha\n', 'the first point still opens');

  await refused(await call({ method: 'DELETE', path: '/v1/passwords/pw' }), 409, 'IN_USE', 'used by j1');
  const removed = await ok({ method: 'DELETE', path: '/v1/passwords/pw?force=true' });
  assert.equal([removed.name, removed.versions, removed.jobs], ['pw', 2, ['j1']]);
  await refused(await call({ method: 'POST', path: '/v1/backup-jobs/j1/run' }, 'backup'), 404, 'NOT_FOUND', 'a job whose password was removed');
  for (const key of ['hash', 'salt', 'password']) {
    for (const body of [created, shown, rotated, removed]) assert.not.ok(JSON.stringify(body).includes(`"${key}":`), `a "${key}" member in an answer`);
  }
  // Put pw's first version back (as a bundle import would), so the first point opens again.
  await server.catalog.createPassword({ name: 'pw', purpose: 'backup', version: FIRST_VERSION });
  assert.is(await (await call({ path: `/v1/repos/r1/points/${POINT}/file?path=src/a.txt` }, 'read')).text(), 'alpha\n');
});

test('bundle: export with a password, import elsewhere (conflicts refused whole, then replace), wrong or missing password 422, oversize 413', async () => {
  const res = await call({ method: 'POST', path: '/v1/bundle/export', json: { password: BUNDLE_PASSWORD, kdf: KDF } });
  assert.is(res.status, 200);
  assert.is(res.headers.get('content-type'), 'application/octet-stream');
  assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="bunker-config-\d{4}-\d{2}-\d{2}\.bundle"$/);
  const bundle = new Uint8Array(await res.arrayBuffer());
  assert.is(new TextDecoder().decode(bundle.subarray(0, 8)), 'BNKBUNDL');
  const named = await call({ method: 'POST', path: '/v1/bundle/export', json: { passwordName: 'bp' } });
  assert.is(named.status, 200);

  await using other = await testServer();
  const upload = (headers: Record<string, string>, query = '', body: BodyInit = bundle as Uint8Array<ArrayBuffer>) => other.request(`/v1/bundle/import${query}`, {
    method: 'POST', headers: { 'content-type': 'application/octet-stream', ...headers }, body,
  });
  await refused(await upload({}), 422, 'PASSWORD_REQUIRED', 'no password');
  await refused(await upload({ 'x-bunker-bundle-password': 'wrong' }), 422, 'WRONG_PASSWORD', 'wrong password');
  await refused(await upload({ 'x-bunker-bundle-password': BUNDLE_PASSWORD }), 409, 'ALREADY_EXISTS', 'its own tokens conflict with the bundle\'s');
  assert.equal((await (await other.request('/v1/passwords')).json()).passwords, [], 'a refused import leaves nothing');
  const imported = await (await upload({ 'x-bunker-bundle-password': BUNDLE_PASSWORD }, '?replace=true')).json();
  assert.equal([imported.replaced, imported.keySource, imported.added.jobs, imported.added.tokens], [true, 'password', 1, 3]);
  // The imported tokens are the first server's: its admin token now works here, the old one no more.
  const asFirst = await other.app.request('/v1/passwords', { headers: { authorization: `Bearer ${server.tokens.admin}` } });
  assert.equal((await asFirst.json()).passwords.map((p: any) => p.name), ['bp', 'elsewhere', 'pw']);
  await refused(await other.request('/v1/passwords'), 401, 'UNAUTHORIZED', 'replaced token');

  const oversize = new Uint8Array(16 * 1024 * 1024 + 1);
  await refused(await call({ method: 'POST', path: '/v1/bundle/import', body: oversize, headers: { 'content-type': 'application/octet-stream' } }), 413, 'TOO_LARGE', 'oversize bundle');
  await refused(await call({ method: 'POST', path: '/v1/bundle/import', body: new Uint8Array(100), headers: { 'content-type': 'application/octet-stream' } }), 422, ['TAMPERED', 'UNSUPPORTED_VERSION'], 'not a bundle');
});

test('KMS settings without KMS: GET says disabled, DELETE is 404', async () => {
  assert.equal(await ok({ path: '/v1/kms' }), { enabled: false });
  await refused(await call({ method: 'DELETE', path: '/v1/kms' }), 404, 'NOT_FOUND', 'not enabled');
});

// After the tests that list passwords and repositories exactly; before the damaged-chunk one.
test('copy: a job copies the point into another repository of the server, re-encrypted under a named password; it restores exactly', async () => {
  await ok({ method: 'POST', path: '/v1/passwords', json: { name: 'copies', password: 'the copies password', kdf: KDF } }, 201);
  // A new encrypted backup in the target needs a named password: refused before any job.
  await refused(await call({ method: 'POST', path: `/v1/repos/r1/points/${POINT}/copy`, json: { to: 'copies' } }, 'backup'), 422, 'PASSWORD_REQUIRED', 'no password');
  await refused(await call({ method: 'POST', path: `/v1/repos/r1/points/${POINT}/copy`, json: { to: 'r1', password: 'copies' } }, 'backup'), 400, 'USAGE', 'same repository');
  const started = await ok<{ job: { id: string } }>({ method: 'POST', path: `/v1/repos/r1/points/${POINT}/copy`, json: { to: 'copies', password: 'copies' } }, 202, 'backup');
  const done = await settled(started.job.id);
  assert.is(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal([done.kind, done.result.repository, done.result.sourcePointId], ['copy', 'copies', POINT]);
  const copied = done.result.pointId as string;
  const listed = await ok<{ points: { id: string }[] }>({ path: '/v1/repos/copies/points' }, 200, 'read');
  assert.equal(listed.points.map((p) => p.id), [copied]);
  const bytes = new Uint8Array(await (await call({ path: `/v1/repos/copies/points/${copied}/file?path=src/data/blob.bin` }, 'read')).arrayBuffer());
  assert.ok(bytes.length === 300_000 && bytes.every((b, i) => b === (FILES['data/blob.bin'] as Uint8Array)[i]), 'the copy holds the exact bytes');
  // Re-encrypted: the copy's salt is the named password's, not the source point's.
  const copyRecord = await (await Repository.open(new DirectoryStorage(join(server.reposRoot, 'copies')))).readPoint(copied);
  const sourceRecord = await (await Repository.open(new DirectoryStorage(join(server.reposRoot, 'r1')))).readPoint(POINT);
  assert.equal(copyRecord.salt, (await server.catalog.currentPassword('copies', 'backup')).salt);
  assert.not.equal(copyRecord.salt, sourceRecord.salt);
});

test('no password, password hash or token in any response or log line', async () => {
  const secrets = [PASSWORD, ROTATED, OTHER, BUNDLE_PASSWORD, 'the copies password', ...Object.values(server.tokens)];
  for (const name of ['pw', 'bp', 'elsewhere', 'copies']) {
    const { hash, salt } = await server.catalog.currentPassword(name, name === 'bp' ? 'bundle' : 'backup');
    secrets.push(toHex(hash), toBase64(hash), toHex(salt), toBase64(salt));
  }
  assert.ok(seen.length > 100, `only ${seen.length} answers seen`);
  for (const text of [...seen, ...server.log]) {
    for (const secret of secrets) assert.not.ok(text.includes(secret), `a secret in: ${text.slice(0, 200)}`);
  }
  assert.ok(server.log.some((line) => line.startsWith('POST /v1/passwords 201')), 'requests are logged');
});

test('a damaged chunk: the file and tar streams break off rather than send wrong bytes, and the log says why', async () => {
  // Last: this damages r1. The largest pack holds blob.bin's chunks; flip a byte in its middle.
  const packs = await server.deps.repositories.storage('r1').list('packs/');
  const sizes = await Promise.all(packs.map(async (key) => [key, (await stat(join(server.reposRoot, 'r1', key))).size] as const));
  const [largest] = sizes.sort((a, b) => b[1] - a[1])[0]!;
  const path = join(server.reposRoot, 'r1', largest);
  const bytes = await readFile(path);
  bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
  await chmod(path, 0o600);
  await writeFile(path, bytes);

  const file = await call({ path: `/v1/repos/r1/points/${POINT}/file?path=src/data/blob.bin` }, 'read');
  assert.is(file.status, 200, 'the headers went out before the damaged chunk was reached: ' + (file.status === 200 ? '' : await file.clone().text()));
  await file.arrayBuffer().then(() => assert.unreachable('the body completed'), (error: unknown) => assert.ok(error, 'the body broke off'));
  const tar = await call({ path: `/v1/repos/r1/points/${POINT}/tar?path=src/data` }, 'read');
  assert.is(tar.status, 200);
  await tar.arrayBuffer().then(() => assert.unreachable('the tar completed'), (error: unknown) => assert.ok(error, 'the tar broke off'));
  assert.ok(server.log.some((line) => line.startsWith(`tar of point ${POINT.slice(0, 12)} stopped:`)), 'logged');
});

test.run();
