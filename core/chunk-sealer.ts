/**
 * One chunk through the middle of the pipeline: chunk id → (if new) compress → encrypt
 * (FORMAT.md §5.2, §7). The same function runs inline on edge runtimes and inside the host's
 * worker threads, which receive the run's keys once and chunks in batches.
 */
import { chunkIdFunction } from './chunk-id.ts';
import { aesGcmCipher, checksumCipher, type ObjectCipher } from './crypto/cipher.ts';
import { discard, toHex } from './format/bytes.ts';
import type { ChunkIdAlgorithm } from './repo/config.ts';
import { type ChunkCodec, sealChunk } from './repo/pack.ts';
import { timeStep } from './profile.ts';

/** What a sealer needs for one run. Secret: passed only to in-process workers, never logged. */
export interface SealKeys {
  readonly chunkIdAlgorithm: ChunkIdAlgorithm;
  /** The series' chunk-id key; absent for unencrypted series (plain hash ids). */
  readonly chunkIdKey?: Uint8Array;
  /** The run's DEK; absent for unencrypted series (checksum "cipher"). */
  readonly dataKey?: Uint8Array;
  /** zstd level, or undefined to store chunks raw. */
  readonly level: number | undefined;
}

export interface SealedChunk {
  readonly id: string;
  readonly codec: ChunkCodec;
  readonly rawLength: number;
  /** The blob to store (nonce ‖ ciphertext ‖ tag); absent when the chunk was already known. */
  readonly blob?: Uint8Array;
}

/**
 * The chunk's payload: `data` itself (codec 0) or a zstd frame (codec 1). The sealer encrypts it
 * before compressing anything else, so a frame may be a view of the compressor's scratch memory.
 */
export type CompressFunction = (data: Uint8Array, level: number | undefined) => { codec: ChunkCodec; payload: Uint8Array };

/** Milliseconds spent per stage of sealing, summed over a batch's chunks (`--profile`). */
export interface SealTimings {
  hash: number;
  compress: number;
  encrypt: number;
}

export function noTimings(): SealTimings {
  return { hash: 0, compress: 0, encrypt: 0 };
}

/** Seals one chunk; its stage times are added to `timings` when given. */
export type SealFunction = (data: Uint8Array, nonceCounter: number, timings?: SealTimings) => Promise<SealedChunk>;

/**
 * The two keyed primitives of sealing. The portable default uses WebCrypto; a host may supply
 * its own implementation of the same algorithms (core/host/node-seal-primitives.ts), e.g. to
 * avoid WebCrypto's per-call copy on a worker thread. Outputs must be byte-identical.
 */
export interface SealPrimitives {
  chunkId(data: Uint8Array): Promise<Uint8Array> | Uint8Array;
  /** blob = nonce ‖ AEAD(payload) for the chunk (FORMAT.md §7). Reads `payload` before it returns: the caller may reuse it then. */
  seal(nonceCounter: number, chunkId: Uint8Array, codec: ChunkCodec, rawLength: number, payload: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

export async function webCryptoSealPrimitives(keys: SealKeys): Promise<SealPrimitives> {
  const chunkId = await chunkIdFunction(keys.chunkIdAlgorithm, keys.chunkIdKey);
  const cipher: ObjectCipher = keys.dataKey ? await aesGcmCipher(keys.dataKey) : checksumCipher;
  return {
    chunkId,
    seal: (nonceCounter, id, codec, rawLength, payload) => sealChunk(cipher, nonceCounter, id, codec, rawLength, payload),
  };
}

/**
 * Builds the per-run sealing function. `isKnown` says whether a chunk id is already stored
 * (the parent's index): such chunks are hashed only. `data` must stay unchanged until the
 * returned promise settles.
 */
export async function chunkSealer(keys: SealKeys, compress: CompressFunction, isKnown: (id: string, idBytes: Uint8Array) => boolean, primitives?: SealPrimitives): Promise<SealFunction> {
  const { chunkId, seal } = primitives ?? (await webCryptoSealPrimitives(keys));
  return async (data, nonceCounter, timings) => {
    const idBytes = await timeStep(timings, 'hash', () => chunkId(data));
    const id = toHex(idBytes);
    if (isKnown(id, idBytes)) return { id, codec: 0, rawLength: data.length };
    // Compression is synchronous: timed in place, without a wait between it and the cipher.
    const compressing = performance.now();
    const { codec, payload } = compress(data, keys.level);
    if (timings) timings.compress += performance.now() - compressing;
    // Called at once, with no await in between: seal() takes its input before it returns.
    const blob = await timeStep(timings, 'encrypt', () => seal(nonceCounter, idBytes, codec, data.length, payload));
    // A compressed payload of its own (not a view of scratch memory) is freed now.
    if (codec === 1) discard(payload);
    return { id, codec, rawLength: data.length, blob };
  };
}

/** One batch item: a chunk at [offset, offset+length) of the batch buffer. */
export interface BatchItem {
  readonly offset: number;
  readonly length: number;
  readonly nonceCounter: number;
}

/** A run's sealing, inline or on workers: batches of chunks in one buffer, results in item order. */
export interface RunSealer {
  /** Seals every item of `buffer` (which may be transferred); resolves with the buffer handed back. */
  sealBatch(buffer: Uint8Array, items: readonly BatchItem[]): Promise<{ results: SealedChunk[]; buffer: Uint8Array; timings: SealTimings }>;
  close(): Promise<void>;
}

export async function inlineRunSealer(keys: SealKeys, compress: CompressFunction, known: { has(id: string): boolean }): Promise<RunSealer> {
  const seal = await chunkSealer(keys, compress, (id) => known.has(id));
  return {
    async sealBatch(buffer, items) {
      const timings = noTimings();
      const results = await Promise.all(items.map((item) => seal(buffer.subarray(item.offset, item.offset + item.length), item.nonceCounter, timings)));
      return { results, buffer, timings };
    },
    async close() {},
  };
}
