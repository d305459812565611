/**
 * Hostile or damaged recovery-point metadata and formats from the future:
 * - a point whose salt (or other key material) is missing is CORRUPTED_POINT, never
 *   WRONG_PASSWORD, whatever its MAC and whatever password is offered;
 * - a flipped byte inside the salt, with the old checksum, is TAMPERED;
 * - hostile KDF parameters are KDF_PARAMS_OUT_OF_RANGE before any Argon2 work (the password
 *   prompt, which precedes every derivation, is never even reached);
 * - a config, point, STREAM object or manifest from a newer format is UNSUPPORTED_VERSION,
 *   with a message saying to upgrade; damage to a version field is TAMPERED.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backup, BunkerError, checkRepository, PasswordKeyResolver, Repository, restore } from '../core/mod.ts';
import { derivePasswordHash, type KdfParams } from '../core/crypto/kdf.ts';
import { derivePasswordKeys } from '../core/crypto/keys.ts';
import { sealStream } from '../core/crypto/stream.ts';
import { concatBytes, fromBase64, toBase64, u16be, u32be, utf8 } from '../core/format/bytes.ts';
import { encodeDocument, FLAG_HAS_MAC, MAC_BYTES } from '../core/format/document.ts';
import { CONFIG_MAGIC } from '../core/repo/config.ts';
import { POINT_MAGIC, POINT_VERSION } from '../core/repo/recovery-point.ts';
import { indexKey } from '../core/repo/run-index.ts';
import type { MemoryStorage } from '../core/storage/memory.ts';
import { fixedResolver, memoryRepo, pseudoRandomBytes, SMALL_CHUNKER, TEST_KDF } from './helpers.ts';
import { cloneStorage, documentBody, flipByte, MemorySink, memorySource, objectOf } from './bad-input-kit.ts';

const PASSWORD = 'hostile point';

const base = await (async () => {
  const { repo, storage } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const source = memorySource([{ path: 'f', type: 'file', data: pseudoRandomBytes(20_000, 5) }]);
  const made = await backup(repo, source, { series: 's', encrypt: true, compressionLevel: 3, resolver: fixedResolver(PASSWORD), kdf: TEST_KDF });
  const record = await repo.readPoint(made.pointId);
  return { storage, id: made.pointId, run: record.body.run, key: `points/${made.pointId}`, salt: record.salt! };
})();

/** A resolver that counts prompts: every Argon2 derivation of a point is preceded by one. */
function countingResolver(password: string): PasswordKeyResolver & { prompts: number } {
  const resolver = new PasswordKeyResolver(async () => {
    resolver.prompts++;
    return password;
  }) as PasswordKeyResolver & { prompts: number };
  resolver.prompts = 0;
  return resolver;
}

type MacMode = 'none' | 'stale' | 'valid';

/** Encodes a document keeping the original MAC bytes (now wrong), with a correct checksum. */
async function encodeWithStaleMac(magic: string, version: number, body: object, staleMac: Uint8Array): Promise<Uint8Array> {
  const json = utf8(JSON.stringify(body));
  const prefix = concatBytes(utf8(magic), u16be(version), u16be(FLAG_HAS_MAC), u32be(json.length));
  const checksum = new Uint8Array(await crypto.subtle.digest('SHA-256', concatBytes(prefix, json) as BufferSource));
  return concatBytes(prefix, json, checksum, staleMac);
}

/**
 * A copy of the base repository whose point body went through `mutate`, re-encoded with a
 * correct checksum and, per `mac`: no MAC, the old MAC left as it was, or a MAC recomputed
 * with keys derived from the real password and salt (what an insider could do).
 */
async function rewritePoint(mutate: (body: Record<string, any>) => void, mac: MacMode = 'stale', version = 1): Promise<MemoryStorage> {
  const storage = cloneStorage(base.storage);
  const original = objectOf(storage, base.key);
  const body = await documentBody(original, POINT_MAGIC, base.key);
  mutate(body);
  let bytes: Uint8Array;
  if (mac === 'none') bytes = await encodeDocument(POINT_MAGIC, version, body);
  else if (mac === 'stale') bytes = await encodeWithStaleMac(POINT_MAGIC, version, body, original.slice(original.length - MAC_BYTES));
  else bytes = await encodeDocument(POINT_MAGIC, version, body, (await derivePasswordKeys(await derivePasswordHash(PASSWORD, base.salt, TEST_KDF))).pointMacKey);
  storage.objects.set(base.key, bytes);
  return storage;
}

async function caught(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  return undefined;
}

function assertCode(error: unknown, code: string, object: string, label: string): BunkerError {
  if (!(error instanceof BunkerError)) {
    assert.unreachable(`${label}: expected ${code}, got ${error === undefined ? 'success' : String((error as Error)?.stack ?? error)}`);
  }
  const e = error as BunkerError;
  assert.is(e.code, code, `${label}: ${e.message}`);
  assert.is(e.object, object, `${label}: object named`);
  return e;
}

/** Opens the point as restore does (resolve, unlock with `resolver`, restore into memory). */
async function openAndRestore(storage: MemoryStorage, resolver: PasswordKeyResolver): Promise<MemorySink> {
  const repo = await Repository.open(storage);
  const sink = new MemorySink();
  await restore(repo, await repo.unlock(await repo.resolvePoint(base.id), resolver), sink);
  return sink;
}

// --- a missing salt is a corrupted point ------------------------------------------------

const MISSING_KEY_MATERIAL: Record<string, (body: Record<string, any>) => void> = {
  'salt removed': (b) => delete b.encryption.salt,
  'salt empty': (b) => (b.encryption.salt = ''),
  'salt null': (b) => (b.encryption.salt = null),
  'salt a number': (b) => (b.encryption.salt = 42),
  'salt not base64': (b) => (b.encryption.salt = '***'),
  'KDF parameters removed': (b) => delete b.encryption.kdf,
  'verifier removed': (b) => delete b.encryption.verifier,
  'wrapped master key removed': (b) => delete b.encryption.master,
  'key table removed': (b) => delete b.encryption.keys,
  'encryption metadata removed': (b) => delete b.encryption,
};

for (const [name, mutate] of Object.entries(MISSING_KEY_MATERIAL)) {
  test(`${name}: CORRUPTED_POINT with any MAC and any password, never WRONG_PASSWORD`, async () => {
    for (const mac of ['none', 'stale', 'valid'] as const) {
      const storage = await rewritePoint(mutate, mac);
      for (const password of [PASSWORD, 'not the password']) {
        const resolver = countingResolver(password);
        assertCode(await caught(() => openAndRestore(storage, resolver)), 'CORRUPTED_POINT', base.key, `${name}, MAC ${mac}, password ${password}`);
        assert.is(resolver.prompts, 0, 'no password was asked for: there is nothing to derive it with');
      }
      const repo = await Repository.open(storage);
      assertCode(await caught(() => repo.listPoints()), 'CORRUPTED_POINT', base.key, `${name}: listPoints`);
      const report = await checkRepository(repo, { readData: true, resolver: fixedResolver(PASSWORD) });
      assert.equal(report.problems.map((p) => [p.code, p.object]), [['CORRUPTED_POINT', base.key]], `${name}, MAC ${mac}: check`);
    }
  });
}

test('a flipped byte inside the salt, old checksum kept: TAMPERED, never WRONG_PASSWORD', async () => {
  const original = objectOf(base.storage, base.key);
  const text = new TextDecoder().decode(original);
  const salt64 = toBase64(base.salt);
  const start = text.indexOf(`"salt":"${salt64}"`) + '"salt":"'.length;
  assert.ok(start > 8, 'the salt is in the document');
  for (let i = 0; i < salt64.length - 2; i++) {
    const at = start + i;
    // Swapping a letter's case keeps the text valid base64: without the checksum this would
    // be a different salt, and so a "wrong password".
    if (!/[A-Za-z]/.test(String.fromCharCode(original[at]!))) continue;
    const storage = cloneStorage(base.storage);
    const flipped = flipByte(original, at, 0x20);
    assert.is.not(toBase64(fromBase64(JSON.parse(new TextDecoder().decode(flipped.subarray(16, flipped.length - 64))).encryption.salt)), salt64);
    storage.objects.set(base.key, flipped);
    const resolver = countingResolver(PASSWORD);
    assertCode(await caught(() => openAndRestore(storage, resolver)), 'TAMPERED', base.key, `salt char ${i}`);
    assert.is(resolver.prompts, 0);
    const report = await checkRepository(await Repository.open(storage), { resolver: fixedResolver(PASSWORD) });
    assert.equal(report.problems.map((p) => [p.code, p.object]), [['TAMPERED', base.key]]);
  }
});

test('control: the rewritten point with nothing changed and a recomputed MAC still restores', async () => {
  const sink = await openAndRestore(await rewritePoint(() => undefined, 'valid'), fixedResolver(PASSWORD));
  assert.equal(sink.files.get('f'), pseudoRandomBytes(20_000, 5));
  // ... and with the old MAC too: the re-encoding is byte-identical to what backup wrote.
  assert.equal(objectOf(await rewritePoint(() => undefined, 'stale'), base.key), objectOf(base.storage, base.key));
});

test('control: a wrong password on an intact point is WRONG_PASSWORD', async () => {
  const resolver = countingResolver('not the password');
  const error = await caught(() => openAndRestore(cloneStorage(base.storage), resolver));
  assert.instance(error, BunkerError);
  assert.is((error as BunkerError).code, 'WRONG_PASSWORD');
  assert.is(resolver.prompts, 1);
});

// --- hostile KDF parameters -----------------------------------------------------------------

const HOSTILE_KDF: Record<string, (enc: Record<string, any>) => void> = {
  'memoryKiB = 16 GiB': (e) => (e.kdf.memoryKiB = 16 * 1024 * 1024),
  'iterations = 10^6': (e) => (e.kdf.iterations = 1_000_000),
  'parallelism = 0': (e) => (e.kdf.parallelism = 0),
  'a salt of 4 bytes': (e) => (e.salt = toBase64(new Uint8Array([1, 2, 3, 4]))),
  'memoryKiB one over 1 GiB': (e) => (e.kdf.memoryKiB = 1024 * 1024 + 1),
  'iterations = 33': (e) => (e.kdf.iterations = 33),
  'iterations = 0': (e) => (e.kdf.iterations = 0),
  'parallelism = 17': (e) => (e.kdf.parallelism = 17),
  'memoryKiB below 8 × parallelism': (e) => Object.assign(e.kdf, { memoryKiB: 31, parallelism: 4 }),
  'memoryKiB negative': (e) => (e.kdf.memoryKiB = -1),
  'memoryKiB fractional': (e) => (e.kdf.memoryKiB = 64.5),
  'memoryKiB as a string': (e) => (e.kdf.memoryKiB = '65536'),
  'iterations = 1e308': (e) => (e.kdf.iterations = 1e308),
  'algorithm argon2i': (e) => (e.kdf.algorithm = 'argon2i'),
  'KDF parameters null': (e) => (e.kdf = null),
  'a salt of 15 bytes': (e) => (e.salt = toBase64(new Uint8Array(15).fill(7))),
  'a salt of 65 bytes': (e) => (e.salt = toBase64(new Uint8Array(65).fill(7))),
};

for (const [name, mutate] of Object.entries(HOSTILE_KDF)) {
  test(`hostile KDF parameters (${name}): KDF_PARAMS_OUT_OF_RANGE before any Argon2 work`, async () => {
    for (const mac of ['none', 'stale'] as const) {
      const storage = await rewritePoint((b) => mutate(b.encryption), mac);
      const resolver = countingResolver(PASSWORD);
      const error = assertCode(await caught(() => openAndRestore(storage, resolver)), 'KDF_PARAMS_OUT_OF_RANGE', base.key, `${name}, MAC ${mac}`);
      assert.ok(error.message.includes(base.key), 'the message names the point');
      assert.is(resolver.prompts, 0, 'the password was not even asked for');
      const report = await checkRepository(await Repository.open(storage), { resolver });
      assert.equal(report.problems.map((p) => [p.code, p.object]), [['KDF_PARAMS_OUT_OF_RANGE', base.key]]);
      assert.is(resolver.prompts, 0);
    }
  });
}

test('the KDF bounds are inclusive: 1 GiB, 32 iterations, parallelism 16, 64-byte salt parse (no derivation is run)', async () => {
  const storage = await rewritePoint((b) => {
    b.encryption.kdf = { algorithm: 'argon2id', memoryKiB: 1024 * 1024, iterations: 32, parallelism: 16 };
    b.encryption.salt = toBase64(new Uint8Array(64).fill(9));
  });
  const record = await (await Repository.open(storage)).resolvePoint(base.id);
  assert.is(record.body.encryption!.kdf.memoryKiB, 1024 * 1024);
  assert.is(record.salt!.length, 64);
});

test('derivePasswordHash refuses hostile parameters itself, whoever calls it', async () => {
  const salt = new Uint8Array(16);
  const hostile: unknown[] = [
    { ...TEST_KDF, memoryKiB: 16 * 1024 * 1024 },
    { ...TEST_KDF, iterations: 1_000_000 },
    { ...TEST_KDF, parallelism: 0 },
  ];
  for (const params of hostile) {
    const error = await caught(() => derivePasswordHash('pw', salt, params as KdfParams));
    assert.instance(error, BunkerError, JSON.stringify(params));
    assert.is((error as BunkerError).code, 'KDF_PARAMS_OUT_OF_RANGE');
  }
  const error = await caught(() => derivePasswordHash('pw', new Uint8Array(4), TEST_KDF));
  assert.is((error as BunkerError).code, 'KDF_PARAMS_OUT_OF_RANGE');
});

// --- formats from the future --------------------------------------------------------------

async function configWith(version: number): Promise<MemoryStorage> {
  const storage = cloneStorage(base.storage);
  const body = await documentBody(objectOf(storage, 'config'), CONFIG_MAGIC, 'config');
  storage.objects.set('config', await encodeDocument(CONFIG_MAGIC, version, { ...body, version }));
  return storage;
}

test('a config of format version 2 (valid checksum): UNSUPPORTED_VERSION, saying to upgrade', async () => {
  const error = assertCode(await caught(async () => Repository.open(await configWith(2))), 'UNSUPPORTED_VERSION', 'config', 'config v2');
  assert.match(error.message, /upgrade bunker/i);
  assert.match(error.message, /version 2/);
});

test('a config whose version field is damaged (bad checksum, or version 0): TAMPERED, not UNSUPPORTED_VERSION', async () => {
  const v2 = objectOf(await configWith(2), 'config');
  for (const bytes of [flipByte(v2, 20), flipByte(objectOf(base.storage, 'config'), 9, 0x02)]) {
    const storage = cloneStorage(base.storage);
    storage.objects.set('config', bytes);
    assertCode(await caught(() => Repository.open(storage)), 'TAMPERED', 'config', 'damaged version');
  }
  assertCode(await caught(async () => Repository.open(await configWith(0))), 'TAMPERED', 'config', 'config v0');
});

test('a point of format version 2 (valid checksum): UNSUPPORTED_VERSION, saying to upgrade, from every reader', async () => {
  for (const mac of ['none', 'stale'] as const) {
    const storage = await rewritePoint(() => undefined, mac, 2);
    const resolver = countingResolver(PASSWORD);
    const error = assertCode(await caught(() => openAndRestore(storage, resolver)), 'UNSUPPORTED_VERSION', base.key, `point v2, MAC ${mac}`);
    assert.match(error.message, /upgrade bunker/i);
    assert.is(resolver.prompts, 0);
    const repo = await Repository.open(storage);
    assertCode(await caught(() => repo.listPoints()), 'UNSUPPORTED_VERSION', base.key, 'listPoints');
    const report = await checkRepository(repo, { resolver });
    assert.equal(report.problems.map((p) => [p.code, p.object]), [['UNSUPPORTED_VERSION', base.key]]);
  }
  // The same version with a broken checksum is damage, not a newer format.
  const storage = await rewritePoint(() => undefined, 'stale', 2);
  storage.objects.set(base.key, flipByte(objectOf(storage, base.key), 40));
  assertCode(await caught(() => openAndRestore(storage, fixedResolver(PASSWORD))), 'TAMPERED', base.key, 'point v2 damaged');
});

for (const [kind, key] of [['manifest', `trees/${base.id}`], ['fsi', `fsi/${base.id}`], ['index', indexKey(base.run)]] as const) {
  test(`a STREAM object (${kind}) with version byte 2: UNSUPPORTED_VERSION naming it, saying to upgrade`, async () => {
    const storage = cloneStorage(base.storage);
    const bytes = objectOf(storage, key).slice();
    assert.is(bytes[4], 1, 'byte 4 is the stream version');
    bytes[4] = 2;
    storage.objects.set(key, bytes);
    const repo = await Repository.open(storage);
    const point = await repo.unlock(await repo.resolvePoint(base.id), fixedResolver(PASSWORD));
    const read = kind === 'fsi' ? () => repo.readFsi(point) : () => restore(repo, point, new MemorySink());
    const error = assertCode(await caught(read), 'UNSUPPORTED_VERSION', key, kind);
    assert.match(error.message, /upgrade bunker/i);
  });
}

test('a sealed manifest whose header says version 2: UNSUPPORTED_VERSION saying to upgrade; version 0: TAMPERED', async () => {
  for (const [version, code] of [[2, 'UNSUPPORTED_VERSION'], [0, 'TAMPERED'], ['1', 'TAMPERED']] as const) {
    const storage = cloneStorage(base.storage);
    const repo = await Repository.open(storage);
    const point = await repo.unlock(await repo.resolvePoint(base.id), fixedResolver(PASSWORD));
    const plaintext = utf8(JSON.stringify({ version, sources: [], host: 'h' }) + '\n');
    storage.objects.set(`trees/${base.id}`, await sealStream(point.cipher, 'manifest', point.id, repo.zstd.compress(plaintext, 3), 1));
    const sink = new MemorySink();
    const error = assertCode(await caught(() => restore(repo, point, sink)), code, `trees/${base.id}`, `manifest version ${JSON.stringify(version)}`);
    if (code === 'UNSUPPORTED_VERSION') assert.match(error.message, /upgrade bunker/i);
    assert.not.ok(sink.began);
  }
});

test('check: a forged unencrypted point naming an encrypted run neither spoils that run\'s index for the genuine point nor borrows it', async () => {
  const { repo, storage } = await memoryRepo({ chunker: SMALL_CHUNKER, packTargetBytes: 16 * 1024 });
  const secret = await backup(repo, memorySource([{ path: 'f', type: 'file', data: pseudoRandomBytes(200_000, 1) }]), { series: 'secret', encrypt: true, compressionLevel: 3, resolver: fixedResolver(PASSWORD), kdf: TEST_KDF });
  const plain = await backup(repo, memorySource([{ path: 'g', type: 'file', data: pseudoRandomBytes(2_000, 2) }]), { series: 'plain', encrypt: false, compressionLevel: 3 });
  const clean = await checkRepository(await Repository.open(storage), { readData: true, resolver: fixedResolver(PASSWORD) });
  assert.ok(clean.isOk, JSON.stringify(clean.problems));
  const secretRun = (await repo.readPoint(secret.pointId)).body.run;
  const plainRecord = await repo.readPoint(plain.pointId);
  const plainChunks = (await repo.readManifest(await repo.unlock(plainRecord, undefined))).entries.flatMap((e) => e.chunks ?? []).length;
  // Dated before the genuine point, so that a check reaches it first, and naming the encrypted run too.
  const body = { ...plainRecord.body, createdAt: '2000-01-01T00:00:00.000Z', runs: [secretRun, plainRecord.body.run] };
  const forged = cloneStorage(storage);
  await forged.delete(`points/${plain.pointId}`);
  await forged.put(`points/${plain.pointId}`, await encodeDocument(POINT_MAGIC, POINT_VERSION, body));
  const report = await checkRepository(await Repository.open(forged), { readData: true, resolver: fixedResolver(PASSWORD) });
  // The forged point cannot open the encrypted index: one problem, its own ...
  assert.equal(report.problems.map((p) => `${p.code} ${p.object}`), [`TAMPERED ${indexKey(secretRun)}`]);
  // ... and every chunk of the genuine point is still read and verified.
  assert.is(report.chunksChecked, clean.chunksChecked - plainChunks);
});

test.run();
