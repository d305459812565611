/** Chunk ids (FORMAT.md §5.2): a keyed hash of the chunk's plaintext, 32 bytes. */
import { createBLAKE3 } from 'hash-wasm';
import type { ChunkIdAlgorithm } from './repo/config.ts';

export const CHUNK_ID_BYTES = 32; // FORMAT.md §5.2

export type ChunkIdFunction = (data: Uint8Array) => Promise<Uint8Array>;

/** `key` is the series' chunk-id key, or undefined for an unencrypted series (plain hash). */
export async function chunkIdFunction(algorithm: ChunkIdAlgorithm, key: Uint8Array | undefined): Promise<ChunkIdFunction> {
  if (algorithm === 1) {
    if (key === undefined) {
      return async (data) => new Uint8Array(await crypto.subtle.digest('SHA-256', data as BufferSource));
    }
    const hmacKey = await crypto.subtle.importKey('raw', key as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return async (data) => new Uint8Array(await crypto.subtle.sign('HMAC', hmacKey, data as BufferSource));
  }
  const hasher = await createBLAKE3(256, key);
  return async (data) => {
    hasher.init();
    hasher.update(data);
    return hasher.digest('binary');
  };
}
