/**
 * Generator of bunker's own known-answer vectors (docs/FORMAT.md §13; file format in
 * test/vectors/README.md). Every vector is built from the fixed inputs below with the core
 * functions, so it is byte-for-byte reproducible; test/vectors.test.ts checks that this
 * generator still reproduces every committed file, and interprets each file on its own.
 *
 * Where a core function draws randomness that cannot be passed in (wrapKey's nonce), the
 * vector is built with the spec's construction (FORMAT.md §3.2) from the primitives, and the
 * core function is exercised in the parse direction (unwrapKey, Repository.unlock).
 *
 *   node test/vectors/generate.ts      rewrites test/vectors/*.txt and *.json
 */
import { readdir, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chunkIdFunction } from '../../core/chunk-id.ts';
import { Chunker, DEFAULT_CHUNKER_PARAMS, gearTable } from '../../core/chunker.ts';
import { aesGcmCipher, checksumCipher, type ObjectCipher } from '../../core/crypto/cipher.ts';
import { derivePasswordHash, hkdf, type KdfParams } from '../../core/crypto/kdf.ts';
import {
  derivePasswordKeys, deriveSeriesKeys, LABEL_CHUNK_ID, LABEL_CHUNKER, LABEL_KEK, LABEL_POINT_MAC, LABEL_VERIFY,
  PUBLIC_GEAR_IKM, publicGearSeed,
} from '../../core/crypto/keys.ts';
import { sealStream, STREAM_HEADER_BYTES, streamAad, type StreamCodec, type StreamKindName } from '../../core/crypto/stream.ts';
import { concatBytes, fromHex, toBase64, toHex, u16be, u32be, utf8 } from '../../core/format/bytes.ts';
import { encodeDocument } from '../../core/format/document.ts';
import { encodeFsi, fsiFromManifest } from '../../core/fsi.ts';
import { encodeManifest, type ManifestEntry } from '../../core/manifest.ts';
import { CONFIG_MAGIC, encodeConfig, type RepositoryConfig } from '../../core/repo/config.ts';
import { type ChunkCodec, PackBuilder, sealChunk } from '../../core/repo/pack.ts';
import { POINT_MAGIC, POINT_VERSION } from '../../core/repo/recovery-point.ts';
import { encodeRunIndex, type IndexEntry } from '../../core/repo/run-index.ts';
import { ChunkIndex } from '../../core/repo/chunk-index.ts';
import { BUNDLE_PREFIX_BYTES, sealBundle } from '../../core/bundle.ts';
import { type BundleContent, encodeSnapshot } from '../../core/catalog/snapshot.ts';
import { KEY_CHECK_PLAINTEXT, newMasterKeyFile, SecretBox, type SecretKind } from '../../core/catalog/secret-box.ts';
import { pseudoRandomBytes, SMALL_CHUNKER } from '../helpers.ts';

// ---------------------------------------------------------------------------------------
// Fixed inputs. Test keys only: never use them for anything else.

export const PASSWORD = 'correct horse battery staple';
export const SALT = fromHex('000102030405060708090a0b0c0d0e0f');
export const KDF: KdfParams = Object.freeze({ algorithm: 'argon2id', memoryKiB: 64, iterations: 1, parallelism: 1 });
/** M, the series master secret. */
export const MASTER = fromHex('a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf');
/** The DEK of the vector point's own run, and of its parent's run. */
export const DEK = fromHex('404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f');
export const PARENT_DEK = fromHex('606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f');
export const REPOSITORY_ID = 'c0ffee00'.repeat(8);
export const POINT_ID = '0123456789abcdef'.repeat(4);
export const PARENT_POINT_ID = '89abcdef01234567'.repeat(4);
export const RUN_ID = 'fedcba9876543210'.repeat(4);
export const PARENT_RUN_ID = '00112233445566778899aabbccddeeff'.repeat(2);
export const PACK_ID_A = 'aa'.repeat(32);
export const PACK_ID_B = 'bb'.repeat(32);
/** STREAM nonce prefix: domain byte 0x01 then 6 fixed bytes (FORMAT.md §4.2). */
export const PREFIX = fromHex('01a1a2a3a4a5a6');
export const WRAP_NONCE_MASTER = fromHex('c1c2c3c4c5c6c7c8c9cacbcc');
export const WRAP_NONCE_DEK = fromHex('d1d2d3d4d5d6d7d8d9dadbdc');
export const WRAP_NONCE_PARENT_DEK = fromHex('e1e2e3e4e5e6e7e8e9eaebec');
export const CREATED_AT = '2024-01-02T03:04:05.678Z';
export const PARENT_CREATED_AT = '2024-01-01T03:04:05.678Z';
export const MTIME_MS = 1704164645678;
export const SERIES = 'vectors';

/** Deterministic filler: byte i is i mod 251 (a prime, so segments do not repeat). */
export function pattern(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = i % 251;
  return out;
}

/**
 * A zstd frame (RFC 8878) holding `content` in one raw block: magic, a frame header with
 * Single_Segment and a 4-byte Frame_Content_Size, one last raw block. Built by hand so the
 * vectors do not depend on a zstd library's compressor output.
 */
export function rawZstdFrame(content: Uint8Array): Uint8Array {
  if (content.length >= 1 << 17) throw new Error('internal error: raw block too large');
  const out = new Uint8Array(12 + content.length);
  out.set([0x28, 0xb5, 0x2f, 0xfd, 0xa0], 0);
  new DataView(out.buffer).setUint32(5, content.length, true);
  const blockHeader = 1 | (content.length << 3); // Last_Block = 1, Block_Type = Raw
  out.set([blockHeader & 0xff, (blockHeader >> 8) & 0xff, (blockHeader >> 16) & 0xff], 9);
  out.set(content, 12);
  return out;
}

/**
 * The same content in the header form a backup writes when it streamed the frame (a manifest
 * past 1 MiB): not single-segment, a window descriptor (2^21 bytes, zstd level 3's), then
 * Frame_Content_Size in a 4-byte field.
 */
export function streamedRawZstdFrame(content: Uint8Array): Uint8Array {
  if (content.length >= 1 << 17) throw new Error('internal error: raw block too large');
  const out = new Uint8Array(13 + content.length);
  out.set([0x28, 0xb5, 0x2f, 0xfd, 0x80, (21 - 10) << 3], 0);
  new DataView(out.buffer).setUint32(6, content.length, true);
  const blockHeader = 1 | (content.length << 3); // Last_Block = 1, Block_Type = Raw
  out.set([blockHeader & 0xff, (blockHeader >> 8) & 0xff, (blockHeader >> 16) & 0xff], 10);
  out.set(content, 13);
  return out;
}

// ---------------------------------------------------------------------------------------
// The vector file format (test/vectors/README.md).

export type Headers = [name: string, value: string][];

export interface VectorFile {
  readonly name: string;
  readonly content: string;
}

const HEX_BYTES_PER_LINE = 64;

export function formatVector(headers: Headers, payload: Uint8Array): string {
  let text = headers.map(([name, value]) => `${name}: ${value}\n`).join('') + '\n';
  for (let i = 0; i < payload.length; i += HEX_BYTES_PER_LINE) text += toHex(payload.subarray(i, i + HEX_BYTES_PER_LINE)) + '\n';
  return text;
}

export interface ParsedVector {
  /** Every header, in order; names may repeat. */
  readonly headers: Headers;
  /** The single value of a header; throws if absent or repeated. */
  get(name: string): string;
  /** All values of a (possibly repeated or absent) header. */
  all(name: string): string[];
  readonly payload: Uint8Array;
}

export function parseVector(text: string): ParsedVector {
  const split = text.indexOf('\n\n');
  if (split === -1) throw new Error('vector has no blank line after its headers');
  const headers: Headers = text.slice(0, split).split('\n').map((line) => {
    const colon = line.indexOf(': ');
    if (colon === -1) throw new Error(`bad header line ${JSON.stringify(line)}`);
    return [line.slice(0, colon), line.slice(colon + 2)];
  });
  const payload = fromHex(text.slice(split + 2).replace(/\n/g, ''));
  const all = (name: string): string[] => headers.filter(([n]) => n === name).map(([, v]) => v);
  return {
    headers,
    payload,
    all,
    get(name) {
      const values = all(name);
      if (values.length !== 1) throw new Error(`vector needs exactly one "${name}" header, has ${values.length}`);
      return values[0]!;
    },
  };
}

/** Decodes a header value holding bytes: lowercase hex, or `pattern(N)` (see `pattern`). */
export function headerBytes(value: string): Uint8Array {
  const match = /^pattern\((\d+)\)$/.exec(value);
  return match ? pattern(Number(match[1])) : fromHex(value);
}

function txt(name: string, headers: Headers, payload: Uint8Array): VectorFile {
  return { name: `${name}.txt`, content: formatVector(headers, payload) };
}

function json(name: string, value: unknown): VectorFile {
  return { name: `${name}.json`, content: JSON.stringify(value, null, 2) + '\n' };
}

function mutate(bytes: Uint8Array, change: (copy: Uint8Array) => void): Uint8Array {
  const copy = bytes.slice();
  change(copy);
  return copy;
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as BufferSource));
}

// ---------------------------------------------------------------------------------------
// Keys (FORMAT.md §3, §3.2, §5.1, §5.2)

interface Keys {
  readonly passwordHash: Uint8Array;
  readonly kekRaw: Uint8Array;
  readonly kek: ObjectCipher;
  readonly verifier: Uint8Array;
  readonly pointMacKey: CryptoKey;
  readonly pointMacKeyRaw: Uint8Array;
  readonly chunkIdKey: Uint8Array;
  readonly gearSeed: Uint8Array;
  readonly dek: ObjectCipher;
}

async function deriveKeys(): Promise<Keys> {
  const passwordHash = await derivePasswordHash(PASSWORD, SALT, KDF);
  const passwordKeys = await derivePasswordKeys(passwordHash);
  const series = await deriveSeriesKeys(MASTER);
  return {
    passwordHash,
    kekRaw: await hkdf(passwordHash, LABEL_KEK),
    kek: passwordKeys.kek,
    verifier: passwordKeys.verifier,
    pointMacKey: passwordKeys.pointMacKey,
    pointMacKeyRaw: await hkdf(passwordHash, LABEL_POINT_MAC),
    chunkIdKey: series.chunkIdKey,
    gearSeed: series.gearSeed,
    dek: await aesGcmCipher(DEK),
  };
}

/** FORMAT.md §3.2, built from the spec's words (core's wrapKey draws its own nonce). */
export function wrapAadSpec(label: 'master' | 'dek', pointId: string, runId: string): Uint8Array {
  return concatBytes(utf8(`bunker/wrap/${label}`), new Uint8Array([0]), utf8(pointId), new Uint8Array([0]), utf8(runId));
}

async function wrapFixed(kek: ObjectCipher, label: 'master' | 'dek', pointId: string, runId: string, key: Uint8Array, nonce: Uint8Array): Promise<Uint8Array> {
  return concatBytes(nonce, await kek.seal(nonce, wrapAadSpec(label, pointId, runId), key));
}

async function keyVectors(keys: Keys): Promise<VectorFile[]> {
  const hierarchy = json('keys_hierarchy', {
    comment: 'FORMAT.md §3: Argon2id(password, salt) = H, then HKDF-SHA-256 (empty salt) with each label as info. Test parameters, not production ones.',
    password: PASSWORD,
    salt: toHex(SALT),
    kdf: KDF,
    passwordHash: toHex(keys.passwordHash),
    labels: { kek: LABEL_KEK, verify: LABEL_VERIFY, pointMac: LABEL_POINT_MAC, chunkId: LABEL_CHUNK_ID, chunker: LABEL_CHUNKER, publicGearIkm: PUBLIC_GEAR_IKM },
    kek: toHex(keys.kekRaw),
    verifier: toHex(keys.verifier),
    pointMacKey: toHex(keys.pointMacKeyRaw),
    master: toHex(MASTER),
    chunkIdKey: toHex(keys.chunkIdKey),
    gearSeed: toHex(keys.gearSeed),
    publicGearSeed: toHex(await publicGearSeed()),
  });
  const wrap = async (name: string, label: 'master' | 'dek', runId: string, key: Uint8Array, nonce: Uint8Array, comment: string) =>
    txt(name, [
      ['expect', 'success'],
      ['comment', comment],
      ['password-hash', toHex(keys.passwordHash)],
      ['label', label],
      ['point-id', POINT_ID],
      ['run-id', runId],
      ['nonce', toHex(nonce)],
      ['key', toHex(key)],
    ], await wrapFixed(keys.kek, label, POINT_ID, runId, key, nonce));
  return [
    hierarchy,
    await wrap('key_wrap_master', 'master', RUN_ID, MASTER, WRAP_NONCE_MASTER, 'FORMAT.md §3.2: M wrapped under HKDF(H, "bunker kek"), AAD "bunker/wrap/master" 0x00 point id 0x00 the point\'s run id'),
    await wrap('key_wrap_dek', 'dek', PARENT_RUN_ID, PARENT_DEK, WRAP_NONCE_PARENT_DEK, 'FORMAT.md §3.2: a parent run\'s DEK re-wrapped by a later point, AAD "bunker/wrap/dek" 0x00 point id 0x00 that run\'s id'),
  ];
}

// ---------------------------------------------------------------------------------------
// Chunking and chunk ids (FORMAT.md §5)

function cuts(chunker: Chunker, data: Uint8Array): number[] {
  const out: number[] = [];
  for (let start = 0; start < data.length;) {
    const length = chunker.nextCut(data, start, data.length, true);
    out.push(length);
    start += length;
  }
  return out;
}

async function chunkVectors(keys: Keys): Promise<VectorFile[]> {
  const publicGear = gearTable(await publicGearSeed());
  const seriesGear = gearTable(keys.gearSeed);
  const small = new Chunker(SMALL_CHUNKER, publicGear);
  const random = pseudoRandomBytes(100_000, 1);
  const big = pseudoRandomBytes(8 * 1024 * 1024, 2);
  const cases = [
    { name: 'xorshift32 seed 1, public gear table, small parameters', params: SMALL_CHUNKER, gear: 'public', input: { generator: 'xorshift32', seed: 1, length: random.length }, inputSha256: toHex(await sha256(random)), cuts: cuts(small, random) },
    { name: 'xorshift32 seed 1, series gear table (M of keys_hierarchy.json), small parameters', params: SMALL_CHUNKER, gear: 'series', input: { generator: 'xorshift32', seed: 1, length: random.length }, inputSha256: toHex(await sha256(random)), cuts: cuts(new Chunker(SMALL_CHUNKER, seriesGear), random) },
    { name: '50000 zero bytes, public gear table, small parameters: no boundary, cuts at max, short remainder', params: SMALL_CHUNKER, gear: 'public', input: { generator: 'zeros', length: 50_000 }, inputSha256: toHex(await sha256(new Uint8Array(50_000))), cuts: cuts(small, new Uint8Array(50_000)) },
    { name: '1024 bytes (= min), public gear table, small parameters: one chunk', params: SMALL_CHUNKER, gear: 'public', input: { generator: 'xorshift32', seed: 3, length: 1024 }, inputSha256: toHex(await sha256(pseudoRandomBytes(1024, 3))), cuts: cuts(small, pseudoRandomBytes(1024, 3)) },
    { name: 'xorshift32 seed 2, 8 MiB, public gear table, default parameters', params: DEFAULT_CHUNKER_PARAMS, gear: 'public', input: { generator: 'xorshift32', seed: 2, length: big.length }, inputSha256: toHex(await sha256(big)), cuts: cuts(new Chunker(DEFAULT_CHUNKER_PARAMS, publicGear), big) },
  ];
  const chunkerCuts = json('chunker_cuts', {
    comment: 'FORMAT.md §5.1: chunk lengths of a whole input. xorshift32 is pseudoRandomBytes in test/helpers.ts (x ^= x << 13; x ^= x >>> 17; x ^= x << 5; byte = x & 0xff).',
    cases,
  });
  const inputs = [
    { name: 'empty', data: new Uint8Array(0) },
    { name: 'abc', data: utf8('abc') },
    { name: 'pattern(1000)', data: pattern(1000) },
  ];
  const ids = [];
  for (const algorithm of [1, 2] as const) {
    const keyed = await chunkIdFunction(algorithm, keys.chunkIdKey);
    const plain = await chunkIdFunction(algorithm, undefined);
    for (const input of inputs) {
      ids.push({ algorithm, input: input.name, keyed: toHex(await keyed(input.data)), unkeyed: toHex(await plain(input.data)) });
    }
  }
  const chunkId = json('chunk_id', {
    comment: 'FORMAT.md §5.2: keyed = encrypted series (key = chunkIdKey), unkeyed = unencrypted series. Inputs: "empty" (0 bytes), "abc" (UTF-8), "pattern(N)" (byte i = i mod 251).',
    chunkIdKey: toHex(keys.chunkIdKey),
    ids,
  });
  return [chunkerCuts, chunkId];
}

// ---------------------------------------------------------------------------------------
// STREAM (FORMAT.md §4.3)

const STREAM_ONE_PLAINTEXT = utf8('bunker STREAM vector: one short segment\n');

function streamHeaders(expect: string, comment: string, key: Uint8Array | undefined, kind: StreamKindName, objectId: string, extra: Headers = []): Headers {
  return [
    ['expect', expect],
    ['comment', comment],
    ['key', key === undefined ? 'none' : toHex(key)],
    ['kind', kind],
    ['object-id', objectId],
    ...extra,
  ];
}

/** A segment nonce built from FORMAT.md §4.3's words (core's is private). */
export function segmentNonceSpec(prefix: Uint8Array, index: number, isFinal: boolean): Uint8Array {
  return concatBytes(prefix, u32be(index), new Uint8Array([isFinal ? 1 : 0]));
}

async function streamVectors(keys: Keys, runIndexPlain: Uint8Array, manifestPlain: Uint8Array): Promise<{ files: VectorFile[]; manifestStream: Uint8Array }> {
  const files: VectorFile[] = [];
  const positive = async (name: string, comment: string, cipher: ObjectCipher, key: Uint8Array | undefined, kind: StreamKindName, objectId: string, plaintextHeader: string, sealedPlaintext: Uint8Array, codec: StreamCodec, extra: Headers = []) => {
    const sealed = await sealStream(cipher, kind, objectId, sealedPlaintext, codec, PREFIX);
    files.push(txt(name, streamHeaders('success', comment, key, kind, objectId, [['codec', String(codec)], ['prefix', toHex(PREFIX)], ['plaintext', plaintextHeader], ...extra]), sealed));
    return sealed;
  };
  const negative = (name: string, expect: string, comment: string, payload: Uint8Array, kind: StreamKindName = 'manifest', objectId = POINT_ID, key: Uint8Array | undefined = DEK) => {
    files.push(txt(name, streamHeaders(expect, comment, key, kind, objectId), payload));
  };

  await positive('stream_empty', 'empty plaintext: exactly one segment, empty, sealed with last-flag 1 (16-byte header + 16-byte tag)', keys.dek, DEK, 'manifest', POINT_ID, '', new Uint8Array(0), 0);
  const one = await positive('stream_one_segment', 'one short final segment', keys.dek, DEK, 'manifest', POINT_ID, toHex(STREAM_ONE_PLAINTEXT), STREAM_ONE_PLAINTEXT, 0);
  const two = await positive('stream_two_segments', 'a full 65536-byte segment (last-flag 0) then a 10-byte final segment (last-flag 1); plaintext byte i = i mod 251', keys.dek, DEK, 'manifest', POINT_ID, 'pattern(65546)', pattern(65546), 0);
  await positive('stream_unencrypted', 'cipher 0 (unencrypted series): each segment is plaintext followed by SHA-256(nonce ‖ aad ‖ plaintext)[0..16)', checksumCipher, undefined, 'fsi', POINT_ID, toHex(STREAM_ONE_PLAINTEXT), STREAM_ONE_PLAINTEXT, 0);
  await positive('stream_index', 'a run index (the payload of run_index.txt) sealed as kind index; the object id is the run id', keys.dek, DEK, 'index', RUN_ID, toHex(runIndexPlain), runIndexPlain, 0);
  const manifestFrame = rawZstdFrame(manifestPlain);
  const streamedFrame = streamedRawZstdFrame(manifestPlain);
  await positive('stream_zstd_streamed_header', 'codec 1 as a backup writes a manifest it compressed as it grew: the zstd frame header has a window descriptor and declares Frame_Content_Size in a 4-byte field (not single-segment); content is manifest_small.txt', keys.dek, DEK, 'manifest', POINT_ID, toHex(streamedFrame), streamedFrame, 1, [['content', toHex(manifestPlain)]]);
  const manifestStream = await positive('stream_zstd_manifest', 'codec 1: the segments hold one zstd frame (here a single raw block with Frame_Content_Size) whose content is manifest_small.txt', keys.dek, DEK, 'manifest', POINT_ID, toHex(manifestFrame), manifestFrame, 1, [['content', toHex(manifestPlain)]]);

  const body = STREAM_HEADER_BYTES;
  negative('stream_header_only', 'TAMPERED', 'only the 16-byte header: shorter than header + one tag', one.subarray(0, body));
  negative('stream_truncated_tag', 'TAMPERED', 'stream_one_segment without its last byte', one.subarray(0, one.length - 1));
  negative('stream_bad_magic', 'TAMPERED', 'magic "BNKT" instead of "BNKS"', mutate(one, (b) => (b[3] = 0x54)));
  negative('stream_newer_version', 'UNSUPPORTED_VERSION', 'version byte 2: written by a newer bunker (checked before authentication)', mutate(one, (b) => (b[4] = 2)));
  negative('stream_version_zero', 'TAMPERED', 'version byte 0 was never written: damage, not a newer version', mutate(one, (b) => (b[4] = 0)));
  negative('stream_bad_codec', 'TAMPERED', 'codec byte 2 is not registered', mutate(one, (b) => (b[7] = 2)));
  negative('stream_reserved_nonzero', 'TAMPERED', 'reserved header byte 15 is 0x01', mutate(one, (b) => (b[15] = 1)));
  negative('stream_codec_flipped', 'TAMPERED', 'codec byte changed 0 -> 1: the header is in the AAD, so authentication fails', mutate(one, (b) => (b[7] = 1)));
  negative('stream_flipped_bit', 'TAMPERED', 'one ciphertext bit flipped', mutate(one, (b) => (b[body + 3]! ^= 0x01)));
  negative('stream_wrong_object_id', 'TAMPERED', 'stream_one_segment (sealed for the point id of stream_one_segment) opened as another point\'s manifest', one, 'manifest', PARENT_POINT_ID);
  negative('stream_wrong_kind', 'TAMPERED', 'a valid kind-2 (fsi) stream where a manifest is expected', await sealStream(keys.dek, 'fsi', POINT_ID, STREAM_ONE_PLAINTEXT, 0, PREFIX));
  negative('stream_wrong_cipher', 'TAMPERED', 'a valid cipher-0 (unencrypted) stream where the reader holds an AES-256-GCM key', await sealStream(checksumCipher, 'manifest', POINT_ID, STREAM_ONE_PLAINTEXT, 0, PREFIX));
  negative('stream_truncated_final', 'TAMPERED', 'stream_two_segments without its final segment: the remaining last segment was sealed with last-flag 0', two.subarray(0, body + 65536 + 16));
  negative('stream_trailing_garbage', 'TAMPERED', 'stream_one_segment followed by 3 extra bytes after the final segment', concatBytes(one, fromHex('00ff00')));

  // A writer never emits an empty final segment after a full one (FORMAT.md §4.3); build one by hand.
  const header = two.slice(0, body);
  const aad = streamAad('manifest', POINT_ID, header);
  const full = pattern(65536);
  negative('stream_empty_final_segment', 'TAMPERED', 'a full 65536-byte segment (last-flag 0) followed by an empty segment with last-flag 1: only an empty stream may have an empty final segment', concatBytes(
    header,
    await keys.dek.seal(segmentNonceSpec(PREFIX, 0, false), aad, full),
    await keys.dek.seal(segmentNonceSpec(PREFIX, 1, true), aad, new Uint8Array(0)),
  ));
  return { files, manifestStream };
}

// ---------------------------------------------------------------------------------------
// Chunk blobs and packs (FORMAT.md §7)

const BLOB_PLAINTEXT = utf8('bunker chunk blob vector: compression happens before encryption\n');

async function blobVectors(keys: Keys): Promise<VectorFile[]> {
  const files: VectorFile[] = [];
  const keyedId = await chunkIdFunction(1, keys.chunkIdKey);
  const plainId = await chunkIdFunction(1, undefined);
  const id = await keyedId(BLOB_PLAINTEXT);
  const headers = (expect: string, comment: string, key: Uint8Array | undefined, counter: number, chunkId: Uint8Array, codec: ChunkCodec, rawLength: number, payload: Uint8Array): Headers => [
    ['expect', expect],
    ['comment', comment],
    ['key', key === undefined ? 'none' : toHex(key)],
    ['counter', String(counter)],
    ['chunk-id', toHex(chunkId)],
    ['codec', String(codec)],
    ['raw-length', String(rawLength)],
    ['pack-id', PACK_ID_A],
    ['payload', toHex(payload)],
    ['plaintext', toHex(BLOB_PLAINTEXT)],
  ];
  const raw = await sealChunk(keys.dek, 7, id, 0, BLOB_PLAINTEXT.length, BLOB_PLAINTEXT);
  files.push(txt('chunk_blob', headers('success', 'codec 0, counter 7: nonce 00 000000 u64be(7); chunk id = HMAC-SHA-256(chunkIdKey of keys_hierarchy.json, plaintext)', DEK, 7, id, 0, BLOB_PLAINTEXT.length, BLOB_PLAINTEXT), raw));
  const frame = rawZstdFrame(BLOB_PLAINTEXT);
  files.push(txt('chunk_blob_zstd', headers('success', 'codec 1: the payload is a zstd frame (one raw block) of the plaintext; raw length is the plaintext length', DEK, 8, id, 1, BLOB_PLAINTEXT.length, frame),
    await sealChunk(keys.dek, 8, id, 1, BLOB_PLAINTEXT.length, frame)));
  const unencryptedId = await plainId(BLOB_PLAINTEXT);
  files.push(txt('chunk_blob_unencrypted', headers('success', 'cipher 0: payload followed by SHA-256(nonce ‖ aad ‖ payload)[0..16); chunk id = SHA-256(plaintext)', undefined, 0, unencryptedId, 0, BLOB_PLAINTEXT.length, BLOB_PLAINTEXT),
    await sealChunk(checksumCipher, 0, unencryptedId, 0, BLOB_PLAINTEXT.length, BLOB_PLAINTEXT)));
  const otherId = await keyedId(utf8('another chunk'));
  files.push(txt('chunk_blob_wrong_id', headers('TAMPERED', 'chunk_blob read for another chunk id: the id is in the AAD', DEK, 7, otherId, 0, BLOB_PLAINTEXT.length, BLOB_PLAINTEXT), raw));
  files.push(txt('chunk_blob_wrong_codec', headers('TAMPERED', 'chunk_blob read as codec 1: the codec is in the AAD', DEK, 7, id, 1, BLOB_PLAINTEXT.length, BLOB_PLAINTEXT), raw));
  files.push(txt('chunk_blob_wrong_raw_length', headers('TAMPERED', 'chunk_blob read with raw length + 1: the raw length is in the AAD', DEK, 7, id, 0, BLOB_PLAINTEXT.length + 1, BLOB_PLAINTEXT), raw));
  files.push(txt('chunk_blob_truncated', headers('TAMPERED', '27 bytes: shorter than nonce + tag', DEK, 7, id, 0, BLOB_PLAINTEXT.length, BLOB_PLAINTEXT), raw.subarray(0, 27)));

  // A pack of two blobs, as PackBuilder lays them out.
  const second = utf8('second chunk of the pack');
  const secondId = await keyedId(second);
  const pack = new PackBuilder(new Uint8Array(64 * 1024));
  const blobA = await sealChunk(keys.dek, 0, id, 0, BLOB_PLAINTEXT.length, BLOB_PLAINTEXT);
  const blobB = await sealChunk(keys.dek, 1, secondId, 0, second.length, second);
  const offsetA = pack.add(blobA);
  const offsetB = pack.add(blobB);
  files.push(txt('pack_two_blobs', [
    ['expect', 'success'],
    ['comment', 'magic "BNKPACK1" then two blobs back to back (counters 0 and 1); blob: offset length codec raw-length chunk-id plaintext'],
    ['key', toHex(DEK)],
    ['pack-id', PACK_ID_A],
    ['blob', `${offsetA} ${blobA.length} 0 ${BLOB_PLAINTEXT.length} ${toHex(id)} ${toHex(BLOB_PLAINTEXT)}`],
    ['blob', `${offsetB} ${blobB.length} 0 ${second.length} ${toHex(secondId)} ${toHex(second)}`],
  ], pack.bytes()));
  return files;
}

// ---------------------------------------------------------------------------------------
// Run index (FORMAT.md §8)

export const INDEX_ENTRIES: readonly [chunkId: string, entry: Omit<IndexEntry, 'runId'>][] = [
  ['11'.repeat(32), { packId: PACK_ID_A, offset: 8, length: 1052, rawLength: 4096, codec: 1 }],
  ['22'.repeat(32), { packId: PACK_ID_B, offset: 8, length: 16412, rawLength: 16384, codec: 0 }],
  ['33'.repeat(32), { packId: PACK_ID_A, offset: 1060, length: 128, rawLength: 100, codec: 0 }],
];

function runIndexPlaintext(): Uint8Array {
  return encodeRunIndex(ChunkIndex.from(INDEX_ENTRIES.map(([id, e]) => [id, { ...e, runId: RUN_ID }])));
}

function runIndexVectors(plain: Uint8Array): VectorFile[] {
  const headers = (expect: string, comment: string): Headers => [
    ['expect', expect],
    ['comment', comment],
    ['run-id', RUN_ID],
    ...INDEX_ENTRIES.map(([id, e]): [string, string] => ['entry', `${id} ${e.packId} ${e.offset} ${e.length} ${e.rawLength} ${e.codec}`]),
  ];
  const entriesAt = 4 + 2 * 32 + 4;
  return [
    txt('run_index', headers('success', 'content after the codec: u32be pack count, pack ids, u32be entry count, 49-byte entries; entry: chunk-id pack-id offset length raw-length codec'), plain),
    txt('run_index_truncated', headers('TAMPERED', 'cut inside the pack id list'), plain.subarray(0, 4 + 40)),
    txt('run_index_trailing_data', headers('TAMPERED', 'one byte after the last entry'), concatBytes(plain, new Uint8Array(1))),
    txt('run_index_bad_pack_number', headers('TAMPERED', 'the first entry names pack number 2 of 2'), mutate(plain, (b) => b.set(u32be(2), entriesAt + 32))),
    txt('run_index_bad_codec', headers('TAMPERED', 'the first entry has codec 2'), mutate(plain, (b) => (b[entriesAt + 48] = 2))),
  ];
}

// ---------------------------------------------------------------------------------------
// Manifest and FSI (FORMAT.md §9, §10)

export const MANIFEST_ENTRIES: readonly ManifestEntry[] = [
  { path: 'src', type: 'dir', mode: 0o755, mtimeMs: MTIME_MS, size: 0 },
  { path: 'src/empty', type: 'file', mode: 0o644, mtimeMs: MTIME_MS, size: 0, inode: 1001, chunks: [] },
  { path: 'src/hello.txt', type: 'file', mode: 0o644, mtimeMs: MTIME_MS + 1, size: 4196, inode: 1002, chunks: ['11'.repeat(32), '33'.repeat(32)] },
  { path: 'src/link', type: 'symlink', mode: 0o777, mtimeMs: MTIME_MS + 2, size: 0, target: '../outside/target' },
  { path: 'src/sub', type: 'dir', mode: 0o700, mtimeMs: MTIME_MS + 3, size: 0 },
  { path: 'src/sub/héllo wörld.bin', type: 'file', mode: 0o600, mtimeMs: MTIME_MS + 4, size: 16384, inode: 1003, chunks: ['22'.repeat(32)] },
];
const MANIFEST_HEADER = { version: 1, sources: ['/home/user/src'], host: 'vector-host' };

function manifestText(entries: readonly object[], header: object = MANIFEST_HEADER): Uint8Array {
  return utf8([header, ...entries].map((line) => JSON.stringify(line) + '\n').join(''));
}

function manifestVectors(plain: Uint8Array): VectorFile[] {
  const files: VectorFile[] = [];
  const add = (name: string, expect: string, comment: string, payload: Uint8Array) =>
    files.push(txt(name, [['expect', expect], ['comment', comment], ['object', `trees/${POINT_ID}`]], payload));
  const dir = MANIFEST_ENTRIES[0]!;
  const file = MANIFEST_ENTRIES[2]!;
  const withEntry = (extra: object) => manifestText([dir, extra]);
  add('manifest_small', 'success', 'header line, then a dir, an empty file, a two-chunk file, a symlink, a subdir and a file with a non-ASCII name', plain);
  const owned = MANIFEST_ENTRIES.map(({ path, type, mode, mtimeMs, size, ...rest }, i) => ({ path, type, mode, mtimeMs, size, uid: i === 0 ? 0 : 1000, gid: i === 0 ? 0 : 100, ...rest }));
  add('manifest_owners', 'success', 'manifest_small with each entry\'s optional uid and gid, in writer order, as a backup of files writes them', manifestText(owned));
  add('manifest_parent_traversal', 'UNSAFE_PATH', 'path "src/../../etc/passwd" has a ".." component', withEntry({ ...file, path: 'src/../../etc/passwd' }));
  add('manifest_absolute_path', 'UNSAFE_PATH', 'path "/etc/passwd" is absolute', manifestText([{ ...file, path: '/etc/passwd' }]));
  add('manifest_dot_component', 'UNSAFE_PATH', 'path "src/./hello.txt" has a "." component', withEntry({ ...file, path: 'src/./hello.txt' }));
  add('manifest_empty_component', 'UNSAFE_PATH', 'path "src//hello.txt" has an empty component', withEntry({ ...file, path: 'src//hello.txt' }));
  add('manifest_nul_byte', 'UNSAFE_PATH', 'path "src/a\\u0000b" contains NUL', withEntry({ ...file, path: 'src/a\u0000b' }));
  add('manifest_path_too_long', 'UNSAFE_PATH', 'a path of 4097 UTF-8 bytes', withEntry({ ...file, path: 'src/' + 'x'.repeat(4093) }));
  add('manifest_under_symlink', 'UNSAFE_PATH', 'a file whose parent "src/link" is a symlink', manifestText([dir, MANIFEST_ENTRIES[3]!, { ...file, path: 'src/link/evil' }]));
  add('manifest_child_before_parent', 'UNSAFE_PATH', 'a file listed before its directory', manifestText([file, dir]));
  add('manifest_duplicate_path', 'TAMPERED', 'the same path twice', manifestText([dir, file, file]));
  add('manifest_missing_final_newline', 'TAMPERED', 'manifest_small without its last 0x0A', plain.subarray(0, plain.length - 1));
  add('manifest_byte_order_mark', 'TAMPERED', 'manifest_small preceded by a UTF-8 byte-order mark (EF BB BF)', concatBytes(new Uint8Array([0xef, 0xbb, 0xbf]), plain));
  add('manifest_empty_line', 'TAMPERED', 'an empty line between entries', utf8(new TextDecoder().decode(plain).replace('\n', '\n\n')));
  add('manifest_newer_version', 'UNSUPPORTED_VERSION', 'header version 2', manifestText([dir], { ...MANIFEST_HEADER, version: 2 }));
  add('manifest_version_zero', 'TAMPERED', 'header version 0 was never written', manifestText([dir], { ...MANIFEST_HEADER, version: 0 }));
  add('manifest_bad_chunk_id', 'TAMPERED', 'a chunk id in upper-case hex', withEntry({ ...file, chunks: ['AA'.repeat(32)] }));
  add('manifest_bad_mode', 'TAMPERED', 'mode 0o10000 is outside 0..0o7777', withEntry({ ...file, mode: 0o10000 }));
  add('manifest_symlink_no_target', 'TAMPERED', 'a symlink without a target', withEntry({ path: 'src/link', type: 'symlink', mode: 0o777, mtimeMs: MTIME_MS, size: 0 }));
  return files;
}

function fsiVectors(): VectorFile[] {
  const add = (name: string, expect: string, comment: string, payload: Uint8Array) =>
    txt(name, [['expect', expect], ['comment', comment], ['object', `fsi/${POINT_ID}`]], payload);
  const plain = encodeFsi(fsiFromManifest(MANIFEST_ENTRIES));
  return [
    add('fsi_small', 'success', 'the FSI of manifest_small: [path, type code, size, mtimeMs] per line', plain),
    add('fsi_parent_traversal', 'UNSAFE_PATH', 'a row whose path has a ".." component', utf8('["src","d",0,0]\n["src/../../etc/passwd","f",1,0]\n')),
    add('fsi_bad_row', 'TAMPERED', 'a row with 3 elements', utf8('["src","d",0]\n')),
    add('fsi_byte_order_mark', 'TAMPERED', 'fsi_small preceded by a UTF-8 byte-order mark (EF BB BF)', concatBytes(new Uint8Array([0xef, 0xbb, 0xbf]), plain)),
  ];
}

// ---------------------------------------------------------------------------------------
// Documents: config and points (FORMAT.md §6)

export const CONFIG: RepositoryConfig = Object.freeze({
  version: 1,
  id: REPOSITORY_ID,
  createdAt: PARENT_CREATED_AT,
  chunker: SMALL_CHUNKER,
  chunkIdAlgorithm: 1,
  packTargetBytes: 16 * 1024 * 1024,
});

/** Recomputes the checksum of a document without a MAC after its prefix or body changed. */
async function rechecksum(doc: Uint8Array): Promise<Uint8Array> {
  const length = new DataView(doc.buffer, doc.byteOffset).getUint32(12);
  const signed = doc.subarray(0, 16 + length);
  return concatBytes(signed, await sha256(signed));
}

interface PointInputs {
  readonly id?: string;
  readonly repository?: string;
  readonly masterWrapPointId?: string;
  readonly swapKeys?: boolean;
}

async function pointBody(keys: Keys, manifestSize: number, inputs: PointInputs = {}): Promise<Record<string, unknown>> {
  const id = inputs.id ?? POINT_ID;
  const wrappedParent = await wrapFixed(keys.kek, 'dek', id, PARENT_RUN_ID, PARENT_DEK, WRAP_NONCE_PARENT_DEK);
  const wrappedOwn = await wrapFixed(keys.kek, 'dek', id, RUN_ID, DEK, WRAP_NONCE_DEK);
  return {
    id,
    repository: inputs.repository ?? REPOSITORY_ID,
    series: SERIES,
    createdAt: CREATED_AT,
    parent: PARENT_POINT_ID,
    run: RUN_ID,
    runs: [PARENT_RUN_ID, RUN_ID],
    encryption: {
      kdf: KDF,
      salt: toBase64(SALT),
      verifier: toBase64(keys.verifier),
      master: toBase64(await wrapFixed(keys.kek, 'master', inputs.masterWrapPointId ?? id, RUN_ID, MASTER, WRAP_NONCE_MASTER)),
      keys: inputs.swapKeys ? [toBase64(wrappedOwn), toBase64(wrappedParent)] : [toBase64(wrappedParent), toBase64(wrappedOwn)],
    },
    manifest: { key: `trees/${id}`, sizeBytes: manifestSize },
    fsi: { key: `fsi/${id}`, sizeBytes: 174 },
    stats: { files: 3, dirs: 2, symlinks: 1, bytes: 20580, filesNew: 1, filesChanged: 1, filesUnchanged: 1, bytesRead: 4196, bytesAdded: 2048, chunksNew: 1, durationMs: 1234, startedAt: Date.parse(CREATED_AT) - 1234 },
  };
}

async function documentVectors(keys: Keys, manifestSize: number): Promise<VectorFile[]> {
  const files: VectorFile[] = [];
  const config = await encodeConfig(CONFIG);
  const configDoc = (name: string, expect: string, comment: string, payload: Uint8Array) =>
    files.push(txt(name, [['expect', expect], ['comment', comment], ['document', 'config']], payload));
  configDoc('document_config', 'success', 'a repository config: magic BNKREPO1, version 1, flags 0, body, SHA-256 checksum; no MAC', config);
  configDoc('document_truncated', 'TAMPERED', 'document_config cut to 40 bytes', config.subarray(0, 40));
  configDoc('document_trailing_data', 'TAMPERED', 'document_config followed by one extra byte', concatBytes(config, new Uint8Array(1)));
  configDoc('document_bad_checksum', 'TAMPERED', 'document_config with one body byte changed (checksum not updated)', mutate(config, (b) => (b[20]! ^= 0x01)));
  configDoc('document_bad_magic', 'TAMPERED', 'magic "BNKREPO2", checksum updated', await rechecksum(mutate(config, (b) => (b[7] = 0x32))));
  configDoc('document_body_too_large', 'TAMPERED', 'declared body length 16 MiB + 1, refused before reading the body', mutate(config, (b) => b.set(u32be(16 * 1024 * 1024 + 1), 12)));
  configDoc('document_newer_version', 'UNSUPPORTED_VERSION', 'version 2 with a valid checksum: written by a newer bunker', await encodeDocument(CONFIG_MAGIC, 2, CONFIG));
  configDoc('document_version_zero', 'TAMPERED', 'version 0 with a valid checksum: never written', await rechecksum(mutate(config, (b) => b.set(u16be(0), 8))));
  configDoc('document_unknown_flag', 'TAMPERED', 'flag bit 1 set, checksum updated', await rechecksum(mutate(config, (b) => b.set(u16be(2), 10))));
  configDoc('document_body_not_object', 'TAMPERED', 'the body is a JSON array', await encodeDocument(CONFIG_MAGIC, 1, [CONFIG]));
  configDoc('config_bad_id', 'TAMPERED', 'repository id in upper-case hex', await encodeDocument(CONFIG_MAGIC, 1, { ...CONFIG, id: REPOSITORY_ID.toUpperCase() }));
  configDoc('config_bad_chunker', 'TAMPERED', 'chunker avgBytes 3000 is not a power of two', await encodeDocument(CONFIG_MAGIC, 1, { ...CONFIG, chunker: { minBytes: 1024, avgBytes: 3000, maxBytes: 16384 } }));

  const pointHeaders = (expect: string, comment: string, pointId = POINT_ID, password = PASSWORD, extra: Headers = []): Headers => [
    ['expect', expect],
    ['comment', comment],
    ['document', 'point'],
    ['point-id', pointId],
    ['repository-config', 'document_config.txt'],
    ['password', password],
    ...extra,
  ];
  const body = await pointBody(keys, manifestSize);
  const point = await encodeDocument(POINT_MAGIC, POINT_VERSION, body, keys.pointMacKey);
  files.push(txt('document_point_mac', pointHeaders('success', 'an encrypted point with two runs: magic BNKPOINT, flag bit 0, MAC = HMAC-SHA-256(HKDF(H, "bunker point mac"), prefix ‖ body ‖ checksum); keys from keys_hierarchy.json', POINT_ID, PASSWORD, [
    ['master', toHex(MASTER)],
    ['wrap-nonce-master', toHex(WRAP_NONCE_MASTER)],
    ['dek', `${PARENT_RUN_ID} ${toHex(PARENT_DEK)} ${toHex(WRAP_NONCE_PARENT_DEK)}`],
    ['dek', `${RUN_ID} ${toHex(DEK)} ${toHex(WRAP_NONCE_DEK)}`],
  ]), point));
  const unencrypted = { ...body, parent: null, runs: [RUN_ID], encryption: null };
  files.push(txt('document_point_unencrypted', pointHeaders('success', 'an unencrypted point: encryption null, no MAC'), await encodeDocument(POINT_MAGIC, POINT_VERSION, unencrypted)));

  const withBody = (change: (b: Record<string, unknown>, enc: Record<string, unknown>) => void): Promise<Uint8Array> => {
    const copy = structuredClone(body);
    change(copy, copy.encryption as Record<string, unknown>);
    return encodeDocument(POINT_MAGIC, POINT_VERSION, copy, keys.pointMacKey);
  };
  const pointVector = (name: string, expect: string, comment: string, payload: Uint8Array, pointId = POINT_ID, password = PASSWORD) =>
    files.push(txt(name, pointHeaders(expect, comment, pointId, password), payload));
  pointVector('point_swapped_id', 'TAMPERED', 'document_point_mac stored under another point id', point, PARENT_POINT_ID);
  pointVector('point_runs_mismatch', 'CORRUPTED_POINT', 'the last element of runs is not run', await withBody((b) => (b.runs = [RUN_ID, PARENT_RUN_ID])));
  pointVector('point_unencrypted_with_mac', 'CORRUPTED_POINT', 'encryption null but flag bit 0 (MAC) set', await encodeDocument(POINT_MAGIC, POINT_VERSION, unencrypted, keys.pointMacKey));
  pointVector('point_missing_salt', 'CORRUPTED_POINT', 'no salt member: corrupted, never reported as a wrong password', await withBody((_, enc) => delete enc.salt));
  pointVector('point_salt_too_short', 'KDF_PARAMS_OUT_OF_RANGE', 'an 8-byte salt', await withBody((_, enc) => (enc.salt = toBase64(SALT.subarray(0, 8)))));
  pointVector('point_kdf_memory_too_large', 'KDF_PARAMS_OUT_OF_RANGE', 'memoryKiB 16777216 (16 GiB): refused before any derivation', await withBody((_, enc) => (enc.kdf = { ...KDF, memoryKiB: 16 * 1024 * 1024 })));
  pointVector('point_key_table_incomplete', 'CORRUPTED_POINT', 'two runs but one wrapped DEK', await withBody((_, enc) => (enc.keys = (enc.keys as string[]).slice(1))));
  pointVector('point_missing_mac', 'CORRUPTED_POINT', 'an encrypted point without flag bit 0 and MAC', await encodeDocument(POINT_MAGIC, POINT_VERSION, body));
  pointVector('point_bad_mac', 'TAMPERED', 'document_point_mac with its last MAC byte changed (checksum intact)', mutate(point, (b) => (b[b.length - 1]! ^= 0x01)));
  pointVector('point_wrong_password', 'WRONG_PASSWORD', 'document_point_mac opened with another password: the verifier does not match', point, POINT_ID, 'wrong horse battery staple');
  pointVector('point_master_wrapped_for_other_point', 'TAMPERED', 'M wrapped with another point id in its AAD (MAC valid): unwrapping fails', await encodeDocument(POINT_MAGIC, POINT_VERSION, await pointBody(keys, manifestSize, { masterWrapPointId: PARENT_POINT_ID }), keys.pointMacKey));
  pointVector('point_dek_swapped', 'TAMPERED', 'the two wrapped DEKs in swapped slots (MAC valid): each is bound to its run id', await encodeDocument(POINT_MAGIC, POINT_VERSION, await pointBody(keys, manifestSize, { swapKeys: true }), keys.pointMacKey));
  pointVector('point_foreign_repository', 'TAMPERED', 'a valid point (MAC valid) written under another repository id than the config\'s', await encodeDocument(POINT_MAGIC, POINT_VERSION, await pointBody(keys, manifestSize, { repository: 'dd'.repeat(32) }), keys.pointMacKey));
  return files;
}

// ---------------------------------------------------------------------------------------
// Configuration bundle (FORMAT.md §14)

export const BUNDLE_PASSWORD = 'bundle vector password';
export const BUNDLE_SALT = fromHex('101112131415161718191a1b1c1d1e1f');
export const BUNDLE_ID = fromHex('b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf');
export const BUNDLE_DATA_KEY = fromHex('202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f');
export const BUNDLE_WRAP_NONCE = fromHex('f1f2f3f4f5f6f7f8f9fafbfc');
export const BUNDLE_PREFIX = fromHex('01b1b2b3b4b5b6');
export const EXPORTED_AT = '2024-01-03T03:04:05.678Z';

/** The content of bundle_small: one of each item; the password's hash is keys_hierarchy.json's H. */
function bundleContent(keys: Keys): BundleContent {
  return {
    exportedAt: EXPORTED_AT,
    catalog: {
      passwords: [{
        name: 'main', purpose: 'backup', description: 'vectors', createdAt: PARENT_CREATED_AT, currentVersion: 1,
        versions: [{ version: 1, createdAt: PARENT_CREATED_AT, kdf: KDF, salt: SALT, hash: keys.passwordHash }],
      }],
      repositories: [{ location: '/srv/backups', repositoryId: REPOSITORY_ID, addedAt: PARENT_CREATED_AT }],
      jobs: [{ name: 'nightly', repository: '/srv/backups', series: SERIES, sources: ['/home/user/src'], excludes: ['*.tmp'], password: 'main', encrypt: true, compression: 'zstd', createdAt: PARENT_CREATED_AT, lastRunAt: CREATED_AT, lastPointId: POINT_ID }],
      points: [{ repository: '/srv/backups', pointId: POINT_ID, series: SERIES, createdAt: CREATED_AT, salt: SALT, job: 'nightly' }],
      settings: [{ key: 'retention', value: '30d' }],
      tokens: [{ name: 'api', scope: 'backup', hash: fromHex('5a'.repeat(32)), createdAt: PARENT_CREATED_AT }],
    },
  };
}

/** Recomputes the header checksum of a bundle after its header changed (FORMAT.md §14.1). */
async function rechecksumBundle(bundle: Uint8Array): Promise<Uint8Array> {
  const copy = bundle.slice();
  const checksumAt = BUNDLE_PREFIX_BYTES + new DataView(copy.buffer).getUint16(10);
  copy.set(await sha256(copy.subarray(0, checksumAt)), checksumAt);
  return copy;
}

async function bundleVectors(keys: Keys): Promise<VectorFile[]> {
  const hash = await derivePasswordHash(BUNDLE_PASSWORD, BUNDLE_SALT, KDF);
  const randomness = { bundleId: BUNDLE_ID, dataKey: BUNDLE_DATA_KEY, wrapNonce: BUNDLE_WRAP_NONCE, noncePrefix: BUNDLE_PREFIX };
  const seal = (content: Uint8Array) => sealBundle(content, { salt: BUNDLE_SALT, kdf: KDF, hash }, { compress: rawZstdFrame, randomness });
  const content = encodeSnapshot(bundleContent(keys));
  const bundle = await seal(content);
  const saltAt = 19;
  const idAt = saltAt + BUNDLE_SALT.length + 32;
  const files: VectorFile[] = [];
  const add = (name: string, expect: string, comment: string, payload: Uint8Array, password = BUNDLE_PASSWORD, extra: Headers = []) =>
    files.push(txt(name, [['expect', expect], ['comment', comment], ['password', password], ...extra], payload));
  add('bundle_small', 'success', 'a configuration bundle: header (Argon2id parameters, salt, verifier, bundle id, wrapped data key), SHA-256 checksum, then a STREAM of kind bundle holding one zstd frame (a single raw block) of the content', bundle, BUNDLE_PASSWORD, [
    ['salt', toHex(BUNDLE_SALT)],
    ['kdf', `m=${KDF.memoryKiB},t=${KDF.iterations},p=${KDF.parallelism}`],
    ['bundle-id', toHex(BUNDLE_ID)],
    ['data-key', toHex(BUNDLE_DATA_KEY)],
    ['wrap-nonce', toHex(BUNDLE_WRAP_NONCE)],
    ['prefix', toHex(BUNDLE_PREFIX)],
    ['content', toHex(content)],
  ]);
  add('bundle_wrong_password', 'WRONG_PASSWORD', 'bundle_small opened with another password: the verifier does not match', bundle, 'not the bundle password');
  add('bundle_truncated', 'TAMPERED', 'bundle_small without its last byte', bundle.subarray(0, bundle.length - 1));
  add('bundle_trailing_data', 'TAMPERED', 'bundle_small followed by one zero byte', concatBytes(bundle, new Uint8Array(1)));
  add('bundle_bad_magic', 'TAMPERED', 'magic "BNKBUNDX"', mutate(bundle, (b) => (b[7] = 0x58)));
  add('bundle_bad_checksum', 'TAMPERED', 'a salt byte flipped, checksum not updated', mutate(bundle, (b) => (b[saltAt]! ^= 0x01)));
  add('bundle_newer_version', 'UNSUPPORTED_VERSION', 'version 2 with a valid checksum: written by a newer bunker', await rechecksumBundle(mutate(bundle, (b) => b.set(u16be(2), 8))));
  add('bundle_version_zero', 'TAMPERED', 'version 0 with a valid checksum: never written', await rechecksumBundle(mutate(bundle, (b) => b.set(u16be(0), 8))));
  add('bundle_kdf_memory_too_large', 'KDF_PARAMS_OUT_OF_RANGE', 'memoryKiB 16777216 (16 GiB) with a valid checksum: refused before any derivation', await rechecksumBundle(mutate(bundle, (b) => b.set(u32be(16 * 1024 * 1024), 12))));
  add('bundle_key_for_other_bundle', 'TAMPERED', 'the bundle id changed (checksum valid): the wrapped data key is bound to the bundle id', await rechecksumBundle(mutate(bundle, (b) => (b[idAt]! ^= 0x01))));
  add('bundle_content_invalid', 'TAMPERED', 'authenticated content that is not a catalog: the JSON array []', await seal(utf8('[]')));
  return files;
}

// ---------------------------------------------------------------------------------------
// The product catalog at rest (FORMAT.md §15)

export const CATALOG_MASTER_KEY = fromHex('909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf');
export const CATALOG_NONCE = fromHex('e0e1e2e3e4e5e6e7e8e9eaeb');

async function catalogVectors(keys: Keys): Promise<VectorFile[]> {
  const box = await SecretBox.fromKey(CATALOG_MASTER_KEY);
  const files: VectorFile[] = [];
  const keyFile = newMasterKeyFile(CATALOG_MASTER_KEY);
  files.push(txt('catalog_master_key_file', [['expect', 'success'], ['comment', 'the master key file: magic "BNKMKEY1" then the 32-byte key'], ['key', toHex(CATALOG_MASTER_KEY)]], keyFile));
  files.push(txt('catalog_master_key_file_bad_magic', [['expect', 'CATALOG_FAILED'], ['comment', 'magic "BNKMKEY2"'], ['key', toHex(CATALOG_MASTER_KEY)]], mutate(keyFile, (b) => (b[7] = 0x32))));
  const sealed = async (name: string, expect: string, comment: string, kind: SecretKind, identity: Uint8Array, secret: Uint8Array, openAs: Uint8Array = identity) =>
    files.push(txt(name, [
      ['expect', expect], ['comment', comment], ['master-key', toHex(CATALOG_MASTER_KEY)], ['kind', kind], ['identity', openAs.length === 0 ? 'empty' : toHex(openAs)],
      ['nonce', toHex(CATALOG_NONCE)], ['secret', toHex(secret)],
    ], await box.seal(kind, identity, secret, CATALOG_NONCE)));
  await sealed('catalog_sealed_password_hash', 'success', 'H of keys_hierarchy.json sealed under the master key; the identity is its salt', 'password-hash', SALT, keys.passwordHash);
  await sealed('catalog_sealed_token_hash', 'success', 'SHA-256 of an API token sealed under the master key; the identity is the token\'s name "api", a NUL byte and its scope "backup"', 'token', utf8('api\u0000backup'), fromHex('5a'.repeat(32)));
  await sealed('catalog_key_check', 'success', 'the key check: utf8("bunker catalog key check") sealed with an empty identity', 'key-check', new Uint8Array(0), utf8(KEY_CHECK_PLAINTEXT));
  await sealed('catalog_sealed_hash_other_row', 'CATALOG_FAILED', 'catalog_sealed_password_hash read as the hash of another salt (moved to another row): it does not open', 'password-hash', SALT, keys.passwordHash, BUNDLE_SALT);
  return files;
}

// ---------------------------------------------------------------------------------------

/** Builds every vector file, in a fixed order. */
export async function buildVectors(): Promise<VectorFile[]> {
  const keys = await deriveKeys();
  const runIndexPlain = runIndexPlaintext();
  const manifestPlain = encodeManifest({ header: MANIFEST_HEADER, entries: MANIFEST_ENTRIES });
  const streams = await streamVectors(keys, runIndexPlain, manifestPlain);
  const files = [
    ...(await keyVectors(keys)),
    ...(await chunkVectors(keys)),
    ...streams.files,
    ...(await blobVectors(keys)),
    ...runIndexVectors(runIndexPlain),
    ...manifestVectors(manifestPlain),
    ...fsiVectors(),
    ...(await documentVectors(keys, streams.manifestStream.length)),
    ...(await bundleVectors(keys)),
    ...(await catalogVectors(keys)),
  ];
  const names = new Set(files.map((f) => f.name));
  if (names.size !== files.length) throw new Error('internal error: two vectors share a name');
  return files;
}

export const VECTORS_DIR = dirname(fileURLToPath(import.meta.url));

/** The committed vector files: every .txt and .json in test/vectors/. */
export async function vectorFileNames(): Promise<string[]> {
  return (await readdir(VECTORS_DIR)).filter((n) => n.endsWith('.txt') || n.endsWith('.json')).sort();
}

if (import.meta.main) {
  const files = await buildVectors();
  const keep = new Set(files.map((f) => f.name));
  for (const name of await vectorFileNames()) if (!keep.has(name)) await unlink(join(VECTORS_DIR, name));
  for (const file of files) await writeFile(join(VECTORS_DIR, file.name), file.content);
  console.log(`wrote ${files.length} vectors to ${VECTORS_DIR}`);
}
