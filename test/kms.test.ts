/**
 * KMS protection of the password hash (core/kms/, core/host/aws-kms-client.ts) against the
 * emulator, through the real @aws-sdk/client-kms over a socket: the round trip, the standard
 * credential chain, and each failure as the specific typed error a user is told about — no
 * credentials, wrong credentials, access denied, key disabled, key pending deletion, wrong
 * key id, wrong region, KMS down, KMS hanging, wrong encryption context. Then restore step 2
 * end to end: KmsKeyResolver in the key chain, falling back to the password with the reason.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backup, BunkerError, PasswordKeyResolver, type Repository } from '../core/mod.ts';
import { restore } from '../core/restore.ts';
import { derivePasswordHash } from '../core/crypto/kdf.ts';
import { derivePasswordKeys } from '../core/crypto/keys.ts';
import { randomBytes, toBase64, toHex } from '../core/format/bytes.ts';
import { encodeDocument } from '../core/format/document.ts';
import { POINT_MAGIC, POINT_VERSION } from '../core/repo/recovery-point.ts';
import type { MemoryStorage } from '../core/storage/memory.ts';
import type { KmsClient } from '../core/kms/kms-client.ts';
import { classifyKmsFailure, KmsError, type KmsFailureReason } from '../core/kms/kms-errors.ts';
import { KmsKeyResolver } from '../core/kms/kms-key-resolver.ts';
import { checkKmsKey, parsePointKms, type PointKms, pointKmsContext, unwrapPasswordHash, wrapPasswordHash } from '../core/kms/kms-wrap.ts';
import { type AwsKmsClientOptions, awsKmsClient, awsKmsClientFactory } from '../core/host/aws-kms-client.ts';
import { credentialsOf, type EmulatorPrincipal, KmsEmulator, TEST_PRINCIPAL } from './kms/emulator.ts';
import { isolatedAwsEnv, withProcessEnv } from './kms/aws-env.ts';
import { memoryRepo, pseudoRandomBytes, SMALL_CHUNKER, tempDir, TEST_KDF } from './helpers.ts';
import { MemorySink, memorySource } from './bad-input-kit.ts';

const REPO_A = 'a'.repeat(64);
const REPO_B = 'b'.repeat(64);
const SALT = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const HASH = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);

// The whole file runs with no AWS configuration from the machine, and never near the
// instance metadata service; tests that exercise the chain set what they need.
const awsDir = await tempDir('bunker-aws-');
test.after(() => awsDir[Symbol.asyncDispose]());
const BASE_ENV = isolatedAwsEnv(awsDir.path);
for (const [name, value] of Object.entries(BASE_ENV)) {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

function kmsClient(emulator: KmsEmulator, options: AwsKmsClientOptions & { principal?: EmulatorPrincipal } = {}): KmsClient {
  const { principal = TEST_PRINCIPAL, ...rest } = options;
  return awsKmsClient({ region: emulator.region, endpoint: emulator.endpoint, maxAttempts: 1, credentials: credentialsOf(principal), ...rest });
}

async function expectKmsError(run: () => Promise<unknown>, reason: KmsFailureReason, message: RegExp | string): Promise<KmsError> {
  try {
    await run();
  } catch (error) {
    assert.instance(error, KmsError, String(error));
    const kms = error as KmsError;
    assert.is(kms.reason, reason, kms.message);
    assert.instance(kms, BunkerError);
    assert.is(kms.code, reason === 'wrong-context' ? 'TAMPERED' : /^(key-|untrusted)/.test(reason) ? 'KMS_KEY_UNUSABLE' : 'KMS_UNAVAILABLE');
    assert.match(kms.message, message, kms.message);
    // Nothing secret in what a user or a log sees.
    const shown = JSON.stringify(kms.toJSON());
    assert.not.match(shown, toBase64(HASH));
    assert.not.match(shown, toHex(HASH));
    return kms;
  }
  assert.unreachable(`expected a KmsError (${reason})`);
  throw new Error('unreachable');
}

test('wrap and unwrap H through the SDK: key checked, context bound to repository and salt, ARN recorded', async () => {
  await using emulator = await KmsEmulator.start();
  const key = emulator.createKey();
  emulator.createAlias('alias/bunker', key.keyId);
  const client = kmsClient(emulator);
  const described = await checkKmsKey(client, 'alias/bunker');
  assert.equal([described.keyArn, described.enabled, described.keyState, described.keySpec, described.keyUsage], [key.arn, true, 'Enabled', 'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT']);
  assert.instance(described.creationDate, Date);

  const kms = await wrapPasswordHash(client, { keyId: 'alias/bunker', hash: HASH, repositoryId: REPO_A, salt: SALT });
  assert.is(kms.keyArn, key.arn, 'the ARN KMS answered, not the alias');
  assert.equal(kms.context, { 'bunker:purpose': 'password hash v1', 'bunker:repository': REPO_A, 'bunker:salt': toBase64(SALT) });
  assert.equal(Object.keys(kms.context), ['bunker:purpose', 'bunker:repository', 'bunker:salt']);
  assert.equal(kms, parsePointKms(JSON.parse(JSON.stringify(kms))));
  assert.equal(await unwrapPasswordHash(client, { kms, repositoryId: REPO_A, salt: SALT }), HASH);
  assert.equal(emulator.operations(), ['DescribeKey', 'Encrypt', 'Decrypt']);
});

test('the standard credential chain: environment variables, the shared credentials file, a named profile', async () => {
  await using emulator = await KmsEmulator.start();
  const key = emulator.createKey();
  const chainClient = () => awsKmsClient({ endpoint: emulator.endpoint, maxAttempts: 1 });
  await withProcessEnv({ AWS_ACCESS_KEY_ID: TEST_PRINCIPAL.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_PRINCIPAL.secretAccessKey, AWS_REGION: emulator.region }, async () => {
    assert.is((await checkKmsKey(chainClient(), key.keyId)).keyArn, key.arn);
  });
  // Fresh file names: the SDK caches what it read (or failed to read) per path for the process.
  const files = { AWS_SHARED_CREDENTIALS_FILE: join(awsDir.path, 'chain-credentials'), AWS_CONFIG_FILE: join(awsDir.path, 'chain-config') };
  await writeFile(files.AWS_SHARED_CREDENTIALS_FILE, `[default]\naws_access_key_id = ${TEST_PRINCIPAL.accessKeyId}\naws_secret_access_key = ${TEST_PRINCIPAL.secretAccessKey}\n` +
    `[backup-admin]\naws_access_key_id = ${TEST_PRINCIPAL.accessKeyId}\naws_secret_access_key = ${TEST_PRINCIPAL.secretAccessKey}\n`);
  await writeFile(files.AWS_CONFIG_FILE, `[default]\nregion = ${emulator.region}\n[profile backup-admin]\nregion = ${emulator.region}\n`);
  await withProcessEnv(files, async () => {
    assert.is((await checkKmsKey(chainClient(), key.keyId)).keyArn, key.arn);
    await withProcessEnv({ AWS_PROFILE: 'backup-admin' }, async () => {
      assert.is((await checkKmsKey(chainClient(), key.keyId)).keyArn, key.arn);
    });
    // The endpoint from the SDK's own variable, as `AWS_ENDPOINT_URL_KMS=… bunker …` would use it.
    await withProcessEnv({ AWS_ENDPOINT_URL_KMS: emulator.endpoint }, async () => {
      const client = awsKmsClient({ maxAttempts: 1 });
      assert.is(client.endpoint, emulator.endpoint);
      assert.is((await checkKmsKey(client, key.keyId)).keyArn, key.arn);
    });
  });
  assert.equal(new Set(emulator.requests.map((r) => r.accessKeyId)), new Set([TEST_PRINCIPAL.accessKeyId]));
});

test('no credentials anywhere: no-credentials, and nothing reaches KMS', async () => {
  await using emulator = await KmsEmulator.start();
  const key = emulator.createKey();
  const client = awsKmsClient({ region: emulator.region, endpoint: emulator.endpoint, maxAttempts: 1 });
  await expectKmsError(() => checkKmsKey(client, key.keyId), 'no-credentials', /no AWS credentials found/);
  await expectKmsError(() => wrapPasswordHash(client, { keyId: key.arn, hash: HASH, repositoryId: REPO_A, salt: SALT }), 'no-credentials', /no AWS credentials/);
  assert.equal(emulator.requests, []);
});

test('wrong credentials: the signature is refused (bad secret, unknown access key, expired session token)', async () => {
  await using emulator = await KmsEmulator.start({ principals: [TEST_PRINCIPAL, { accessKeyId: 'ASIATEMPORARY0000001', secretAccessKey: 'temp-secret', sessionToken: 'the-token' }] });
  const key = emulator.createKey();
  const badSecret = kmsClient(emulator, { principal: { ...TEST_PRINCIPAL, secretAccessKey: 'not the secret' } });
  await expectKmsError(() => checkKmsKey(badSecret, key.keyId), 'bad-credentials', /AWS refused the credentials \(InvalidSignatureException: The request signature we calculated does not match/);
  const unknown = kmsClient(emulator, { principal: { accessKeyId: 'AKIANOBODY0000000000', secretAccessKey: 'x' } });
  await expectKmsError(() => checkKmsKey(unknown, key.keyId), 'bad-credentials', /UnrecognizedClientException: The security token included in the request is invalid/);
  const staleToken = kmsClient(emulator, { principal: { accessKeyId: 'ASIATEMPORARY0000001', secretAccessKey: 'temp-secret', sessionToken: 'an-old-token' } });
  await expectKmsError(() => checkKmsKey(staleToken, key.keyId), 'bad-credentials', /UnrecognizedClientException/);
  const goodToken = kmsClient(emulator, { principal: { accessKeyId: 'ASIATEMPORARY0000001', secretAccessKey: 'temp-secret', sessionToken: 'the-token' } });
  assert.is((await checkKmsKey(goodToken, key.keyId)).keyArn, key.arn);
});

test('access denied: the principal may encrypt but not decrypt', async () => {
  const limited: EmulatorPrincipal = { accessKeyId: 'AKIAENCRYPTONLY00001', secretAccessKey: 'encrypt-only', name: 'backup-writer', allow: ['Encrypt', 'DescribeKey'] };
  await using emulator = await KmsEmulator.start({ principals: [limited] });
  const key = emulator.createKey();
  const client = kmsClient(emulator, { principal: limited });
  const kms = await wrapPasswordHash(client, { keyId: key.keyId, hash: HASH, repositoryId: REPO_A, salt: SALT });
  await expectKmsError(() => unwrapPasswordHash(client, { kms, repositoryId: REPO_A, salt: SALT }), 'access-denied',
    new RegExp(`access denied: the AWS principal may not call kms:Decrypt on KMS key ${key.arn}: User: arn:aws:iam::111122223333:user/backup-writer is not authorized`));
});

test('key disabled, key pending deletion: named as such by the check and by Decrypt', async () => {
  await using emulator = await KmsEmulator.start();
  const key = emulator.createKey();
  const client = kmsClient(emulator);
  const kms = await wrapPasswordHash(client, { keyId: key.keyId, hash: HASH, repositoryId: REPO_A, salt: SALT });
  key.state = 'Disabled';
  await expectKmsError(() => checkKmsKey(client, key.keyId), 'key-disabled', `KMS key ${key.arn} is disabled (enable it in AWS KMS to use it)`);
  await expectKmsError(() => unwrapPasswordHash(client, { kms, repositoryId: REPO_A, salt: SALT }), 'key-disabled', `KMS key ${key.arn} is disabled`);
  await expectKmsError(() => wrapPasswordHash(client, { keyId: key.keyId, hash: HASH, repositoryId: REPO_A, salt: SALT }), 'key-disabled', 'is disabled');
  key.state = 'PendingDeletion';
  key.deletionDate = Date.UTC(2030, 0, 2) / 1000;
  await expectKmsError(() => checkKmsKey(client, key.keyId), 'key-pending-deletion', `KMS key ${key.arn} is pending deletion on 2030-01-02 (cancel the deletion in AWS KMS to use it)`);
  await expectKmsError(() => unwrapPasswordHash(client, { kms, repositoryId: REPO_A, salt: SALT }), 'key-pending-deletion', `KMS key ${key.arn} is pending deletion`);
});

test('wrong key id: not found (check and Decrypt); a key that is not a symmetric encryption key: unsuitable', async () => {
  await using emulator = await KmsEmulator.start();
  const key = emulator.createKey();
  const client = kmsClient(emulator);
  const missing = '1234abcd-12ab-34cd-56ef-1234567890ab';
  await expectKmsError(() => checkKmsKey(client, missing), 'key-not-found', `KMS key ${missing} was not found in the KMS endpoint ${emulator.endpoint} in region us-east-1 (check the key id and the region)`);
  const kms = await wrapPasswordHash(client, { keyId: key.keyId, hash: HASH, repositoryId: REPO_A, salt: SALT });
  const gone: PointKms = { ...kms, keyArn: `arn:aws:kms:us-east-1:111122223333:key/${missing}` };
  await expectKmsError(() => unwrapPasswordHash(client, { kms: gone, repositoryId: REPO_A, salt: SALT }), 'key-not-found', 'was not found');
  // An existing key, but not the one the blob was made under.
  const other: PointKms = { ...kms, keyArn: emulator.createKey().arn };
  await expectKmsError(() => unwrapPasswordHash(client, { kms: other, repositoryId: REPO_A, salt: SALT }), 'wrong-context', /IncorrectKeyException/);
  const signing = emulator.createKey({ keySpec: 'RSA_2048', keyUsage: 'SIGN_VERIFY' });
  await expectKmsError(() => checkKmsKey(client, signing.keyId), 'key-unsuitable', /is not a symmetric encryption key \(KeySpec RSA_2048, KeyUsage SIGN_VERIFY/);
});

test('wrong region: a signature scoped to another region, a key ARN of another region, no region at all', async () => {
  await using emulator = await KmsEmulator.start();
  const key = emulator.createKey();
  const elsewhere = kmsClient(emulator, { region: 'eu-west-1' });
  await expectKmsError(() => checkKmsKey(elsewhere, key.keyId), 'wrong-region', /refused a request signed for region eu-west-1: Credential should be scoped to a valid region/);
  await expectKmsError(() => checkKmsKey(elsewhere, key.arn), 'wrong-region', `KMS key ${key.arn} is in region us-east-1, but DescribeKey would go to region eu-west-1`);
  assert.is(emulator.requests.length, 1, 'the ARN mismatch is caught before any request');
  const noRegion = awsKmsClient({ endpoint: emulator.endpoint, maxAttempts: 1, credentials: credentialsOf(TEST_PRINCIPAL) });
  await expectKmsError(() => checkKmsKey(noRegion, key.keyId), 'no-region', /no AWS region is configured/);
});

test('KMS down (port closed): unreachable, after bounded retries', async () => {
  const emulator = await KmsEmulator.start();
  const key = emulator.createKey();
  await emulator.stop();
  const client = kmsClient(emulator, { maxAttempts: 3 });
  await expectKmsError(() => checkKmsKey(client, key.keyId), 'unreachable', `the KMS endpoint ${emulator.endpoint} in region us-east-1 is unreachable (ECONNREFUSED`);
});

test('KMS accepts and never answers: the per-attempt timeout, and the overall deadline', async () => {
  await using emulator = await KmsEmulator.start();
  const key = emulator.createKey();
  emulator.hang = true;
  const perAttempt = kmsClient(emulator, { requestTimeoutMs: 200, maxAttempts: 2 });
  await expectKmsError(() => checkKmsKey(perAttempt, key.keyId), 'unreachable', /is unreachable \((TimeoutError|ETIMEDOUT)/);
  // The overall deadline (300 ms) ends the call, not the 60 s per-attempt timeout: its message says so.
  const slow = kmsClient(emulator, { requestTimeoutMs: 60_000 });
  await expectKmsError(() => checkKmsKey(slow, key.keyId, { timeoutMs: 300 }), 'unreachable', `the KMS endpoint ${emulator.endpoint} in region us-east-1 did not answer DescribeKey within 0 s`);
});

test('wrong encryption context: a blob from another repository or salt never decrypts', async () => {
  await using emulator = await KmsEmulator.start();
  const key = emulator.createKey();
  const client = kmsClient(emulator);
  const kms = await wrapPasswordHash(client, { keyId: key.keyId, hash: HASH, repositoryId: REPO_A, salt: SALT });
  // Moved as is into a point of repository B: refused before KMS is asked.
  await expectKmsError(() => unwrapPasswordHash(client, { kms, repositoryId: REPO_B, salt: SALT, object: 'points/x' }), 'wrong-context',
    `the KMS-encrypted password hash in points/x does not belong here: it was made for repository ${REPO_A.slice(0, 12)}, not this one (${REPO_B.slice(0, 12)})`);
  assert.equal(emulator.operations(), ['Encrypt']);
  // Moved with a stored context rewritten to match: KMS itself refuses it.
  const forged: PointKms = { ...kms, context: pointKmsContext(REPO_B, SALT) };
  await expectKmsError(() => unwrapPasswordHash(client, { kms: forged, repositoryId: REPO_B, salt: SALT }), 'wrong-context', /KMS refused the ciphertext \(InvalidCiphertextException\)/);
  assert.is(emulator.requests.at(-1)?.errorType, 'InvalidCiphertextException');
  const otherSalt = new Uint8Array(16).fill(9);
  await expectKmsError(() => unwrapPasswordHash(client, { kms: { ...kms, context: pointKmsContext(REPO_A, otherSalt) }, repositoryId: REPO_A, salt: otherSalt }), 'wrong-context', /InvalidCiphertextException/);
  for (const bad of [null, 'x', { keyArn: 'alias/x', ciphertext: 'AA==', context: {} }, { keyArn: key.arn, ciphertext: '', context: {} }, { keyArn: key.arn, ciphertext: 'AA==', context: { a: 1 } }]) {
    await expectKmsError(async () => parsePointKms(bad, 'points/y'), 'wrong-context', /the KMS-encrypted password hash in points\/y is malformed/);
  }
});

test('classification of transport errors the emulator cannot produce (DNS, fetch, throttling, 5xx)', () => {
  const context = { operation: 'Decrypt', keyId: 'k', region: 'us-east-1' };
  assert.is(classifyKmsFailure(Object.assign(new Error('getaddrinfo ENOTFOUND kms.us-east-1.amazonaws.com'), { code: 'ENOTFOUND' }), context).reason, 'unreachable');
  assert.is(classifyKmsFailure(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }), context).reason, 'unreachable');
  assert.is(classifyKmsFailure(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }), context).reason, 'service-error');
  assert.is(classifyKmsFailure(Object.assign(new Error(''), { name: 'Unknown', $metadata: { httpStatusCode: 503 } }), context).code, 'KMS_UNAVAILABLE');
  assert.is(classifyKmsFailure(Object.assign(new Error('x'), { name: 'KMSInvalidStateException' }), context).reason, 'key-unusable');
});

// ---------------------------------------------------------------------------------------
// Restore step 2 through Repository.unlock: KmsKeyResolver in PasswordKeyResolver's chain.

const PASSWORD = 'kms restore';
const FILE = pseudoRandomBytes(30_000, 11);

/** A repository with one encrypted point, and a way to give that point an `encryption.kms` member (re-MACed as its writer would). */
async function pointWithKms(): Promise<{ repo: Repository; storage: MemoryStorage; pointId: string; hash: Uint8Array; salt: Uint8Array; setKms(kms: unknown): Promise<void> }> {
  const { repo, storage } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const made = await backup(repo, memorySource([{ path: 'f', type: 'file', data: FILE }]), { series: 's', encrypt: true, compressionLevel: 3, resolver: new PasswordKeyResolver(async () => PASSWORD), kdf: TEST_KDF });
  const record = await repo.readPoint(made.pointId);
  const hash = await derivePasswordHash(PASSWORD, record.salt!, record.body.encryption!.kdf);
  const macKey = (await derivePasswordKeys(hash)).pointMacKey;
  return {
    repo, storage, pointId: made.pointId, hash, salt: record.salt!,
    async setKms(kms) {
      const key = `points/${made.pointId}`;
      const body = { ...record.body, encryption: { ...record.body.encryption!, kms } };
      await storage.delete(key);
      await storage.put(key, await encodeDocument(POINT_MAGIC, POINT_VERSION, body, macKey));
    },
  };
}

function chain(emulator: KmsEmulator, password: string | undefined, options: { trustedKeyArns?: string[] } = {}): { resolver: PasswordKeyResolver; kms: KmsKeyResolver; prompts: number; reported: KmsError[] } {
  const state = { prompts: 0, reported: [] as KmsError[] };
  const kms = new KmsKeyResolver({
    clientFor: awsKmsClientFactory({ endpoint: emulator.endpoint, maxAttempts: 1, credentials: credentialsOf(TEST_PRINCIPAL) }),
    onFailure: (failure) => state.reported.push(failure.error),
    ...options,
  });
  const resolver = new PasswordKeyResolver(async () => {
    state.prompts++;
    return password;
  }, [kms]);
  return Object.assign(state, { resolver, kms });
}

test('restore with no password: H comes from KMS (key region from the ARN), checked against the verifier', async () => {
  await using emulator = await KmsEmulator.start({ region: 'eu-central-1' });
  const key = emulator.createKey();
  const point = await pointWithKms();
  await point.setKms(await wrapPasswordHash(kmsClient(emulator), { keyId: key.keyId, hash: point.hash, repositoryId: point.repo.config.id, salt: point.salt }));
  const { resolver, kms, prompts, reported } = chain(emulator, undefined);
  const unlocked = await point.repo.unlock(await point.repo.resolvePoint(point.pointId), resolver);
  assert.is(unlocked.keySource, 'kms');
  const sink = new MemorySink();
  await restore(point.repo, unlocked, sink);
  assert.equal(sink.files.get('f'), FILE);
  assert.equal([prompts, reported.length, kms.failures.length], [0, 0, 0]);
  assert.equal(emulator.operations(), ['Encrypt', 'Decrypt']);
  // The chain caches H for the process: a second unlock asks nobody.
  assert.is((await point.repo.unlock(await point.repo.resolvePoint(point.pointId), resolver)).keySource, 'cache');
  assert.is(emulator.requests.length, 2);
});

test('backup with KMS writes encryption.kms on every point; restore needs no password; a KMS failure stops the run before it writes', async () => {
  await using emulator = await KmsEmulator.start();
  const key = emulator.createKey();
  const { repo, storage } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const kms = { client: kmsClient(emulator), keyId: key.keyId };
  const source = memorySource([{ path: 'f', type: 'file', data: FILE }]);
  const first = await backup(repo, source, { series: 's', encrypt: true, compressionLevel: 3, resolver: new PasswordKeyResolver(async () => PASSWORD), kdf: TEST_KDF, kms });
  const second = await backup(repo, source, { series: 's', encrypt: true, compressionLevel: 3, resolver: new PasswordKeyResolver(async () => PASSWORD), kms });
  for (const id of [first.pointId, second.pointId]) {
    const record = await repo.readPoint(id);
    const stored = record.body.encryption!.kms!;
    assert.is(stored.keyArn, key.arn);
    assert.equal(stored.context, pointKmsContext(repo.config.id, record.salt!));
    assert.equal(Object.keys(record.body.encryption!), ['kdf', 'salt', 'verifier', 'master', 'keys', 'kms']);
    const { resolver, prompts } = chain(emulator, undefined);
    const unlocked = await repo.unlock(record, resolver);
    assert.equal([unlocked.keySource, prompts], ['kms', 0]);
    const sink = new MemorySink();
    await restore(repo, unlocked, sink);
    assert.equal(sink.files.get('f'), FILE);
  }
  // Without the option, no KMS blob.
  const plain = await backup(repo, source, { series: 'p', encrypt: true, compressionLevel: 3, resolver: new PasswordKeyResolver(async () => PASSWORD), kdf: TEST_KDF });
  assert.is((await repo.readPoint(plain.pointId)).body.encryption!.kms, undefined);
  // A disabled key: KMS_KEY_UNUSABLE, and not a single object written.
  key.state = 'Disabled';
  const before = await storage.list('');
  assert.ok(before.length > 5);
  await expectKmsError(() => backup(repo, source, { series: 's', encrypt: true, compressionLevel: 3, resolver: new PasswordKeyResolver(async () => PASSWORD), kms }), 'key-disabled', 'is disabled');
  assert.equal(await storage.list(''), before);
});

test('KMS unusable: the chain falls back to the password and keeps the reason; without one, PASSWORD_REQUIRED', async () => {
  await using emulator = await KmsEmulator.start();
  const key = emulator.createKey();
  const point = await pointWithKms();
  await point.setKms(await wrapPasswordHash(kmsClient(emulator), { keyId: key.keyId, hash: point.hash, repositoryId: point.repo.config.id, salt: point.salt }));
  key.state = 'Disabled';

  const noPassword = chain(emulator, undefined);
  try {
    await point.repo.unlock(await point.repo.resolvePoint(point.pointId), noPassword.resolver);
    assert.unreachable('unlocked without KMS or a password');
  } catch (error) {
    assert.is((error as BunkerError).code, 'PASSWORD_REQUIRED');
  }
  assert.is(noPassword.kms.lastFailure?.error.reason, 'key-disabled');
  assert.is(noPassword.kms.lastFailure?.pointId, point.pointId);
  assert.match(noPassword.reported[0]!.message, `KMS key ${key.arn} is disabled`);

  const withPassword = chain(emulator, PASSWORD);
  const unlocked = await point.repo.unlock(await point.repo.resolvePoint(point.pointId), withPassword.resolver);
  assert.is(unlocked.keySource, 'password');
  assert.equal([withPassword.prompts, withPassword.reported.length], [1, 1]);
  assert.is(withPassword.reported[0]!.reason, 'key-disabled');

  // A key failure is remembered: asking again does not ask KMS again.
  const decrypts = emulator.operations().filter((op) => op === 'Decrypt').length;
  const again = chain(emulator, undefined);
  for (let i = 0; i < 2; i++) await again.kms.resolve({ series: 's', pointId: point.pointId, salt: point.salt, kdf: TEST_KDF, verifier: unlocked.passwordKeys!.verifier, repository: point.repo.config.id, kms: (await point.repo.readPoint(point.pointId)).body.encryption!.kms }).catch(() => undefined);
  assert.is(emulator.operations().filter((op) => op === 'Decrypt').length, decrypts + 1);
  assert.equal(again.kms.failures.map((f) => f.error.reason), ['key-disabled', 'key-disabled']);
});

test('a point without KMS is not a failure; an untrusted key ARN is refused without asking KMS', async () => {
  await using emulator = await KmsEmulator.start();
  const point = await pointWithKms();
  const plain = chain(emulator, PASSWORD);
  assert.is((await point.repo.unlock(await point.repo.resolvePoint(point.pointId), plain.resolver)).keySource, 'password');
  assert.equal([plain.kms.failures.length, emulator.requests.length], [0, 0]);

  const foreign = emulator.createKey();
  await point.setKms(await wrapPasswordHash(kmsClient(emulator), { keyId: foreign.keyId, hash: point.hash, repositoryId: point.repo.config.id, salt: point.salt }));
  const requests = emulator.requests.length;
  const pinned = chain(emulator, PASSWORD, { trustedKeyArns: ['arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001'] });
  assert.is((await point.repo.unlock(await point.repo.resolvePoint(point.pointId), pinned.resolver)).keySource, 'password');
  assert.is(pinned.kms.lastFailure?.error.reason, 'untrusted-key');
  assert.match(pinned.kms.lastFailure!.error.message, `names KMS key ${foreign.arn}, which is not the configured KMS key`);
  assert.is(emulator.requests.length, requests);
});

test('a blob moved from another repository, or made for another H: wrong-context, then the password works', async () => {
  await using emulator = await KmsEmulator.start();
  const key = emulator.createKey();
  const client = kmsClient(emulator);
  const point = await pointWithKms();
  // The same H, wrapped for another repository, placed in this point by its writer.
  await point.setKms(await wrapPasswordHash(client, { keyId: key.keyId, hash: point.hash, repositoryId: REPO_B, salt: point.salt }));
  const moved = chain(emulator, PASSWORD);
  assert.is((await point.repo.unlock(await point.repo.resolvePoint(point.pointId), moved.resolver)).keySource, 'password');
  assert.is(moved.reported[0]?.reason, 'wrong-context');
  assert.match(moved.reported[0]!.message, `in points/${point.pointId} does not belong here: it was made for repository bbbbbbbbbbbb`);
  assert.is(moved.reported[0]!.object, `points/${point.pointId}`);

  // Right repository and salt, but another hash (a blob from before a password change).
  await point.setKms(await wrapPasswordHash(client, { keyId: key.keyId, hash: randomBytes(32), repositoryId: point.repo.config.id, salt: point.salt }));
  const stale = chain(emulator, PASSWORD);
  assert.is((await point.repo.unlock(await point.repo.resolvePoint(point.pointId), stale.resolver)).keySource, 'password');
  assert.is(stale.reported[0]?.reason, 'wrong-context');
  assert.match(stale.reported[0]!.message, "does not match the point's password verifier");
});

test.run();
