/**
 * The object cipher: AES-256-GCM for encrypted backups, or a checksum-only "cipher" for
 * unencrypted ones, behind one interface so every object goes through one code path
 * (FORMAT.md §4). `open` returns undefined when authentication fails; the caller names
 * the object in the TAMPERED error.
 */
import { concatBytes } from '../format/bytes.ts';

// FORMAT.md §4.1: 96-bit nonces, 128-bit tags, 256-bit keys for every object cipher.
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const KEY_BYTES = 32;

export interface ObjectCipher {
  /** 1 = AES-256-GCM, 0 = none (SHA-256 checksum tag). FORMAT.md §4.1 */
  readonly id: 0 | 1;
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Promise<Uint8Array | undefined>;
}

function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== NONCE_BYTES) throw new Error(`internal error: nonce expected ${NONCE_BYTES} bytes, got ${nonce.length}`);
}

/**
 * AES-256-GCM through WebCrypto (hardware-accelerated on every runtime). GCM is safe for
 * 2^32 messages under random nonces per key; we use per-run keys and counter nonces
 * (FORMAT.md §4.2), so no key approaches that.
 */
export async function aesGcmCipher(rawKey: Uint8Array): Promise<ObjectCipher> {
  if (rawKey.length !== KEY_BYTES) throw new Error(`internal error: key expected ${KEY_BYTES} bytes, got ${rawKey.length}`);
  const key = await crypto.subtle.importKey('raw', rawKey as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']);
  return {
    id: 1,
    async seal(nonce, aad, plaintext) {
      checkNonce(nonce);
      const out = await crypto.subtle.encrypt(
        { name: 'AES-GCM', iv: nonce as BufferSource, additionalData: aad as BufferSource, tagLength: 128 },
        key,
        plaintext as BufferSource,
      );
      return new Uint8Array(out);
    },
    async open(nonce, aad, sealed) {
      checkNonce(nonce);
      if (sealed.length < TAG_BYTES) return undefined;
      try {
        const out = await crypto.subtle.decrypt(
          { name: 'AES-GCM', iv: nonce as BufferSource, additionalData: aad as BufferSource, tagLength: 128 },
          key,
          sealed as BufferSource,
        );
        return new Uint8Array(out);
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * Cipher id 0 (FORMAT.md §4.1). Unencrypted backups: plaintext followed by the first 16 bytes of SHA-256(nonce ‖ aad ‖ plaintext).
 * Detects corruption and misplaced objects, not a deliberate forger (who has no key to forge anyway).
 */
export const checksumCipher: ObjectCipher = Object.freeze({
  id: 0 as const,
  async seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array) {
    checkNonce(nonce);
    // Copy before the first await: callers may reuse `plaintext` once seal() has been called,
    // as WebCrypto allows.
    const covered = concatBytes(nonce, aad, plaintext);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', covered as BufferSource));
    return concatBytes(covered.subarray(nonce.length + aad.length), digest.subarray(0, TAG_BYTES));
  },
  async open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array) {
    checkNonce(nonce);
    if (sealed.length < TAG_BYTES) return undefined;
    const plaintext = sealed.subarray(0, sealed.length - TAG_BYTES);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', concatBytes(nonce, aad, plaintext) as BufferSource));
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    let diff = 0;
    for (let i = 0; i < TAG_BYTES; i++) diff |= digest[i]! ^ tag[i]!;
    return diff === 0 ? plaintext.slice() : undefined;
  },
});
