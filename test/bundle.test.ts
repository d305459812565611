/**
 * The configuration bundle (FORMAT.md §14): round trip; wrong password; every truncation of a
 * small bundle; a flipped byte at every offset (each region named); what an insider who
 * recomputes the checksum can and cannot do; a version from the future; hostile KDF
 * parameters; content that is authenticated but malformed. Every refusal has its exact code.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BunkerError, type ErrorCode } from '../core/mod.ts';
import { BUNDLE_CHECKSUM_BYTES, BUNDLE_PREFIX_BYTES, openBundle, parseBundleHeader, sealBundle } from '../core/bundle.ts';
import { derivePasswordVersion } from '../core/catalog/catalog.ts';
import type { CatalogSnapshot } from '../core/catalog/records.ts';
import { encodeSnapshot, parseSnapshot } from '../core/catalog/snapshot.ts';
import { derivePasswordHash } from '../core/crypto/kdf.ts';
import { STREAM_HEADER_BYTES } from '../core/crypto/stream.ts';
import { concatBytes, u16be, u32be, utf8 } from '../core/format/bytes.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';
import { TEST_KDF } from './helpers.ts';

await loadWasmFromPackages();

const PASSWORD = 'bundle password';
const key = await derivePasswordVersion(PASSWORD, TEST_KDF);
const other = await derivePasswordVersion('another password', TEST_KDF);

const SNAPSHOT: CatalogSnapshot = {
  passwords: [{
    name: 'main', purpose: 'backup', description: 'd', createdAt: '2024-01-01T00:00:00.000Z', currentVersion: 1,
    versions: [{ version: 1, createdAt: '2024-01-01T00:00:00.000Z', kdf: TEST_KDF, salt: other.salt, hash: other.hash }],
  }],
  repositories: [{ location: '/srv/repo', repositoryId: 'c'.repeat(64), addedAt: '2024-01-01T00:00:00.000Z' }],
  jobs: [{ name: 'nightly', repository: '/srv/repo', series: 'nightly', sources: ['/home'], excludes: [], password: 'main', encrypt: true, compression: 'zstd', createdAt: '2024-01-01T00:00:00.000Z', lastRunAt: null, lastPointId: null }],
  points: [{ repository: '/srv/repo', pointId: 'a'.repeat(64), series: 'nightly', createdAt: '2024-01-02T00:00:00.000Z', salt: other.salt, job: 'nightly' }],
  settings: [{ key: 'k', value: 'v' }],
  tokens: [{ name: 'api', scope: 'backup', hash: new Uint8Array(32).fill(7), createdAt: '2024-01-01T00:00:00.000Z' }],
};
const CONTENT = encodeSnapshot({ exportedAt: '2024-01-03T00:00:00.000Z', catalog: SNAPSHOT });
const BUNDLE = await sealBundle(CONTENT, key);
const NAME = 'config.bundle';
const SALT_LENGTH = BUNDLE[18]!;
const HEADER_BODY = 131 + SALT_LENGTH;
const CHECKSUM_AT = BUNDLE_PREFIX_BYTES + HEADER_BODY;
const STREAM_AT = CHECKSUM_AT + BUNDLE_CHECKSUM_BYTES;

/** Reads a bundle as import does, with H given (no Argon2 per attempt): header, then the rest. */
async function read(bytes: Uint8Array, hash: Uint8Array = key.hash): Promise<Uint8Array> {
  return openBundle(bytes, await parseBundleHeader(bytes, NAME), hash, NAME);
}

/** Reads a bundle exactly as import does with the right password: H derived from the header's salt and parameters. */
async function readWithPassword(bytes: Uint8Array): Promise<Uint8Array> {
  const header = await parseBundleHeader(bytes, NAME);
  return openBundle(bytes, header, await derivePasswordHash(PASSWORD, header.salt, header.kdf), NAME);
}

async function expectCode(code: ErrorCode, run: () => unknown, why: string): Promise<BunkerError> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof BunkerError)) throw error;
    assert.is(error.code, code, `${why}: expected ${code}, got ${error.code} (${error.message})`);
    return error;
  }
  return assert.unreachable(`${why}: expected ${code}, but it was accepted`) as never;
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as BufferSource));
}

/** `bundle` with its header changed by `change` and the checksum recomputed (what an insider can do). */
async function reheader(bundle: Uint8Array, change: (copy: Uint8Array) => void): Promise<Uint8Array> {
  const copy = bundle.slice();
  change(copy);
  const checksumAt = BUNDLE_PREFIX_BYTES + new DataView(copy.buffer).getUint16(10);
  copy.set(await sha256(copy.subarray(0, checksumAt)), checksumAt);
  return copy;
}

/** Which part of the bundle an offset falls in (FORMAT.md §14.1). */
function region(offset: number): string {
  const regions: [number, string][] = [
    [8, 'magic'], [10, 'version'], [12, 'header length'], [16, 'memoryKiB'], [17, 'iterations'], [18, 'parallelism'], [19, 'salt length'],
    [19 + SALT_LENGTH, 'salt'], [51 + SALT_LENGTH, 'verifier'], [83 + SALT_LENGTH, 'bundle id'], [143 + SALT_LENGTH, 'wrapped key'],
    [STREAM_AT, 'checksum'], [STREAM_AT + STREAM_HEADER_BYTES, 'STREAM header'], [BUNDLE.length - 16, 'sealed content'], [BUNDLE.length, 'last tag'],
  ];
  return regions.find(([end]) => offset < end)![1];
}

test('round trip: the content comes back byte for byte, and parses to the same snapshot', async () => {
  const opened = await read(BUNDLE);
  assert.equal(opened, CONTENT);
  const parsed = parseSnapshot(opened, NAME);
  assert.is(parsed.exportedAt, '2024-01-03T00:00:00.000Z');
  assert.equal(encodeSnapshot(parsed), CONTENT);
  assert.equal(parsed.catalog.passwords[0]!.versions[0]!.hash, other.hash);
  const header = await parseBundleHeader(BUNDLE, NAME);
  assert.equal(header.salt, key.salt);
  assert.equal(header.kdf, TEST_KDF);
  assert.is(header.streamOffset, STREAM_AT);
  assert.equal(BUNDLE.subarray(0, 8), utf8('BNKBUNDL'));
  assert.equal([BUNDLE[8], BUNDLE[9]], [0, 1], 'version 1');
  // Two bundles of the same content under the same (named) password share nothing but the header's password part.
  const again = await sealBundle(CONTENT, key);
  assert.equal(again.subarray(0, 51 + SALT_LENGTH), BUNDLE.subarray(0, 51 + SALT_LENGTH));
  assert.not.equal(again.subarray(51 + SALT_LENGTH, 83 + SALT_LENGTH), BUNDLE.subarray(51 + SALT_LENGTH, 83 + SALT_LENGTH), 'a new bundle id');
  assert.equal(await read(again), CONTENT);
});

test('a wrong password is WRONG_PASSWORD, from the password as import derives it', async () => {
  const header = await parseBundleHeader(BUNDLE, NAME);
  const wrong = await derivePasswordHash('not the password', header.salt, header.kdf);
  const error = await expectCode('WRONG_PASSWORD', () => openBundle(BUNDLE, header, wrong, NAME), 'wrong password');
  assert.is(error.message, 'wrong password for the configuration bundle');
  assert.equal(await openBundle(BUNDLE, header, await derivePasswordHash(PASSWORD, header.salt, header.kdf), NAME), CONTENT);
});

test('every truncation of a small bundle is TAMPERED', async () => {
  assert.ok(BUNDLE.length < 2000, `a small bundle: ${BUNDLE.length} bytes`);
  for (let length = 0; length < BUNDLE.length; length++) {
    await expectCode('TAMPERED', () => read(BUNDLE.subarray(0, length)), `cut to ${length} bytes (${region(length)})`);
  }
});

test('a flipped byte at every offset is TAMPERED (each region of the bundle)', async () => {
  const seen = new Set<string>();
  for (let offset = 0; offset < BUNDLE.length; offset++) {
    const flipped = BUNDLE.slice();
    flipped[offset]! ^= 0x01;
    seen.add(region(offset));
    await expectCode('TAMPERED', () => read(flipped), `byte ${offset} (${region(offset)}) flipped`);
  }
  assert.equal([...seen], ['magic', 'version', 'header length', 'memoryKiB', 'iterations', 'parallelism', 'salt length', 'salt', 'verifier', 'bundle id', 'wrapped key', 'checksum', 'STREAM header', 'sealed content', 'last tag']);
  await expectCode('TAMPERED', () => read(concatBytes(BUNDLE, new Uint8Array([0]))), 'one byte of trailing data');
  const magic = await expectCode('TAMPERED', () => read(concatBytes(utf8('BNKPOINT'), BUNDLE.subarray(8))), 'another magic');
  assert.is(magic.message, 'config.bundle is not a bunker configuration bundle (bad magic)');
});

test('a version from the future is UNSUPPORTED_VERSION; version 0 is TAMPERED', async () => {
  const future = await reheader(BUNDLE, (b) => b.set(u16be(2), 8));
  const error = await expectCode('UNSUPPORTED_VERSION', () => read(future), 'version 2');
  assert.is(error.message, 'config.bundle was written by a newer bunker (bundle format version 2; this bunker reads up to 1). Upgrade bunker to import it.');
  // A newer layout may have another header length: the version is still read (after the checksum).
  const longer = BUNDLE.subarray(0, CHECKSUM_AT);
  const grown = concatBytes(longer.subarray(0, 8), u16be(7), u16be(HEADER_BODY + 5), longer.subarray(12), new Uint8Array(5));
  await expectCode('UNSUPPORTED_VERSION', async () => read(concatBytes(grown, await sha256(grown), BUNDLE.subarray(STREAM_AT))), 'version 7 with a longer header');
  await expectCode('TAMPERED', async () => read(await reheader(BUNDLE, (b) => b.set(u16be(0), 8))), 'version 0');
});

test('an insider who recomputes the checksum: salt or verifier → WRONG_PASSWORD; id, wrapped key, lengths → TAMPERED; KDF bounds first', async () => {
  await expectCode('WRONG_PASSWORD', async () => readWithPassword(await reheader(BUNDLE, (b) => (b[19]! ^= 1))), 'salt changed');
  await expectCode('WRONG_PASSWORD', async () => readWithPassword(await reheader(BUNDLE, (b) => (b[19 + SALT_LENGTH]! ^= 1))), 'verifier changed');
  await expectCode('WRONG_PASSWORD', async () => readWithPassword(await reheader(BUNDLE, (b) => (b[16] = 2))), 'iterations changed (another H)');
  await expectCode('TAMPERED', async () => readWithPassword(await reheader(BUNDLE, (b) => (b[51 + SALT_LENGTH]! ^= 1))), 'bundle id changed: the wrapped key is bound to it');
  await expectCode('TAMPERED', async () => readWithPassword(await reheader(BUNDLE, (b) => (b[83 + SALT_LENGTH + 20]! ^= 1))), 'wrapped key changed');
  await expectCode('TAMPERED', async () => readWithPassword(await reheader(BUNDLE, (b) => (b[18] = SALT_LENGTH + 1))), 'salt length disagrees with the header length');
  await expectCode('TAMPERED', async () => readWithPassword(await reheader(BUNDLE, (b) => b.set(u16be(10), 10))), 'header length too short');
  const huge = await expectCode('KDF_PARAMS_OUT_OF_RANGE', async () => readWithPassword(await reheader(BUNDLE, (b) => b.set(u32be(16 * 1024 * 1024), 12))), 'memory 16 GiB');
  assert.match(huge.message, 'config.bundle: key derivation parameters are out of range');
  await expectCode('KDF_PARAMS_OUT_OF_RANGE', async () => readWithPassword(await reheader(BUNDLE, (b) => (b[16] = 0))), 'iterations 0');
  // Another bundle's stream behind this header: its data key is not this one.
  const second = await sealBundle(CONTENT, key);
  await expectCode('TAMPERED', () => readWithPassword(concatBytes(BUNDLE.subarray(0, STREAM_AT), second.subarray(STREAM_AT))), 'stream swapped in from another bundle');
});

test('authenticated but malformed content is TAMPERED, whole', async () => {
  const bad = async (content: Uint8Array, why: string): Promise<void> => {
    const bundle = await sealBundle(content, key);
    await expectCode('TAMPERED', async () => parseSnapshot(await read(bundle), NAME), why);
  };
  const json = JSON.parse(new TextDecoder().decode(CONTENT)) as Record<string, any>;
  const variant = (change: (j: Record<string, any>) => void): Uint8Array => {
    const copy = structuredClone(json);
    change(copy);
    return utf8(JSON.stringify(copy));
  };
  await bad(utf8('not json'), 'not JSON');
  await bad(utf8('[]'), 'not an object');
  await bad(variant((j) => delete j.passwords), 'no passwords member');
  await bad(variant((j) => (j.passwords[0].versions[0].hash = 'AAAA')), 'a 3-byte hash');
  await bad(variant((j) => (j.passwords[0].currentVersion = 2)), 'no current version');
  await bad(variant((j) => j.passwords.push(j.passwords[0])), 'two passwords with one name');
  await bad(variant((j) => (j.jobs[0].repository = '/elsewhere')), 'a job in an unlisted repository');
  await bad(variant((j) => (j.points[0].pointId = 'A'.repeat(64))), 'an upper-case point id');
  await bad(variant((j) => (j.tokens[0].hash = 'AAAA')), 'a short token hash');
  const kdf = await sealBundle(variant((j) => (j.passwords[0].versions[0].kdf.memoryKiB = 16 * 1024 * 1024)), key);
  await expectCode('TAMPERED', async () => parseSnapshot(await read(kdf), NAME), 'a stored hash with hostile KDF parameters');
  // An empty catalog is valid content.
  const empty = encodeSnapshot({ exportedAt: 'x', catalog: { passwords: [], repositories: [], jobs: [], points: [], settings: [], tokens: [] } });
  assert.equal(parseSnapshot(await read(await sealBundle(empty, key)), NAME).catalog.passwords, []);
});

test.run();
