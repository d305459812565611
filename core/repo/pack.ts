/**
 * Pack files and the chunk blobs inside them (FORMAT.md §7).
 *
 *   pack   = magic "BNKPACK1" ‖ blob*
 *   blob   = nonce (12) ‖ AEAD(DEK, nonce, aad, payload) (payload + 16-byte tag)
 *   nonce  = 0x00 ‖ 0x000000 ‖ u64be run-local counter   (unique per DEK: fresh DEK each run)
 *   aad    = "bunker/chunk" ‖ 0x00 ‖ chunk id (32) ‖ codec (1) ‖ raw length u32be
 *   payload = the chunk, zstd-compressed (codec 1) or raw (codec 0)
 *
 * Where a blob lives is recorded only in the run's index (FORMAT.md §8).
 */
import type { ObjectCipher } from '../crypto/cipher.ts';
import { NONCE_BYTES, TAG_BYTES } from '../crypto/cipher.ts';
import { BunkerError } from '../errors.ts';
import { concatBytes, toHex, u32be, u64be, utf8 } from '../format/bytes.ts';

// FORMAT.md §7
export const PACK_MAGIC = utf8('BNKPACK1');
export const PACK_HEADER_BYTES = 8;
export const BLOB_OVERHEAD_BYTES = NONCE_BYTES + TAG_BYTES;
/** First byte of every chunk nonce, apart from STREAM nonces (0x01…). FORMAT.md §4.2 */
export const CHUNK_NONCE_DOMAIN = 0x00;

/** Chunk codecs, never reused: 0 raw, 1 zstd (FORMAT.md §7.1). */
export type ChunkCodec = 0 | 1;

/** packs/<first two hex>/<pack id> (FORMAT.md §2.1). */
export function packKey(packId: string): string {
  return `packs/${packId.slice(0, 2)}/${packId}`;
}

/** FORMAT.md §7: "bunker/chunk" ‖ 0x00 ‖ chunk id ‖ codec ‖ u32be raw length. */
export function chunkAad(chunkId: Uint8Array, codec: ChunkCodec, rawLength: number): Uint8Array {
  return concatBytes(utf8('bunker/chunk'), new Uint8Array([0]), chunkId, new Uint8Array([codec]), u32be(rawLength));
}

/** FORMAT.md §4.2: 0x00 ‖ 0x000000 ‖ u64be counter. */
export function chunkNonce(counter: number): Uint8Array {
  const nonce = new Uint8Array(NONCE_BYTES);
  nonce[0] = CHUNK_NONCE_DOMAIN;
  nonce.set(u64be(counter), 4);
  return nonce;
}

export async function sealChunk(cipher: ObjectCipher, counter: number, chunkId: Uint8Array, codec: ChunkCodec, rawLength: number, payload: Uint8Array): Promise<Uint8Array> {
  const nonce = chunkNonce(counter);
  return concatBytes(nonce, await cipher.seal(nonce, chunkAad(chunkId, codec, rawLength), payload));
}

/** Opens a blob read from a pack; TAMPERED naming the chunk and pack if it fails authentication. */
export async function openChunk(cipher: ObjectCipher, blob: Uint8Array, chunkId: Uint8Array, codec: ChunkCodec, rawLength: number, packId: string): Promise<Uint8Array> {
  const payload = blob.length >= BLOB_OVERHEAD_BYTES
    ? await cipher.open(blob.subarray(0, NONCE_BYTES), chunkAad(chunkId, codec, rawLength), blob.subarray(NONCE_BYTES))
    : undefined;
  if (payload === undefined) {
    const object = packKey(packId);
    throw new BunkerError('TAMPERED', `chunk ${toHex(chunkId).slice(0, 16)} in ${object} failed authentication (modified, truncated or misplaced)`, { object });
  }
  return payload;
}

/**
 * Accumulates blobs into one pack inside a caller-owned buffer, reused from pack to pack:
 * fresh memory is expensive on the hot path, and a pack is written whole anyway.
 */
export class PackBuilder {
  private readonly buffer: Uint8Array;
  sizeBytes = PACK_HEADER_BYTES;
  blobCount = 0;

  /** `buffer` must hold the header, the target size and one more blob of the largest kind. */
  constructor(buffer: Uint8Array) {
    this.buffer = buffer;
    buffer.set(PACK_MAGIC, 0);
  }

  /** Appends a blob and returns its offset in the pack. */
  add(blob: Uint8Array): number {
    const offset = this.sizeBytes;
    if (offset + blob.length > this.buffer.length) throw new Error('internal error: pack buffer too small for a blob');
    this.buffer.set(blob, offset);
    this.sizeBytes += blob.length;
    this.blobCount++;
    return offset;
  }

  /** The pack so far: a view of the buffer, valid until the buffer is reused. */
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.sizeBytes);
  }

  /** The buffer, to hand back for the next pack once this one is stored. */
  release(): Uint8Array {
    return this.buffer;
  }
}
