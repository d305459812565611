/**
 * KMS settings through the HTTP API, against the KMS emulator over a socket with the server's
 * own (test) AWS credentials: PUT checks the key like `bunker kms enable` and refuses an
 * unusable one without changing anything; while enabled, named passwords and backups get
 * their KMS copies, and a point whose hash the catalog lost opens through KMS; DELETE disables.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { KmsEmulator, TEST_PRINCIPAL } from './kms/emulator.ts';
import { isolatedAwsEnv } from './kms/aws-env.ts';
import { TEST_KDF, tempDir } from './helpers.ts';
import { testServer } from './server-kit.ts';
import { writeTree } from './tree.ts';

const PASSWORD = 'api-kms password';
const work = await tempDir('bunker-api-kms-');
const emulator = await KmsEmulator.start();
// The server's environment: this process's (one test file per process).
for (const [name, value] of Object.entries(isolatedAwsEnv(work.path, {
  AWS_ACCESS_KEY_ID: TEST_PRINCIPAL.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_PRINCIPAL.secretAccessKey, AWS_REGION: emulator.region,
}))) {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
const server = await testServer();
test.after(async () => {
  await server[Symbol.asyncDispose]();
  await emulator.stop();
  await work[Symbol.asyncDispose]();
});

const seen: string[] = [];

async function call(method: string, path: string, json?: unknown): Promise<{ status: number; body: any }> {
  const res = await server.request(path, {
    method, ...(json === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) }),
  });
  const text = await res.text();
  seen.push(text);
  return { status: res.status, body: JSON.parse(text) };
}

async function ok(method: string, path: string, json?: unknown, status = 200): Promise<any> {
  const res = await call(method, path, json);
  assert.is(res.status, status, `${method} ${path}: ${JSON.stringify(res.body)}`);
  return res.body;
}

test('PUT /v1/kms refuses a disabled key (422, nothing saved), enables a usable one; GET shows it', async () => {
  const disabled = emulator.createKey({ state: 'Disabled' });
  const refused = await call('PUT', '/v1/kms', { keyId: disabled.arn, endpoint: emulator.endpoint });
  assert.equal([refused.status, refused.body.error.code], [422, 'KMS_KEY_UNUSABLE']);
  assert.equal(await ok('GET', '/v1/kms'), { enabled: false }, 'nothing saved');

  const key = emulator.createKey();
  emulator.createAlias('alias/bunker-api', key.keyId);
  const enabled = await ok('PUT', '/v1/kms', { keyId: 'alias/bunker-api', endpoint: emulator.endpoint });
  assert.equal([enabled.enabled, enabled.keyArn, enabled.region, enabled.endpoint, enabled.trustedKeyArns], [true, key.arn, emulator.region, emulator.endpoint, [key.arn]]);
  const shown = await ok('GET', '/v1/kms');
  assert.equal([shown.enabled, shown.keyArn], [true, key.arn]);
});

test('while enabled: a named password and a backup get KMS copies; a point whose hash the catalog lost opens through KMS', async () => {
  const created = await ok('POST', '/v1/passwords', { name: 'pw', password: PASSWORD, kdf: { memoryKiB: TEST_KDF.memoryKiB, iterations: 1, parallelism: 1 } }, 201);
  assert.is(created.name, 'pw');
  assert.is((await ok('GET', '/v1/passwords/pw')).versions[0].kms, true);

  const src = join(work.path, 'src');
  await writeTree(src, { 'a.txt': 'kms alpha\n' });
  await ok('POST', '/v1/repos', { name: 'r' }, 201);
  await ok('POST', '/v1/backup-jobs', { name: 'job', sources: [src], repo: 'r', password: 'pw' }, 201);
  const run = await ok('POST', '/v1/backup-jobs/job/run', undefined, 202);
  const done = await server.deps.jobs.settled(run.job.id);
  assert.is(done.status, 'succeeded', JSON.stringify(done.error));
  const pointId = (done.result as { pointId: string }).pointId;
  assert.is((await ok('GET', `/v1/repos/r/points/${pointId}`)).kms, true);

  // The catalog forgets the hash: the point still opens, through KMS, and the hash is kept again.
  await ok('DELETE', '/v1/passwords/pw?force=true');
  const decrypts = emulator.operations().filter((op) => op === 'Decrypt').length;
  const tree = await ok('GET', `/v1/repos/r/points/${pointId}/tree?path=src`);
  assert.equal(tree.entries.map((e: any) => e.path), ['src/a.txt']);
  assert.is(emulator.operations().filter((op) => op === 'Decrypt').length, decrypts + 1, 'one KMS Decrypt');
  const { passwords } = await ok('GET', '/v1/passwords');
  assert.equal(passwords.map((p: any) => p.name.slice(0, 4)), ['kms-'], 'the recovered hash is kept as a named password');
  await ok('GET', `/v1/repos/r/points/${pointId}/tree?path=src`);
  assert.is(emulator.operations().filter((op) => op === 'Decrypt').length, decrypts + 1, 'the next request needs no KMS');
});

test('DELETE /v1/kms disables (the key stays trusted for restore); a second DELETE is 404', async () => {
  const disabled = await ok('DELETE', '/v1/kms');
  assert.equal([disabled.enabled, disabled.trustedKeyArns.length], [false, 1]);
  assert.is((await ok('GET', '/v1/kms')).enabled, false);
  const again = await call('DELETE', '/v1/kms');
  assert.equal([again.status, again.body.error.code], [404, 'NOT_FOUND']);
});

test('no AWS secret, password or token in any answer or log line', () => {
  const secrets = [TEST_PRINCIPAL.secretAccessKey, PASSWORD, ...Object.values(server.tokens)];
  for (const text of [...seen, ...server.log]) for (const secret of secrets) assert.not.ok(text.includes(secret), `a secret in: ${text.slice(0, 200)}`);
});

test.run();
