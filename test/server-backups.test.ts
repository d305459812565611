/**
 * The backup upload route (server/routes/backups.ts, FORMAT.md §16.3) in-process: a tar body
 * becomes a point encrypted under the server's named password, in a repository created on first
 * use; tokens and scopes; every refusal with its code and nothing committed; progress and
 * cancellation through the job.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packTar, type TarEntry } from 'modern-tar';
import { CatalogKeyResolver, derivePasswordVersion, PasswordKeyResolver, Repository } from '../core/mod.ts';
import { DirectoryStorage } from '../core/host/directory-storage.ts';
import { TEST_KDF } from './helpers.ts';
import { testServer, type TestServer } from './server-kit.ts';

const T0 = Date.UTC(2024, 1, 2, 3, 4, 5);
const text = (s: string) => new TextEncoder().encode(s);
const file = (name: string, body: string): TarEntry => ({ header: { name, size: text(body).length, mtime: new Date(T0) }, body });

async function withPassword(server: TestServer): Promise<void> {
  await server.catalog.createPassword({ name: 'vault', purpose: 'backup', version: await derivePasswordVersion('the server password', TEST_KDF) });
  await server.catalog.createPassword({ name: 'bundles', purpose: 'bundle', version: await derivePasswordVersion('another', TEST_KDF) });
}

function upload(server: TestServer, query: string, body: Uint8Array | ReadableStream<Uint8Array>, options: { scope?: 'read' | 'backup' | 'admin' | null; method?: string; type?: string | null; repo?: string } = {}) {
  const headers: Record<string, string> = {};
  if (options.type !== null) headers['content-type'] = options.type ?? 'application/x-tar';
  return server.request(`/v1/repos/${options.repo ?? 'r'}/backups?${query}`, {
    method: options.method ?? 'POST', body: body as BodyInit, headers, scope: options.scope === undefined ? 'backup' : options.scope,
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit & { scope?: 'read' | 'backup' | 'admin' | null });
}

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

async function pointFiles(server: TestServer, repo = 'r'): Promise<string[]> {
  return (await readdir(join(server.reposRoot, repo, 'points')).catch(() => [])).sort();
}

test('a tar upload becomes a point encrypted under the named password, in a repository created on first use; POST and PUT', async () => {
  await using server = await testServer();
  await withPassword(server);
  const tar = await packTar([{ header: { name: 'docs/', type: 'directory', size: 0, mtime: new Date(T0) } }, file('docs/a.txt', 'alpha'), file('docs/b.txt', 'beta')]);
  const res = await upload(server, 'series=laptop&password=vault&host=sender', tar);
  assert.is(res.status, 201);
  const first = await res.json() as { jobId: string; repository: string; pointId: string; series: string; parentId: string | null; keySource: string; stats: Record<string, number>; warnings: string[] };
  assert.match(first.jobId, /^[0-9a-f]{32}$/);
  assert.match(first.pointId, /^[0-9a-f]{64}$/);
  assert.equal([first.repository, first.series, first.parentId, first.keySource, first.warnings], ['r', 'laptop', null, 'catalog', []]);
  assert.equal([first.stats.files, first.stats.dirs, first.stats.bytes], [2, 1, 9]);
  const second = await upload(server, 'series=laptop&password=vault', tar, { method: 'PUT', type: null });
  assert.is(second.status, 201);
  const again = await second.json() as { pointId: string; parentId: string };
  assert.is(again.parentId, first.pointId);
  assert.equal(await pointFiles(server), [first.pointId, again.pointId].sort());

  // Only the server's catalog opens it: no password anywhere but its stored hash.
  const repo = await Repository.open(new DirectoryStorage(join(server.reposRoot, 'r')));
  const point = await repo.unlock(await repo.resolvePoint(first.pointId), new PasswordKeyResolver(async () => undefined, [new CatalogKeyResolver(async () => server.catalog)]));
  const manifest = await repo.readManifest(point);
  assert.equal(manifest.entries.map((e) => e.path), ['docs', 'docs/a.txt', 'docs/b.txt']);
  assert.is(manifest.header.host, 'sender');
  assert.ok(point.record.body.encryption !== null, 'encrypted');
  // Recorded in the catalog, so `password show` knows the point.
  assert.ok(server.catalog.listPoints().some((p) => p.pointId === first.pointId && p.repository === join(server.reposRoot, 'r')));
  // The job stays visible with its result.
  const job = await server.request(`/v1/jobs/${first.jobId}`, { scope: 'backup' });
  const view = await job.json() as { kind: string; status: string; result: { pointId: string } };
  assert.equal([view.kind, view.status, view.result.pointId], ['backup', 'succeeded', first.pointId]);
});

test('a storage failure on the server: 503 STORAGE_FAILED naming the object, not the server\'s directories (they go to its log); no point', async () => {
  await using server = await testServer();
  await withPassword(server);
  const tar = await packTar([file('a.txt', 'alpha')]);
  assert.is((await upload(server, 'series=s&password=vault', tar)).status, 201);
  // A plain file where the repository's packs/ directory must be.
  await rm(join(server.reposRoot, 'r', 'packs'), { recursive: true });
  await writeFile(join(server.reposRoot, 'r', 'packs'), 'in the way');
  const res = await upload(server, 'series=s&password=vault', await packTar([file('b.txt', 'a new file')]));
  assert.is(res.status, 503);
  const error = await errorOf(res);
  assert.is(error.code, 'STORAGE_FAILED');
  assert.match(error.message, /packs\//);
  assert.not.ok(error.message.includes(server.reposRoot), error.message);
  const jobs = await (await server.request('/v1/jobs', { scope: 'backup' })).json() as { jobs: { status: string; error: { code: string; message: string } | null }[] };
  const failed = jobs.jobs.find((j) => j.status === 'failed')!;
  assert.is(failed.error!.code, 'STORAGE_FAILED');
  assert.not.ok(failed.error!.message.includes(server.reposRoot), failed.error!.message);
  assert.ok(server.log.some((line) => line.includes(join(server.reposRoot, 'r'))), 'the server log says where');
  assert.is((await pointFiles(server)).length, 1);
});

test('no token is 401, a read token 403: nothing is created', async () => {
  await using server = await testServer();
  await withPassword(server);
  const tar = await packTar([file('a', 'x')]);
  const none = await upload(server, 'series=s&password=vault', tar, { scope: null });
  assert.is(none.status, 401);
  assert.is((await errorOf(none)).code, 'UNAUTHORIZED');
  const read = await upload(server, 'series=s&password=vault', tar, { scope: 'read' });
  assert.is(read.status, 403);
  assert.is((await errorOf(read)).code, 'FORBIDDEN');
  assert.equal(await readdir(server.reposRoot).catch(() => []), []);
});

test('a bad query is 400 USAGE before anything is read or created; an unknown password is 404', async () => {
  await using server = await testServer();
  await withPassword(server);
  const tar = await packTar([file('a', 'x')]);
  const cases: [string, number, string, RegExp?][] = [
    ['password=vault', 400, 'USAGE', /series/],
    ['series=s', 400, 'USAGE', /password/],
    ['series=s&password=vault&compression=lz4', 400, 'USAGE', /compression|zstd/],
    ['series=s&password=vault&color=blue', 400, 'USAGE', /color/],
    ['series=%2Fbad&password=vault', 400, 'USAGE', /backup name/],
    ['series=s&password=not%20a%20name!', 400, 'USAGE'],
    ['series=s&password=bundles', 400, 'USAGE', /bundle password/],
    ['series=s&password=missing', 404, 'NOT_FOUND', /no stored password/],
  ];
  for (const [query, status, code, pattern] of cases) {
    const res = await upload(server, query, tar);
    const error = await errorOf(res);
    assert.is(res.status, status, `${query}: ${error.message}`);
    assert.is(error.code, code, query);
    if (pattern) assert.match(error.message, pattern, query);
    assert.not.match(error.message, /not a name!/, 'a password-like name is never echoed');
  }
  const json = await upload(server, 'series=s&password=vault', tar, { type: 'application/json' });
  assert.is(json.status, 400);
  assert.match((await errorOf(json)).message, /Content-Type: application\/x-tar/);
  const bad = await upload(server, 'series=s&password=vault', tar, { repo: 'no%20good' });
  assert.is(bad.status, 400);
  assert.equal(await readdir(server.reposRoot).catch(() => []), []);
});

test('create=false: an unknown repository is 404 NOT_FOUND and none is created', async () => {
  await using server = await testServer();
  await withPassword(server);
  const res = await upload(server, 'series=s&password=vault&create=false', await packTar([file('a', 'x')]), { repo: 'elsewhere' });
  assert.is(res.status, 404);
  assert.match((await errorOf(res)).message, /no repository named "elsewhere"/);
  assert.equal(await readdir(server.reposRoot).catch(() => []), []);
});

test('a hostile tar gets its typed error and commits no point (unsafe path 400, truncated 422, hard link 400)', async () => {
  await using server = await testServer();
  await withPassword(server);
  const good = await packTar([file('ok', 'fine'), file('other', 'x'.repeat(3000))]);
  const cases: [Uint8Array, number, string][] = [
    [await packTar([file('ok', 'fine'), file('../../etc/cron.d/x', 'evil')]), 400, 'UNSAFE_PATH'],
    [await packTar([{ header: { name: 'etc', type: 'symlink', linkname: '/etc', size: 0 } }, file('etc/passwd', 'x')]), 400, 'UNSAFE_PATH'],
    [good.subarray(0, 2048), 422, 'TAMPERED'],
    [await packTar([file('a', '1'), { header: { name: 'b', type: 'link', linkname: 'a', size: 0 } }]), 400, 'USAGE'],
    [await packTar([file('a', '1'), file('a', '2')]), 400, 'USAGE'],
  ];
  for (const [tar, status, code] of cases) {
    const res = await upload(server, 'series=s&password=vault', tar);
    const error = await errorOf(res);
    assert.is(res.status, status, error.message);
    assert.is(error.code, code, error.message);
    assert.equal(await pointFiles(server), [], 'no point');
  }
  const jobs = await (await server.request('/v1/jobs', { scope: 'backup' })).json() as { jobs: { status: string; error: { code: string } | null }[] };
  assert.equal(jobs.jobs.map((j) => j.status), cases.map(() => 'failed'));
  assert.equal(jobs.jobs.map((j) => j.error!.code), cases.map(([, , code]) => code));
});

test('progress shows in the job while the tar streams in; cancelling the job answers 409 CANCELLED and commits nothing', async () => {
  await using server = await testServer();
  await withPassword(server);
  const first = await packTar([file('first.txt', 'the first file')]);
  // The first entry, then nothing more until the job is cancelled (a slow client).
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(first.subarray(0, 1024));
    },
  });
  let answered = false;
  const answer = upload(server, 'series=s&password=vault', body).finally(() => (answered = true));
  // The route starts the job once it has checked the request; the job then waits for the rest
  // of the tar, so what is seen of it below holds until the cancel, on any machine.
  let id: string | undefined;
  while ((id = server.deps.jobs.list()[0]?.id) === undefined) {
    if (answered) assert.unreachable(`the upload was answered before its job started: ${(await answer).status}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // Its first progress (or its end): seen now, or waited for, subscribed in the same turn so
  // that none is missed.
  await new Promise<void>((resolve) => {
    const now = server.deps.jobs.get(id!);
    if (now.progress !== null || now.status !== 'running') return resolve();
    const unsubscribe = server.deps.jobs.subscribe(id!, () => {
      unsubscribe();
      resolve();
    });
  });
  const list = await (await server.request('/v1/jobs', { scope: 'backup' })).json() as { jobs: { id: string; status: string; progress: { files?: number; currentPath?: string } | null }[] };
  const job = list.jobs.find((j) => j.status === 'running');
  assert.ok(job?.progress, 'the running job reports progress');
  assert.equal([job!.progress!.files, job!.progress!.currentPath], [1, 'first.txt']);
  const cancel = await server.request(`/v1/jobs/${job!.id}/cancel`, { method: 'POST', scope: 'backup' });
  assert.is(cancel.status, 202);
  const res = await answer;
  assert.is(res.status, 409);
  assert.is((await errorOf(res)).code, 'CANCELLED');
  assert.equal(await pointFiles(server), []);
  assert.is((await server.deps.jobs.settled(job!.id)).status, 'cancelled');
});

test('the route is in the OpenAPI document with its scope', async () => {
  await using server = await testServer();
  const doc = await (await server.request('/v1/openapi.json', { scope: null })).json() as { paths: Record<string, Record<string, { 'x-bunker-scope'?: string; requestBody?: { content: Record<string, unknown> } }>> };
  const path = doc.paths['/v1/repos/{name}/backups']!;
  assert.is(path.post!['x-bunker-scope'], 'backup');
  assert.is(path.put!['x-bunker-scope'], 'backup');
  assert.ok(path.post!.requestBody!.content['application/x-tar']);
});

test.run();
