/**
 * AWS KMS through the real CLI (child processes, stdin closed, no terminal), against the
 * emulator over a socket: enable KMS, create a named password, back up, delete the whole
 * BUNKER_HOME, restore with no password input at all; then each failure — no credentials,
 * wrong credentials, key disabled, key pending deletion, KMS down — is named before the
 * password path takes over; status, disable, and bundles without KMS.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KmsEmulator, TEST_PRINCIPAL } from './kms/emulator.ts';
import { isolatedAwsEnv } from './kms/aws-env.ts';
import { runCli, tempDir, TEST_KDF_FLAG } from './helpers.ts';
import { snapshotTree, writeTree } from './tree.ts';

const work = await tempDir('bunker-cli-kms-');
const emulator = await KmsEmulator.start();
test.after(async () => {
  await emulator.stop();
  await work[Symbol.asyncDispose]();
});
let serial = 0;
const fresh = (what: string): string => join(work.path, `${what}-${serial++}`);

/** The test's home, AWS configuration and endpoint; nothing inherited from the machine. */
function env(home: string, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    BUNKER_PASSWORD: undefined, BUNKER_PASSWORD_FILE: undefined, BUNKER_REPO: undefined, BUNKER_HOME: home,
    ...isolatedAwsEnv(work.path, {
      AWS_ACCESS_KEY_ID: TEST_PRINCIPAL.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_PRINCIPAL.secretAccessKey,
      AWS_REGION: emulator.region, AWS_ENDPOINT_URL_KMS: emulator.endpoint,
    }),
    ...extra,
  };
}

async function ok(args: string[], home: string, extra: Record<string, string | undefined> = {}) {
  const result = await runCli(args, { env: env(home, extra) });
  assert.is(result.code, 0, `bunker ${args.join(' ')}: ${result.stderr}`);
  return result;
}

/** The JSON bodies of a directory repository's points (FORMAT.md §6.1: 16-byte prefix, then the body). */
async function pointBodies(repo: string): Promise<{ id: string; encryption: { kms?: { keyArn: string; context: Record<string, string> } } }[]> {
  const ids = await readdir(join(repo, 'points'));
  return Promise.all(ids.map(async (id) => {
    const bytes = await readFile(join(repo, 'points', id));
    return JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + bytes.readUInt32BE(12))));
  }));
}

/** A home with KMS enabled, a named password, and one backup of `src` into `repo` (outside the home). */
async function kmsBackup(keyId: string): Promise<{ home: string; repo: string; src: string }> {
  const home = fresh('home');
  const repo = fresh('repo');
  const src = fresh('src');
  await writeTree(src, { 'a.txt': 'alpha\n', 'sub/b.bin': new Uint8Array(70_000).map((_, i) => (i * 7) & 0xff) });
  const enabled = await ok(['kms', 'enable', '--key-id', keyId], home);
  assert.match(enabled.stdout, 'KMS enabled with key arn:aws:kms:us-east-1:111122223333:key/');
  assert.match(enabled.stdout, 'not applied to configuration bundles or self-backups');
  await ok(['password', 'create', 'laptop', '--kdf', TEST_KDF_FLAG], home, { BUNKER_PASSWORD: 'kms headline' });
  await ok(['backup', src, '--repo', repo, '--password', 'laptop', '--json'], home);
  return { home, repo, src };
}

test('headline: enable KMS, back up with a named password, delete BUNKER_HOME, restore with no password at all', async () => {
  const key = emulator.createKey();
  emulator.createAlias('alias/bunker-headline', key.keyId);
  const { home, repo, src } = await kmsBackup('alias/bunker-headline');
  const status = JSON.parse((await ok(['kms', 'status', '--json'], home)).stdout);
  assert.equal([status.enabled, status.keyArn, status.region, status.accountId], [true, key.arn, 'us-east-1', '111122223333']);
  const [body] = await pointBodies(repo);
  assert.is(body.encryption.kms!.keyArn, key.arn, 'the ARN, not the alias');
  assert.equal(Object.keys(body.encryption.kms!.context), ['bunker:purpose', 'bunker:repository', 'bunker:salt']);

  await rm(home, { recursive: true, force: true });
  const decrypts = emulator.operations().filter((op) => op === 'Decrypt').length;
  const target = fresh('restored');
  const restored = await ok(['restore', 'latest', '--repo', repo, '--target', target], home);
  assert.match(restored.stdout, 'key: password hash decrypted by AWS KMS');
  assert.equal(await snapshotTree(join(target, src.split('/').at(-1)!)), await snapshotTree(src));
  assert.is(emulator.operations().filter((op) => op === 'Decrypt').length, decrypts + 1);

  // The hash KMS gave back is now in the (new) product database: no KMS call, no prompt.
  const again = await ok(['restore', 'latest', '--repo', repo, '--target', fresh('again'), '--json'], home);
  assert.is(JSON.parse(again.stdout).keySource, 'catalog');
  assert.is(emulator.operations().filter((op) => op === 'Decrypt').length, decrypts + 1);
});

test('each KMS failure is named, then the password works; without one, PASSWORD_REQUIRED (never "wrong password")', async () => {
  const key = emulator.createKey();
  const { home, repo } = await kmsBackup(key.arn);
  await rm(home, { recursive: true, force: true });
  // Port 1: privileged, so no test (nor any unprivileged process) can be listening there.
  const downEndpoint = 'http://127.0.0.1:1';
  const cases: { what: string; extra: Record<string, string | undefined>; expect: string; before?: () => void; after?: () => void }[] = [
    { what: 'no credentials', extra: { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined }, expect: 'no AWS credentials found' },
    { what: 'wrong credentials', extra: { AWS_SECRET_ACCESS_KEY: 'not-the-secret' }, expect: 'AWS refused the credentials (InvalidSignatureException' },
    { what: 'KMS down', extra: { AWS_ENDPOINT_URL_KMS: downEndpoint, AWS_MAX_ATTEMPTS: '1' }, expect: `the KMS endpoint ${downEndpoint}` },
    { what: 'key disabled', extra: {}, expect: `KMS key ${key.arn} is disabled`, before: () => (key.state = 'Disabled'), after: () => (key.state = 'Enabled') },
    { what: 'key pending deletion', extra: {}, expect: `KMS key ${key.arn} is pending deletion`, before: () => (key.state = 'PendingDeletion'), after: () => (key.state = 'Enabled') },
  ];
  for (const c of cases) {
    c.before?.();
    try {
      const caseHome = fresh('home');
      const noPassword = await runCli(['restore', 'latest', '--repo', repo, '--target', fresh('t')], { env: env(caseHome, c.extra) });
      assert.is(noPassword.code, 5, `${c.what}: ${noPassword.stderr}`);
      assert.match(noPassword.stderr, `warning: AWS KMS was not used for backup "default": `, c.what);
      assert.match(noPassword.stderr, c.expect, c.what);
      assert.not.match(noPassword.stderr, 'wrong password', c.what);
      const withPassword = await runCli(['restore', 'latest', '--repo', repo, '--target', fresh('t'), '--json'], { env: env(caseHome, { ...c.extra, BUNKER_PASSWORD: 'kms headline' }) });
      assert.is(withPassword.code, 0, `${c.what}: ${withPassword.stderr}`);
      assert.is(JSON.parse(withPassword.stdout).keySource, 'password', c.what);
      assert.match(withPassword.stderr, c.expect, c.what);
    } finally {
      c.after?.();
    }
  }
});

test('kms enable refuses an unusable key; status and disable; later points carry no KMS blob; bundles never do', async () => {
  const home = fresh('home');
  const missing = await runCli(['kms', 'enable', '--key-id', '00000000-0000-4000-8000-00000000dead'], { env: env(home) });
  assert.is(missing.code, 19, missing.stderr);
  assert.match(missing.stderr, 'was not found');
  const disabled = emulator.createKey({ state: 'Disabled' });
  const refused = await runCli(['kms', 'enable', '--key-id', disabled.keyId, '--json'], { env: env(home) });
  assert.is(refused.code, 19);
  assert.is(JSON.parse(refused.stdout).error.code, 'KMS_KEY_UNUSABLE');
  const noCreds = await runCli(['kms', 'enable', '--key-id', disabled.keyId], { env: env(home, { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined }) });
  assert.is(noCreds.code, 18);
  assert.is(JSON.parse((await ok(['kms', 'status', '--json'], home)).stdout).enabled, false);

  const key = emulator.createKey();
  await ok(['kms', 'enable', '--key-id', key.keyId], home);
  assert.match((await ok(['kms', 'status', '--check'], home)).stdout, `KMS enabled with key ${key.arn}`);
  const src = fresh('src');
  await writeTree(src, { f: 'x' });
  const repo = fresh('repo');
  const first = JSON.parse((await ok(['backup', src, '--repo', repo, '--kdf', TEST_KDF_FLAG, '--json'], home, { BUNKER_PASSWORD: 'pw' })).stdout);
  await ok(['kms', 'disable'], home);
  assert.is(JSON.parse((await ok(['kms', 'status', '--json'], home)).stdout).enabled, false);
  const second = JSON.parse((await ok(['backup', src, '--repo', repo, '--json'], home, { BUNKER_PASSWORD: 'pw' })).stdout);
  const bodies = new Map((await pointBodies(repo)).map((b) => [b.id, b]));
  assert.is(bodies.get(first.pointId)!.encryption.kms!.keyArn, key.arn);
  assert.is(bodies.get(second.pointId)!.encryption.kms, undefined);

  // A bundle is the bundle password's alone: exported and imported with no KMS call, and it
  // opens on a machine with no AWS credentials at all.
  const requests = emulator.requests.length;
  const bundle = `${fresh('bundle')}.bundle`;
  await ok(['config', 'export', '--out', bundle], home, { BUNKER_PASSWORD: 'bundle pw' });
  await ok(['config', 'import', bundle], fresh('home'), { BUNKER_PASSWORD: 'bundle pw', AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_ENDPOINT_URL_KMS: undefined });
  assert.is(emulator.requests.length, requests);
});

test('a new KMS key: points made under the earlier key still restore through KMS; a key never enabled here is refused', async () => {
  const home = fresh('home');
  const [first, second] = [emulator.createKey(), emulator.createKey()];
  await ok(['kms', 'enable', '--key-id', first.keyId], home);
  const src = fresh('src');
  await writeTree(src, { f: 'under the first key' });
  const repo = fresh('repo');
  await ok(['backup', src, '--repo', repo, '--kdf', TEST_KDF_FLAG], home, { BUNKER_PASSWORD: 'typed' });
  await ok(['kms', 'enable', '--key-id', second.keyId], home);
  assert.equal(JSON.parse((await ok(['kms', 'status', '--json'], home)).stdout).trustedKeyArns, [first.arn, second.arn]);
  const restored = await ok(['restore', 'latest', '--repo', repo, '--target', fresh('t'), '--json'], home);
  assert.is(JSON.parse(restored.stdout).keySource, 'kms');

  // Another home whose only KMS key is a third one: the point's key is not trusted there.
  const other = fresh('home');
  await ok(['kms', 'enable', '--key-id', emulator.createKey().keyId], other);
  const refused = await runCli(['restore', 'latest', '--repo', repo, '--target', fresh('t')], { env: env(other) });
  assert.is(refused.code, 5, refused.stderr);
  assert.match(refused.stderr, `names KMS key ${first.arn}, which is not the configured KMS key`);
});

test('named passwords: created or rotated while KMS is enabled keep a KMS copy; --wrap-existing wraps earlier ones; an unusable key stores nothing', async () => {
  const versionsKms = async (home: string, name: string): Promise<boolean[]> =>
    (JSON.parse((await ok(['password', 'show', name, '--json'], home)).stdout).versions as { kms: boolean }[]).map((v) => v.kms);
  const key = emulator.createKey();
  const home = fresh('home');
  await ok(['kms', 'enable', '--key-id', key.keyId], home);
  await ok(['password', 'create', 'wrapped', '--kdf', TEST_KDF_FLAG], home, { BUNKER_PASSWORD: 'first' });
  assert.equal(await versionsKms(home, 'wrapped'), [true]);
  await ok(['password', 'rotate', 'wrapped'], home, { BUNKER_PASSWORD: 'second' });
  assert.equal(await versionsKms(home, 'wrapped'), [true, true]);
  const shown = (await ok(['password', 'show', 'wrapped', '--json'], home)).stdout;
  assert.not.match(shown, 'ciphertext');

  // Before KMS: no copy; kms enable --wrap-existing wraps every version, once.
  const before = fresh('home');
  await ok(['password', 'create', 'old', '--kdf', TEST_KDF_FLAG], before, { BUNKER_PASSWORD: 'old one' });
  await ok(['password', 'rotate', 'old'], before, { BUNKER_PASSWORD: 'old two' });
  await ok(['password', 'create', 'other', '--kdf', TEST_KDF_FLAG], before, { BUNKER_PASSWORD: 'other' });
  assert.equal(await versionsKms(before, 'old'), [false, false]);
  const enabled = JSON.parse((await ok(['kms', 'enable', '--key-id', key.keyId, '--wrap-existing', '--json'], before)).stdout);
  assert.is(enabled.wrapped, 3);
  assert.equal(await versionsKms(before, 'old'), [true, true]);
  assert.equal(await versionsKms(before, 'other'), [true]);
  const again = await ok(['kms', 'enable', '--key-id', key.keyId, '--wrap-existing'], before);
  assert.match(again.stdout, 'encrypted the hashes of 0 existing password versions');

  // KMS enabled but the key disabled: create and rotate fail with the typed error, nothing stored.
  key.state = 'Disabled';
  try {
    const refused = await runCli(['password', 'create', 'never', '--kdf', TEST_KDF_FLAG, '--json'], { env: env(home, { BUNKER_PASSWORD: 'x' }) });
    assert.is(refused.code, 19, refused.stderr);
    const error = JSON.parse(refused.stdout).error;
    assert.is(error.code, 'KMS_KEY_UNUSABLE');
    assert.is(error.reason, 'key-disabled');
    assert.match(error.message, 'was not created (nothing stored)');
    const list = JSON.parse((await ok(['password', 'list', '--json'], home)).stdout) as { name: string }[];
    assert.equal(list.map((p) => p.name), ['wrapped']);
    const rotate = await runCli(['password', 'rotate', 'wrapped'], { env: env(home, { BUNKER_PASSWORD: 'third' }) });
    assert.is(rotate.code, 19, rotate.stderr);
    assert.match(rotate.stderr, 'was not rotated (nothing stored)');
    assert.equal(await versionsKms(home, 'wrapped'), [true, true]);
  } finally {
    key.state = 'Enabled';
  }
});

test.run();
