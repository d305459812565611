/**
 * node:crypto implementations of the sealing primitives (HMAC-SHA-256 / SHA-256 chunk ids,
 * AES-256-GCM chunk blobs), for worker threads: synchronous and copy-free, where WebCrypto
 * copies every input and dispatches a job per call. Same algorithms, same bytes as
 * webCryptoSealPrimitives (test/pipeline.test.ts checks it). BLAKE3 ids stay on the default.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import { type SealKeys, type SealPrimitives, webCryptoSealPrimitives } from '../chunk-sealer.ts';
import type { OpenPrimitives, RunKeys } from '../chunk-opener.ts';
import { NONCE_BYTES, TAG_BYTES } from '../crypto/cipher.ts';
import { chunkAad, chunkNonce } from '../repo/pack.ts';
import { discard } from '../format/bytes.ts';

function view(bytes: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export async function nodeSealPrimitives(keys: SealKeys): Promise<SealPrimitives> {
  if (keys.chunkIdAlgorithm !== 1) return webCryptoSealPrimitives(keys);
  // KeyObjects made once: raw keys would be imported again on every call.
  const idKey = keys.chunkIdKey ? createSecretKey(keys.chunkIdKey) : undefined;
  const dataKey = keys.dataKey ? createSecretKey(keys.dataKey) : undefined;
  return {
    chunkId: (data) => view(idKey ? createHmac('sha256', idKey).update(data).digest() : createHash('sha256').update(data).digest()),
    seal(nonceCounter, id, codec, rawLength, payload) {
      const nonce = chunkNonce(nonceCounter);
      const aad = chunkAad(id, codec, rawLength);
      const blob = new Uint8Array(NONCE_BYTES + payload.length + TAG_BYTES);
      blob.set(nonce, 0);
      if (dataKey) {
        const cipher = createCipheriv('aes-256-gcm', dataKey, nonce);
        cipher.setAAD(aad);
        const head = cipher.update(payload);
        blob.set(head, NONCE_BYTES);
        const headBytes = head.length;
        discard(view(head));
        const tail = cipher.final();
        blob.set(tail, NONCE_BYTES + headBytes);
        blob.set(cipher.getAuthTag(), NONCE_BYTES + payload.length);
      } else {
        // The checksum "cipher" of unencrypted series: SHA-256(nonce ‖ aad ‖ plaintext)[0, 16).
        const digest = createHash('sha256').update(nonce).update(aad).update(payload).digest();
        blob.set(payload, NONCE_BYTES);
        blob.set(digest.subarray(0, TAG_BYTES), NONCE_BYTES + payload.length);
      }
      return blob;
    },
  };
}

/** node:crypto opening of chunk blobs, the mirror of nodeSealPrimitives' seal. */
export function nodeOpenPrimitives(runKeys: RunKeys): OpenPrimitives {
  const keys = new Map([...runKeys].map(([run, key]) => [run, key ? createSecretKey(key) : undefined] as const));
  return {
    open(runId, blob, chunkId, codec, rawLength) {
      if (!keys.has(runId)) throw new Error('internal error: chunk from a run outside the key table');
      const key = keys.get(runId);
      const nonce = blob.subarray(0, NONCE_BYTES);
      const body = blob.subarray(NONCE_BYTES, blob.length - TAG_BYTES);
      const tag = blob.subarray(blob.length - TAG_BYTES);
      const aad = chunkAad(chunkId, codec, rawLength);
      if (key === undefined) {
        const digest = createHash('sha256').update(nonce).update(aad).update(body).digest();
        return timingSafeEqual(digest.subarray(0, TAG_BYTES), tag) ? body : undefined;
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, nonce);
        decipher.setAAD(aad);
        decipher.setAuthTag(tag);
        const out = new Uint8Array(body.length);
        const head = decipher.update(body);
        out.set(head, 0);
        const headBytes = head.length;
        discard(view(head));
        out.set(decipher.final(), headBytes);
        return out;
      } catch {
        return undefined;
      }
    },
  };
}
