/**
 * The mirror of chunk-sealer.ts: blob → authenticate and decrypt → decompress → exactly the
 * recorded length (FORMAT.md §7). Runs inline, or on the host's worker threads in batches.
 */
import { aesGcmCipher, checksumCipher, NONCE_BYTES, type ObjectCipher } from './crypto/cipher.ts';
import { BunkerError } from './errors.ts';
import { chunkIdFunction } from './chunk-id.ts';
import type { ChunkIdAlgorithm } from './repo/config.ts';
import { discard, fromHex, toHex } from './format/bytes.ts';
import { BLOB_OVERHEAD_BYTES, chunkAad, type ChunkCodec, packKey } from './repo/pack.ts';
import { timeStep } from './profile.ts';

/** One chunk of a batch: its blob at [offset, offset+length) of the batch buffer. */
export interface OpenItem {
  readonly offset: number;
  readonly length: number;
  readonly id: string;
  readonly codec: ChunkCodec;
  readonly rawLength: number;
  readonly runId: string;
  readonly packId: string;
}

/** Decrypts one blob with a run's key; undefined when authentication fails. */
export interface OpenPrimitives {
  open(runId: string, blob: Uint8Array, chunkId: Uint8Array, codec: ChunkCodec, rawLength: number): Promise<Uint8Array | undefined> | Uint8Array | undefined;
}

export type DecompressFunction = (frame: Uint8Array, rawLength: number) => Uint8Array;

/** Keys of every run a point needs: the DEK, or undefined for an unencrypted series. */
export type RunKeys = ReadonlyMap<string, Uint8Array | undefined>;

export async function webCryptoOpenPrimitives(runKeys: RunKeys): Promise<OpenPrimitives> {
  const ciphers = new Map<string, ObjectCipher>();
  for (const [run, key] of runKeys) ciphers.set(run, key ? await aesGcmCipher(key) : checksumCipher);
  return {
    open(runId, blob, chunkId, codec, rawLength) {
      const cipher = ciphers.get(runId);
      if (cipher === undefined) throw new Error('internal error: chunk from a run outside the key table');
      return cipher.open(blob.subarray(0, NONCE_BYTES), chunkAad(chunkId, codec, rawLength), blob.subarray(NONCE_BYTES));
    },
  };
}

/** Milliseconds spent per stage of opening, summed over a batch's chunks (`--profile`). */
export interface OpenTimings {
  decrypt: number;
  decompress: number;
}

export function noOpenTimings(): OpenTimings {
  return { decrypt: 0, decompress: 0 };
}

/** Opens one chunk; its stage times are added to `timings` when given. */
export type OpenFunction = (buffer: Uint8Array, item: OpenItem, timings?: OpenTimings) => Promise<Uint8Array>;

/** For `check --read-data`: recompute each chunk's id from its plaintext and compare. */
export type IdFunction = (data: Uint8Array) => Promise<Uint8Array> | Uint8Array;

export async function chunkOpener(runKeys: RunKeys, decompress: DecompressFunction, primitives?: OpenPrimitives, verifyId?: IdFunction): Promise<OpenFunction> {
  const { open } = primitives ?? (await webCryptoOpenPrimitives(runKeys));
  const decode = async (buffer: Uint8Array, item: OpenItem, timings?: OpenTimings): Promise<Uint8Array> => {
    const object = packKey(item.packId);
    const blob = buffer.subarray(item.offset, item.offset + item.length);
    const payload = blob.length >= BLOB_OVERHEAD_BYTES ? await timeStep(timings, 'decrypt', () => open(item.runId, blob, fromHex(item.id), item.codec, item.rawLength)) : undefined;
    if (payload === undefined) {
      throw new BunkerError('TAMPERED', `chunk ${item.id.slice(0, 16)} in ${object} failed authentication (modified, truncated or misplaced)`, { object });
    }
    if (item.codec === 0) {
      if (payload.length !== item.rawLength) throw new BunkerError('TAMPERED', `chunk ${item.id.slice(0, 16)} has the wrong length`, { object });
      return payload;
    }
    try {
      const decompressing = performance.now();
      const data = decompress(payload, item.rawLength);
      if (timings) timings.decompress += performance.now() - decompressing;
      return data;
    } catch {
      throw new BunkerError('TAMPERED', `chunk ${item.id.slice(0, 16)} in ${object} does not decompress to its recorded size`, { object });
    } finally {
      // The decrypted frame, when it has a buffer of its own, is done with: freed now.
      discard(payload);
    }
  };
  if (verifyId === undefined) return decode;
  return async (buffer, item, timings) => {
    const plaintext = await decode(buffer, item, timings);
    if (toHex(await verifyId(plaintext)) !== item.id) {
      const object = packKey(item.packId);
      throw new BunkerError('TAMPERED', `chunk ${item.id.slice(0, 16)} in ${object} does not match its id`, { object });
    }
    return plaintext;
  };
}

/** A point's chunk opening, inline or on workers. */
export interface PointOpener {
  openBatch(buffer: Uint8Array, items: readonly OpenItem[]): Promise<{ chunks: Uint8Array[]; timings: OpenTimings }>;
  close(): Promise<void>;
}

/** What verifying ids needs: the series' algorithm and chunk-id key (absent when unencrypted). */
export interface IdKeys {
  readonly chunkIdAlgorithm: ChunkIdAlgorithm;
  readonly chunkIdKey?: Uint8Array;
}

export async function inlinePointOpener(runKeys: RunKeys, decompress: DecompressFunction, verify?: IdKeys): Promise<PointOpener> {
  const open = await chunkOpener(runKeys, decompress, undefined, verify ? await chunkIdFunction(verify.chunkIdAlgorithm, verify.chunkIdKey) : undefined);
  return {
    async openBatch(buffer, items) {
      const timings = noOpenTimings();
      return { chunks: await Promise.all(items.map((item) => open(buffer, item, timings))), timings };
    },
    async close() {},
  };
}
