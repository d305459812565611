/**
 * The key hierarchy (FORMAT.md §3). Labels are the HKDF info strings, verbatim.
 *
 *   H (password hash)  = Argon2id(password, salt, params)
 *   KEK                = HKDF(H, "bunker kek")        wraps M and each run's DEK
 *   verifier           = HKDF(H, "bunker verify")     tells a wrong password from tampering
 *   point MAC key      = HKDF(H, "bunker point mac")  authenticates the point metadata
 *   M (master secret)  = random, once per backup series; wrapped in every point
 *   chunk-id key       = HKDF(M, "bunker chunk-id")
 *   gear seed          = HKDF(M, "bunker chunker")    1024 bytes → 256 gear values
 *   DEK                = random per run
 */
import { concatBytes, constantTimeEqual, randomBytes, utf8 } from '../format/bytes.ts';
import { aesGcmCipher, KEY_BYTES, NONCE_BYTES, type ObjectCipher } from './cipher.ts';
import { hkdf } from './kdf.ts';

// FORMAT.md §3: HKDF info labels, verbatim.
export const LABEL_KEK = 'bunker kek';
export const LABEL_VERIFY = 'bunker verify';
export const LABEL_POINT_MAC = 'bunker point mac';
export const LABEL_CHUNK_ID = 'bunker chunk-id';
export const LABEL_CHUNKER = 'bunker chunker';
/** Input keying material of the fixed, public gear table used by unencrypted backups (FORMAT.md §5.1). */
export const PUBLIC_GEAR_IKM = 'bunker public gear table';
export const GEAR_SEED_BYTES = 1024; // FORMAT.md §5.1
/** nonce ‖ wrapped key ‖ tag = 60 bytes (FORMAT.md §3.2). */
export const WRAPPED_KEY_BYTES = NONCE_BYTES + KEY_BYTES + 16;

export interface PasswordKeys {
  readonly kek: ObjectCipher;
  readonly verifier: Uint8Array;
  readonly pointMacKey: CryptoKey;
}

export async function derivePasswordKeys(passwordHash: Uint8Array): Promise<PasswordKeys> {
  const [kekRaw, verifier, macRaw] = await Promise.all([
    hkdf(passwordHash, LABEL_KEK),
    hkdf(passwordHash, LABEL_VERIFY),
    hkdf(passwordHash, LABEL_POINT_MAC),
  ]);
  const pointMacKey = await crypto.subtle.importKey('raw', macRaw as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  return { kek: await aesGcmCipher(kekRaw), verifier, pointMacKey };
}

export function verifierMatches(keys: PasswordKeys, stored: Uint8Array): boolean {
  return constantTimeEqual(keys.verifier, stored);
}

export interface SeriesKeys {
  readonly chunkIdKey: Uint8Array;
  readonly gearSeed: Uint8Array;
}

export async function deriveSeriesKeys(masterSecret: Uint8Array): Promise<SeriesKeys> {
  const [chunkIdKey, gearSeed] = await Promise.all([
    hkdf(masterSecret, LABEL_CHUNK_ID),
    hkdf(masterSecret, LABEL_CHUNKER, GEAR_SEED_BYTES),
  ]);
  return { chunkIdKey, gearSeed };
}

export function publicGearSeed(): Promise<Uint8Array> {
  return hkdf(utf8(PUBLIC_GEAR_IKM), LABEL_CHUNKER, GEAR_SEED_BYTES);
}

export function newSecretKey(): Uint8Array {
  return randomBytes(KEY_BYTES);
}

/**
 * What a wrapped key is: M or a run's DEK in a point (FORMAT.md §3.2), or the data key of a
 * configuration bundle (FORMAT.md §14.1, where point id and run id are both the bundle id).
 */
export type WrapLabel = 'master' | 'dek' | 'bundle';

/** FORMAT.md §3.2: "bunker/wrap/<label>" ‖ 0x00 ‖ point id ‖ 0x00 ‖ run id. */
function wrapAad(label: WrapLabel, pointId: string, runId: string): Uint8Array {
  return concatBytes(utf8(`bunker/wrap/${label}`), new Uint8Array([0]), utf8(pointId), new Uint8Array([0]), utf8(runId));
}

/**
 * Wraps a 32-byte key under the KEK: nonce(12) ‖ ciphertext(32) ‖ tag(16). AAD binds point and
 * run ids. `nonce` is for test vectors only; writers draw 12 random bytes.
 */
export async function wrapKey(kek: ObjectCipher, label: WrapLabel, pointId: string, runId: string, key: Uint8Array, nonce: Uint8Array = randomBytes(NONCE_BYTES)): Promise<Uint8Array> {
  return concatBytes(nonce, await kek.seal(nonce, wrapAad(label, pointId, runId), key));
}

export async function unwrapKey(kek: ObjectCipher, label: WrapLabel, pointId: string, runId: string, wrapped: Uint8Array): Promise<Uint8Array | undefined> {
  if (wrapped.length !== WRAPPED_KEY_BYTES) return undefined;
  return kek.open(wrapped.subarray(0, NONCE_BYTES), wrapAad(label, pointId, runId), wrapped.subarray(NONCE_BYTES));
}
