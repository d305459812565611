/**
 * bunker's own known-answer vectors (docs/FORMAT.md §13, test/vectors/README.md).
 *
 * 1. The generator reproduces every committed vector byte for byte (the format did not drift).
 * 2. Each vector is interpreted from its own headers: positive vectors are recomputed with
 *    the core functions and with an independent implementation of the spec's sentences
 *    (WebCrypto and hash-wasm directly), and parsed back; negative vectors must fail with
 *    exactly the error code of their `expect:` header.
 * 3. Every vector FORMAT.md names exists.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { argon2id, blake3 } from 'hash-wasm';
import { chunkIdFunction } from '../core/chunk-id.ts';
import { Chunker, type ChunkerParams, gearTable } from '../core/chunker.ts';
import { aesGcmCipher, checksumCipher, type ObjectCipher } from '../core/crypto/cipher.ts';
import { derivePasswordHash, hkdf } from '../core/crypto/kdf.ts';
import {
  derivePasswordKeys, deriveSeriesKeys, LABEL_CHUNK_ID, LABEL_CHUNKER, LABEL_KEK, LABEL_POINT_MAC, LABEL_VERIFY, PUBLIC_GEAR_IKM, publicGearSeed, unwrapKey,
} from '../core/crypto/keys.ts';
import { openStream, sealStream, type StreamCodec, type StreamKindName } from '../core/crypto/stream.ts';
import { BunkerError, ERROR_CODES } from '../core/errors.ts';
import { concatBytes, fromBase64, fromHex, toHex, utf8 } from '../core/format/bytes.ts';
import { encodeFsi, fsiFromManifest, parseFsi } from '../core/fsi.ts';
import { encodeManifest, parseManifest } from '../core/manifest.ts';
import { PasswordKeyResolver } from '../core/key-resolver.ts';
import { encodeConfig, parseConfig } from '../core/repo/config.ts';
import { type ChunkCodec, openChunk, PackBuilder, sealChunk } from '../core/repo/pack.ts';
import { parsePoint } from '../core/repo/recovery-point.ts';
import { encodeRunIndex, parseRunIndex } from '../core/repo/run-index.ts';
import { ChunkIndex } from '../core/repo/chunk-index.ts';
import { Repository } from '../core/repository.ts';
import { MemoryStorage } from '../core/storage/memory.ts';
import { ZstdCodec } from '../wasm/mod.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';
import { ROOT, pseudoRandomBytes } from './helpers.ts';
import { buildVectors, headerBytes, type ParsedVector, parseVector, rawZstdFrame, VECTORS_DIR, vectorFileNames } from './vectors/generate.ts';
import { openBundle, parseBundleHeader, sealBundle } from '../core/bundle.ts';
import { encodeSnapshot, parseSnapshot } from '../core/catalog/snapshot.ts';
import { newMasterKeyFile, parseMasterKeyFile, SecretBox, type SecretKind } from '../core/catalog/secret-box.ts';

await loadWasmFromPackages();
const zstd = new ZstdCodec();

const names = await vectorFileNames();
const texts = new Map<string, string>();
for (const name of names) texts.set(name, await readFile(join(VECTORS_DIR, name), 'utf8'));
const vector = (name: string): ParsedVector => parseVector(texts.get(name)!);
const hierarchy = JSON.parse(texts.get('keys_hierarchy.json')!) as Record<string, string> & { labels: Record<string, string>; kdf: { memoryKiB: number; iterations: number; parallelism: number } };

// ---------------------------------------------------------------------------------------
// The spec's sentences, implemented independently of core/ (WebCrypto only).

const subtle = crypto.subtle;
const STREAM_KIND_IDS: Record<string, number> = { manifest: 1, fsi: 2, index: 3, bundle: 4 }; // FORMAT.md §4.3

async function specHkdf(ikm: Uint8Array, info: string, lengthBytes: number): Promise<Uint8Array> {
  const key = await subtle.importKey('raw', ikm as BufferSource, 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8(info) as BufferSource }, key, lengthBytes * 8));
}

async function specSha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle.digest('SHA-256', data as BufferSource));
}

async function specHmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await subtle.importKey('raw', key as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle.sign('HMAC', k, data as BufferSource));
}

/** FORMAT.md §4.1: cipher 1 (AES-256-GCM) with a key, cipher 0 (truncated SHA-256 tag) without. */
async function specSeal(key: Uint8Array | undefined, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  if (key === undefined) return concatBytes(plaintext, (await specSha256(concatBytes(nonce, aad, plaintext))).subarray(0, 16));
  const k = await subtle.importKey('raw', key as BufferSource, 'AES-GCM', false, ['encrypt']);
  return new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce as BufferSource, additionalData: aad as BufferSource, tagLength: 128 }, k, plaintext as BufferSource));
}

function u32(n: number): Uint8Array {
  return new Uint8Array([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

/** FORMAT.md §4.3, sentence by sentence. */
async function specStream(key: Uint8Array | undefined, kind: string, objectId: string, codec: number, prefix: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  const header = concatBytes(utf8('BNKS'), new Uint8Array([1, STREAM_KIND_IDS[kind]!, key === undefined ? 0 : 1, codec]), prefix, new Uint8Array([0]));
  const aad = concatBytes(utf8(`bunker/${kind}`), new Uint8Array([0]), utf8(objectId), new Uint8Array([0]), header);
  const n = Math.max(1, Math.ceil(plaintext.length / 65536));
  const parts = [header];
  for (let i = 0; i < n; i++) {
    const nonce = concatBytes(prefix, u32(i), new Uint8Array([i === n - 1 ? 1 : 0]));
    parts.push(await specSeal(key, nonce, aad, plaintext.subarray(i * 65536, (i + 1) * 65536)));
  }
  return concatBytes(...parts);
}

/** FORMAT.md §4.2 and §7. */
function specChunkNonce(counter: number): Uint8Array {
  return concatBytes(new Uint8Array([0, 0, 0, 0]), u32(Math.floor(counter / 2 ** 32)), u32(counter >>> 0));
}

function specChunkAad(chunkId: Uint8Array, codec: number, rawLength: number): Uint8Array {
  return concatBytes(utf8('bunker/chunk'), new Uint8Array([0]), chunkId, new Uint8Array([codec]), u32(rawLength));
}

/** FORMAT.md §3.2. */
function specWrapAad(label: string, pointId: string, runId: string): Uint8Array {
  return concatBytes(utf8(`bunker/wrap/${label}`), new Uint8Array([0]), utf8(pointId), new Uint8Array([0]), utf8(runId));
}

/** FORMAT.md §5.1, the pseudo-code as written. */
function specCuts(params: ChunkerParams, seed: Uint8Array, data: Uint8Array): number[] {
  const gear: number[] = [];
  for (let i = 0; i < 256; i++) gear.push(((seed[4 * i]! << 24) >>> 0) + (seed[4 * i + 1]! << 16) + (seed[4 * i + 2]! << 8) + seed[4 * i + 3]!);
  const bits = Math.log2(params.avgBytes);
  const maskS = 2 ** 32 - 2 ** (32 - (bits + 2));
  const maskL = 2 ** 32 - 2 ** (32 - (bits - 2));
  const out: number[] = [];
  let position = 0;
  while (position < data.length) {
    const available = data.length - position;
    let length: number;
    if (available <= params.minBytes) {
      length = available;
    } else {
      const limit = Math.min(available, params.maxBytes);
      const normal = Math.min(limit, params.avgBytes);
      let h = 0;
      length = limit;
      for (let i = params.minBytes; i < limit; i++) {
        h = (2 * h + gear[data[position + i]!]!) % 2 ** 32;
        const mask = i < normal ? maskS : maskL;
        if (((h & mask) >>> 0) === 0) {
          length = i + 1;
          break;
        }
      }
    }
    out.push(length);
    position += length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Helpers

/**
 * Byte equality with a short message: uvu's diff of two large arrays takes minutes, so a
 * 64 KiB mismatch would hang instead of failing.
 */
function assertBytes(actual: Uint8Array | undefined, expected: Uint8Array, message = 'bytes'): void {
  if (actual === undefined) return assert.unreachable(`${message}: got nothing`);
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  const isSame = at === actual.length && at === expected.length;
  assert.ok(isSame, isSame ? message : `${message}: ${actual.length} bytes, expected ${expected.length}; first difference at offset ${at}`);
}

async function expectCode(name: string, code: string, run: () => unknown): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof BunkerError)) throw error;
    assert.is(error.code, code, `${name}: expected ${code}, got ${error.code} (${error.message})`);
    return;
  }
  assert.unreachable(`${name}: expected ${code}, but the input was accepted`);
}

function cipherFor(key: string): Promise<ObjectCipher> {
  return key === 'none' ? Promise.resolve(checksumCipher) : aesGcmCipher(fromHex(key));
}

function keyBytes(key: string): Uint8Array | undefined {
  return key === 'none' ? undefined : fromHex(key);
}

let repositoryPromise: Promise<Repository> | undefined;
/** A repository whose config is the document_config vector (so its id is the vectors' repository id). */
function vectorRepository(configVector: string): Promise<Repository> {
  repositoryPromise ??= (async () => {
    const storage = new MemoryStorage();
    await storage.put('config', vector(configVector).payload);
    return Repository.open(storage);
  })();
  return repositoryPromise;
}

// ---------------------------------------------------------------------------------------
// 1. Reproduction

test('the generator reproduces every committed vector, byte for byte, and no other', async () => {
  const built = await buildVectors();
  assert.equal(built.map((f) => f.name).sort(), names);
  for (const file of built) assert.ok(file.content === texts.get(file.name), `${file.name} differs from the generator's output: the format changed`);
});

test('every .txt vector has an expect header of success or a BunkerError code', () => {
  for (const name of names.filter((n) => n.endsWith('.txt'))) {
    const expect = vector(name).get('expect');
    assert.ok(expect === 'success' || (ERROR_CODES as readonly string[]).includes(expect), `${name}: expect ${expect}`);
  }
});

test('every vector FORMAT.md names exists', async () => {
  const spec = await readFile(join(ROOT, 'docs', 'FORMAT.md'), 'utf8');
  const cited = new Set<string>();
  for (const bracket of spec.match(/\[`[^\]]+`\]/g) ?? []) for (const m of bracket.matchAll(/`([a-z0-9_.]+)`/g)) cited.add(m[1]!);
  assert.ok(cited.size > 50, `FORMAT.md cites ${cited.size} vectors`);
  for (const name of cited) {
    const file = name.endsWith('.json') ? name : `${name}.txt`;
    assert.ok(texts.has(file), `FORMAT.md cites ${name}, which is not in test/vectors/`);
  }
});

// ---------------------------------------------------------------------------------------
// 2. Each vector on its own

test('keys_hierarchy.json: Argon2id and every HKDF label (FORMAT.md §3)', async () => {
  const salt = fromHex(hierarchy.salt!);
  const h = await argon2id({ password: hierarchy.password!, salt, iterations: hierarchy.kdf.iterations, memorySize: hierarchy.kdf.memoryKiB, parallelism: hierarchy.kdf.parallelism, hashLength: 32, outputType: 'binary' });
  assert.is(toHex(h), hierarchy.passwordHash);
  assert.is(toHex(await derivePasswordHash(hierarchy.password!, salt, { algorithm: 'argon2id', ...hierarchy.kdf })), hierarchy.passwordHash);
  assert.equal(hierarchy.labels, { kek: 'bunker kek', verify: 'bunker verify', pointMac: 'bunker point mac', chunkId: 'bunker chunk-id', chunker: 'bunker chunker', publicGearIkm: 'bunker public gear table' });
  assert.equal([LABEL_KEK, LABEL_VERIFY, LABEL_POINT_MAC, LABEL_CHUNK_ID, LABEL_CHUNKER, PUBLIC_GEAR_IKM], Object.values(hierarchy.labels));
  const master = fromHex(hierarchy.master!);
  assert.is(toHex(await specHkdf(h, 'bunker kek', 32)), hierarchy.kek);
  assert.is(toHex(await specHkdf(h, 'bunker verify', 32)), hierarchy.verifier);
  assert.is(toHex(await specHkdf(h, 'bunker point mac', 32)), hierarchy.pointMacKey);
  assert.is(toHex(await specHkdf(master, 'bunker chunk-id', 32)), hierarchy.chunkIdKey);
  assert.is(toHex(await specHkdf(master, 'bunker chunker', 1024)), hierarchy.gearSeed);
  assert.is(toHex(await specHkdf(utf8('bunker public gear table'), 'bunker chunker', 1024)), hierarchy.publicGearSeed);
  const passwordKeys = await derivePasswordKeys(h);
  assert.is(toHex(passwordKeys.verifier), hierarchy.verifier);
  const series = await deriveSeriesKeys(master);
  assert.is(toHex(series.chunkIdKey), hierarchy.chunkIdKey);
  assert.is(toHex(series.gearSeed), hierarchy.gearSeed);
  assert.is(toHex(await publicGearSeed()), hierarchy.publicGearSeed);
  assert.is(toHex(await hkdf(h, LABEL_KEK)), hierarchy.kek);
});

test('chunk_id.json: algorithms 1 and 2, keyed and unkeyed (FORMAT.md §5.2)', async () => {
  const doc = JSON.parse(texts.get('chunk_id.json')!) as { chunkIdKey: string; ids: { algorithm: 1 | 2; input: string; keyed: string; unkeyed: string }[] };
  assert.is(doc.chunkIdKey, hierarchy.chunkIdKey);
  const key = fromHex(doc.chunkIdKey);
  const inputs: Record<string, Uint8Array> = { empty: new Uint8Array(0), abc: utf8('abc') };
  assert.is(doc.ids.length, 6);
  for (const id of doc.ids) {
    const data = inputs[id.input] ?? headerBytes(id.input);
    const specKeyed = id.algorithm === 1 ? toHex(await specHmac(key, data)) : await blake3(data, 256, key);
    const specUnkeyed = id.algorithm === 1 ? toHex(await specSha256(data)) : await blake3(data, 256);
    assert.is(specKeyed, id.keyed, `algorithm ${id.algorithm} keyed, ${id.input}`);
    assert.is(specUnkeyed, id.unkeyed, `algorithm ${id.algorithm} unkeyed, ${id.input}`);
    assert.is(toHex(await (await chunkIdFunction(id.algorithm, key))(data)), id.keyed);
    assert.is(toHex(await (await chunkIdFunction(id.algorithm, undefined))(data)), id.unkeyed);
  }
  assert.is(doc.ids[0]!.unkeyed, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'SHA-256 of the empty string');
});

test('chunker_cuts.json: cut points of whole inputs (FORMAT.md §5.1)', async () => {
  const doc = JSON.parse(texts.get('chunker_cuts.json')!) as { cases: { name: string; params: ChunkerParams; gear: 'public' | 'series'; input: { generator: string; seed?: number; length: number }; inputSha256: string; cuts: number[] }[] };
  assert.is(doc.cases.length, 5);
  for (const c of doc.cases) {
    const data = c.input.generator === 'zeros' ? new Uint8Array(c.input.length) : pseudoRandomBytes(c.input.length, c.input.seed);
    assert.is(toHex(await specSha256(data)), c.inputSha256, `${c.name}: input`);
    const seed = fromHex(c.gear === 'public' ? hierarchy.publicGearSeed! : hierarchy.gearSeed!);
    assert.equal(specCuts(c.params, seed, data), c.cuts, `${c.name}: spec pseudo-code`);
    const chunker = new Chunker(c.params, gearTable(seed));
    const core: number[] = [];
    for (let start = 0; start < data.length;) {
      const length = chunker.nextCut(data, start, data.length, true);
      core.push(length);
      start += length;
    }
    assert.equal(core, c.cuts, `${c.name}: core Chunker`);
    assert.is(c.cuts.reduce((a, b) => a + b, 0), data.length);
    for (const length of c.cuts.slice(0, -1)) assert.ok(length > c.params.minBytes && length <= c.params.maxBytes, `${c.name}: chunk length ${length}`);
  }
});

async function checkKeyWrap(name: string, v: ParsedVector): Promise<void> {
  const h = fromHex(v.get('password-hash'));
  const label = v.get('label') as 'master' | 'dek';
  const pointId = v.get('point-id');
  const runId = v.get('run-id');
  const nonce = fromHex(v.get('nonce'));
  const key = fromHex(v.get('key'));
  assert.is(v.payload.length, 60, name);
  assertBytes(v.payload.subarray(0, 12), nonce);
  const kek = await specHkdf(h, 'bunker kek', 32);
  assertBytes(v.payload.subarray(12), await specSeal(kek, nonce, specWrapAad(label, pointId, runId), key), `${name}: spec recomputation`);
  const core = (await derivePasswordKeys(h)).kek;
  assertBytes(await unwrapKey(core, label, pointId, runId, v.payload), key, `${name}: core unwrapKey`);
  assert.is(await unwrapKey(core, label, pointId, pointId, v.payload), undefined, `${name}: another run id must not unwrap`);
  assert.is(await unwrapKey(core, label === 'dek' ? 'master' : 'dek', pointId, runId, v.payload), undefined, `${name}: another label must not unwrap`);
}

async function checkStream(name: string, v: ParsedVector): Promise<void> {
  const cipher = await cipherFor(v.get('key'));
  const kind = v.get('kind') as StreamKindName;
  const objectId = v.get('object-id');
  const expect = v.get('expect');
  if (expect !== 'success') {
    await expectCode(name, expect, () => openStream(cipher, kind, objectId, v.payload, name));
    return;
  }
  const plaintext = headerBytes(v.get('plaintext'));
  const codec = Number(v.get('codec')) as StreamCodec;
  const prefix = fromHex(v.get('prefix'));
  const opened = await openStream(cipher, kind, objectId, v.payload, name);
  assertBytes(opened.plaintext, plaintext, `${name}: opened plaintext`);
  assert.is(opened.codec, codec);
  assertBytes(await sealStream(cipher, kind, objectId, plaintext, codec, prefix), v.payload, `${name}: core sealStream`);
  assertBytes(await specStream(keyBytes(v.get('key')), kind, objectId, codec, prefix, plaintext), v.payload, `${name}: spec recomputation`);
  if (codec === 1) {
    const storage = new MemoryStorage();
    const repo = await Repository.init(storage);
    const key = `trees/${objectId}`;
    await storage.put(key, v.payload);
    assertBytes(await repo.readStreamObject(cipher, 'manifest', objectId, key), fromHex(v.get('content')), `${name}: zstd content`);
  }
}

async function checkBlob(name: string, v: ParsedVector): Promise<void> {
  const cipher = await cipherFor(v.get('key'));
  const counter = Number(v.get('counter'));
  const chunkId = fromHex(v.get('chunk-id'));
  const codec = Number(v.get('codec')) as ChunkCodec;
  const rawLength = Number(v.get('raw-length'));
  const payload = fromHex(v.get('payload'));
  const plaintext = fromHex(v.get('plaintext'));
  const expect = v.get('expect');
  if (expect !== 'success') {
    await expectCode(name, expect, () => openChunk(cipher, v.payload, chunkId, codec, rawLength, v.get('pack-id')));
    return;
  }
  assertBytes(await openChunk(cipher, v.payload, chunkId, codec, rawLength, v.get('pack-id')), payload, `${name}: opened payload`);
  assertBytes(await sealChunk(cipher, counter, chunkId, codec, rawLength, payload), v.payload, `${name}: core sealChunk`);
  const nonce = specChunkNonce(counter);
  assertBytes(v.payload, concatBytes(nonce, await specSeal(keyBytes(v.get('key')), nonce, specChunkAad(chunkId, codec, rawLength), payload)), `${name}: spec recomputation`);
  const decoded = codec === 1 ? zstd.decompress(payload, rawLength) : payload;
  assertBytes(decoded, plaintext, `${name}: decoded chunk`);
  assert.is(plaintext.length, rawLength);
  const expectedId = v.get('key') === 'none' ? await specSha256(plaintext) : await specHmac(fromHex(hierarchy.chunkIdKey!), plaintext);
  assertBytes(chunkId, expectedId, `${name}: the chunk id is that of its plaintext`);
}

async function checkPack(name: string, v: ParsedVector): Promise<void> {
  const key = v.get('key');
  const cipher = await cipherFor(key);
  const packId = v.get('pack-id');
  assertBytes(v.payload.subarray(0, 8), utf8('BNKPACK1'), `${name}: magic`);
  const builder = new PackBuilder(new Uint8Array(64 * 1024));
  let expectedOffset = 8;
  let counter = 0;
  for (const blob of v.all('blob')) {
    const [offset, length, codec, rawLength, id, plaintext] = blob.split(' ') as [string, string, string, string, string, string];
    assert.is(Number(offset), expectedOffset, `${name}: blobs are back to back`);
    const bytes = v.payload.subarray(Number(offset), Number(offset) + Number(length));
    assertBytes(await openChunk(cipher, bytes, fromHex(id), Number(codec) as ChunkCodec, Number(rawLength), packId), fromHex(plaintext), `${name}: blob at ${offset}`);
    assert.is(builder.add(await sealChunk(cipher, counter++, fromHex(id), Number(codec) as ChunkCodec, Number(rawLength), fromHex(plaintext))), Number(offset));
    expectedOffset += Number(length);
  }
  assert.is(expectedOffset, v.payload.length, `${name}: no trailer`);
  assertBytes(builder.bytes(), v.payload, `${name}: core PackBuilder`);
}

async function checkRunIndex(name: string, v: ParsedVector): Promise<void> {
  const runId = v.get('run-id');
  const expect = v.get('expect');
  if (expect !== 'success') {
    await expectCode(name, expect, () => parseRunIndex(v.payload, runId, new ChunkIndex()));
    return;
  }
  const parsed = new ChunkIndex();
  parseRunIndex(v.payload, runId, parsed);
  const entries = v.all('entry').map((line) => {
    const [id, packId, offset, length, rawLength, codec] = line.split(' ') as [string, string, string, string, string, string];
    return [id, { packId, offset: Number(offset), length: Number(length), rawLength: Number(rawLength), codec: Number(codec) as ChunkCodec, runId }] as const;
  });
  assert.equal([...parsed], entries, `${name}: parsed entries`);
  assertBytes(encodeRunIndex(parsed), v.payload, `${name}: core encodeRunIndex`);
  // FORMAT.md §8, from the words: pack ids in order of first use, then 49-byte entries.
  const packs = [...new Set(entries.map(([, e]) => e.packId))];
  const spec = concatBytes(u32(packs.length), ...packs.map(fromHex), u32(entries.length), ...entries.map(([id, e]) =>
    concatBytes(fromHex(id), u32(packs.indexOf(e.packId)), u32(e.offset), u32(e.length), u32(e.rawLength), new Uint8Array([e.codec]))));
  assertBytes(spec, v.payload, `${name}: spec recomputation`);
}

async function checkConfig(name: string, v: ParsedVector): Promise<void> {
  const expect = v.get('expect');
  if (expect !== 'success') {
    await expectCode(name, expect, () => parseConfig(v.payload));
    return;
  }
  const config = await parseConfig(v.payload);
  assertBytes(await encodeConfig(config), v.payload, `${name}: core encodeConfig`);
  const body = utf8(JSON.stringify(config));
  const prefix = concatBytes(utf8('BNKREPO1'), new Uint8Array([0, 1, 0, 0]), u32(body.length));
  assertBytes(concatBytes(prefix, body, await specSha256(concatBytes(prefix, body))), v.payload, `${name}: spec recomputation`);
}

async function checkPoint(name: string, v: ParsedVector): Promise<void> {
  const expect = v.get('expect');
  const pointId = v.get('point-id');
  const repo = await vectorRepository(v.get('repository-config'));
  const resolver = new PasswordKeyResolver(async () => v.get('password'));
  if (expect !== 'success') {
    await expectCode(name, expect, async () => repo.unlock(await parsePoint(v.payload, pointId), resolver));
    return;
  }
  const record = await parsePoint(v.payload, pointId);
  const unlocked = await repo.unlock(record, resolver);
  assert.is(unlocked.id, pointId);
  const length = new DataView(v.payload.buffer, v.payload.byteOffset).getUint32(12);
  const prefixAndBody = v.payload.subarray(0, 16 + length);
  const checksum = await specSha256(prefixAndBody);
  const body = JSON.parse(new TextDecoder().decode(v.payload.subarray(16, 16 + length))) as Record<string, any>;
  assertBytes(v.payload.subarray(0, 8), utf8('BNKPOINT'));
  if (body.encryption === null) {
    assert.is(unlocked.keySource, 'none');
    assertBytes(v.payload, concatBytes(prefixAndBody, checksum), `${name}: spec recomputation (no MAC)`);
    assert.is(v.payload[11], 0, 'flags');
    return;
  }
  assert.is(v.payload[11], 1, 'flag bit 0: MAC');
  const salt = fromBase64(body.encryption.salt);
  const h = await derivePasswordHash(v.get('password'), salt, body.encryption.kdf);
  const macKey = await specHkdf(h, 'bunker point mac', 32);
  assertBytes(v.payload, concatBytes(prefixAndBody, checksum, await specHmac(macKey, concatBytes(prefixAndBody, checksum))), `${name}: spec recomputation (checksum and MAC)`);
  assertBytes(fromBase64(body.encryption.verifier), await specHkdf(h, 'bunker verify', 32), `${name}: verifier`);
  const kek = await specHkdf(h, 'bunker kek', 32);
  const master = fromHex(v.get('master'));
  const masterNonce = fromHex(v.get('wrap-nonce-master'));
  assertBytes(fromBase64(body.encryption.master), concatBytes(masterNonce, await specSeal(kek, masterNonce, specWrapAad('master', pointId, body.run), master)), `${name}: wrapped M`);
  assertBytes(unlocked.masterSecret, master, `${name}: unlocked M`);
  const deks = v.all('dek');
  assert.is(deks.length, body.runs.length);
  for (let i = 0; i < deks.length; i++) {
    const [runId, dek, nonce] = deks[i]!.split(' ') as [string, string, string];
    assert.is(body.runs[i], runId);
    assertBytes(fromBase64(body.encryption.keys[i]), concatBytes(fromHex(nonce), await specSeal(kek, fromHex(nonce), specWrapAad('dek', pointId, runId), fromHex(dek))), `${name}: wrapped DEK ${i}`);
    assertBytes(unlocked.dataKeys.get(runId), fromHex(dek), `${name}: unlocked DEK ${i}`);
  }
}

async function checkManifest(name: string, v: ParsedVector): Promise<void> {
  const expect = v.get('expect');
  const object = v.get('object');
  if (expect !== 'success') {
    await expectCode(name, expect, () => parseManifest(v.payload, object));
    return;
  }
  const manifest = parseManifest(v.payload, object);
  assertBytes(encodeManifest(manifest), v.payload, `${name}: core encodeManifest`);
  const lines = new TextDecoder().decode(v.payload).split('\n');
  assert.is(lines.pop(), '', 'final newline');
  assert.equal(manifest.entries.map((e) => JSON.stringify(e)), lines.slice(1), `${name}: one entry per line`);
  assert.ok(manifest.entries.some((e) => e.type === 'symlink') && manifest.entries.some((e) => e.type === 'dir') && manifest.entries.some((e) => e.type === 'file' && e.chunks!.length === 0));
  if (name.startsWith('manifest_owners')) assert.ok(manifest.entries.every((e) => Number.isSafeInteger(e.uid) && Number.isSafeInteger(e.gid)), `${name}: owners read`);
}

async function checkFsi(name: string, v: ParsedVector): Promise<void> {
  const expect = v.get('expect');
  const object = v.get('object');
  if (expect !== 'success') {
    await expectCode(name, expect, () => parseFsi(v.payload, object));
    return;
  }
  const entries = parseFsi(v.payload, object);
  assertBytes(encodeFsi(entries), v.payload, `${name}: core encodeFsi`);
  const manifest = parseManifest(vector('manifest_small.txt').payload, 'manifest_small');
  assert.equal(entries, fsiFromManifest(manifest.entries), `${name}: the FSI of manifest_small`);
  const codes: Record<string, string> = { file: 'f', dir: 'd', symlink: 'l' };
  assertBytes(v.payload, utf8(manifest.entries.map((e) => JSON.stringify([e.path, codes[e.type], e.size, e.mtimeMs]) + '\n').join('')), `${name}: spec recomputation`);
}

/** FORMAT.md §14: read as import reads it (header, H from the password, open, parse the content); positive ones recomputed. */
async function checkBundle(name: string, v: ParsedVector): Promise<void> {
  const expect = v.get('expect');
  const open = async () => {
    const header = await parseBundleHeader(v.payload, name);
    const h = await derivePasswordHash(v.get('password'), header.salt, header.kdf);
    return parseSnapshot(await openBundle(v.payload, header, h, name), name);
  };
  if (expect !== 'success') {
    await expectCode(name, expect, open);
    return;
  }
  const content = fromHex(v.get('content'));
  assertBytes(encodeSnapshot(await open()), content, `${name}: opened and parsed content`);
  const salt = fromHex(v.get('salt'));
  const [m, t, p] = /^m=(\d+),t=(\d+),p=(\d+)$/.exec(v.get('kdf'))!.slice(1).map(Number) as [number, number, number];
  const bundleId = fromHex(v.get('bundle-id'));
  const dataKey = fromHex(v.get('data-key'));
  const wrapNonce = fromHex(v.get('wrap-nonce'));
  const prefix = fromHex(v.get('prefix'));
  const h = await argon2id({ password: v.get('password'), salt, iterations: t, memorySize: m, parallelism: p, hashLength: 32, outputType: 'binary' });
  assertBytes(await sealBundle(content, { salt, kdf: { algorithm: 'argon2id', memoryKiB: m, iterations: t, parallelism: p }, hash: h }, { compress: rawZstdFrame, randomness: { bundleId, dataKey, wrapNonce, noncePrefix: prefix } }), v.payload, `${name}: core sealBundle`);
  // FORMAT.md §14.1, sentence by sentence.
  const idHex = toHex(bundleId);
  const wrapped = concatBytes(wrapNonce, await specSeal(await specHkdf(h, 'bunker kek', 32), wrapNonce, specWrapAad('bundle', idHex, idHex), dataKey));
  const body = concatBytes(u32(m), new Uint8Array([t, p, salt.length]), salt, await specHkdf(h, 'bunker verify', 32), bundleId, wrapped);
  const head = concatBytes(utf8('BNKBUNDL'), new Uint8Array([0, 1, body.length >> 8, body.length & 0xff]), body);
  const stream = await specStream(dataKey, 'bundle', idHex, 1, prefix, rawZstdFrame(content));
  assertBytes(v.payload, concatBytes(head, await specSha256(head), stream), `${name}: spec recomputation`);
}

/** FORMAT.md §15.1 and §15.2: the master key file and sealed catalog secrets. */
async function checkCatalog(name: string, v: ParsedVector): Promise<void> {
  const expect = v.get('expect');
  if (name.startsWith('catalog_master_key_file')) {
    const key = fromHex(v.get('key'));
    if (expect !== 'success') {
      await expectCode(name, expect, () => parseMasterKeyFile(v.payload, name));
      return;
    }
    assertBytes(parseMasterKeyFile(v.payload, name), key, `${name}: parsed key`);
    assertBytes(newMasterKeyFile(key), v.payload, `${name}: core newMasterKeyFile`);
    assertBytes(concatBytes(utf8('BNKMKEY1'), key), v.payload, `${name}: spec recomputation`);
    return;
  }
  const masterKey = fromHex(v.get('master-key'));
  const kind = v.get('kind') as SecretKind;
  const identity = v.get('identity') === 'empty' ? new Uint8Array(0) : fromHex(v.get('identity'));
  const box = await SecretBox.fromKey(masterKey);
  if (expect !== 'success') {
    await expectCode(name, expect, () => box.openOrFail(kind, identity, v.payload, name));
    return;
  }
  const secret = fromHex(v.get('secret'));
  const nonce = fromHex(v.get('nonce'));
  assertBytes(await box.openOrFail(kind, identity, v.payload, name), secret, `${name}: opened`);
  assertBytes(await box.seal(kind, identity, secret, nonce), v.payload, `${name}: core seal`);
  const aad = concatBytes(utf8(`bunker/catalog/${kind}`), new Uint8Array([0]), identity);
  assertBytes(v.payload, concatBytes(nonce, await specSeal(masterKey, nonce, aad, secret)), `${name}: spec recomputation`);
}

const CHECKS: [prefix: string, check: (name: string, v: ParsedVector) => Promise<void>][] = [
  ['key_wrap_', checkKeyWrap],
  ['stream_', checkStream],
  ['chunk_blob', checkBlob],
  ['pack_', checkPack],
  ['run_index', checkRunIndex],
  ['manifest_', checkManifest],
  ['fsi_', checkFsi],
  ['bundle_', checkBundle],
  ['catalog_', checkCatalog],
];

for (const name of names.filter((n) => n.endsWith('.txt'))) {
  const v = vector(name);
  test(`${name}: expect ${v.get('expect')}`, async () => {
    if (/^(document|config|point)_/.test(name)) {
      await (v.get('document') === 'config' ? checkConfig(name, v) : checkPoint(name, v));
      return;
    }
    const check = CHECKS.find(([prefix]) => name.startsWith(prefix));
    assert.ok(check, `${name}: no parser for this area`);
    await check![1](name, v);
  });
}

test.run();
