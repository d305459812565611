/**
 * The configuration bundle (FORMAT.md §14): the whole product catalog in one file, encrypted
 * under a password, to move bunker's configuration to a new machine or keep it in a
 * repository (self-backup). KMS never applies to bundles: the password is the only way in.
 *
 *   magic "BNKBUNDL" (8) ‖ version u16be ‖ L u16be ‖ header body (L) ‖ checksum (32) ‖ STREAM
 *   header body = u32be memoryKiB ‖ u8 iterations ‖ u8 parallelism ‖ u8 S ‖ salt (S)
 *                 ‖ verifier (32) ‖ bundle id (32) ‖ wrapped data key (60)
 *   checksum    = SHA-256(every byte before it)
 *   STREAM      = FORMAT.md §4.3, kind 4 (bundle), AES-256-GCM under the data key, codec 1
 *                 (zstd), object id = the bundle id in hex; its content is core/catalog/snapshot.ts
 *
 * The password hash H = Argon2id(password, salt, params) gives the KEK and the verifier as
 * for points (§3); the data key is random per bundle and wrapped under the KEK, so even a
 * named bundle password (same salt every time) never reuses a data key.
 */
import { aesGcmCipher, NONCE_BYTES, type ObjectCipher, TAG_BYTES } from './crypto/cipher.ts';
import { checkKdfParams, checkSalt, type KdfParams } from './crypto/kdf.ts';
import { derivePasswordKeys, newSecretKey, unwrapKey, verifierMatches, wrapKey, WRAPPED_KEY_BYTES } from './crypto/keys.ts';
import { openStream, randomNoncePrefix, sealStream, STREAM_HEADER_BYTES } from './crypto/stream.ts';
import { BunkerError, isBunkerError } from './errors.ts';
import { bytesEqual, concatBytes, randomBytes, readU16be, readU32be, toHex, u16be, u32be, utf8 } from './format/bytes.ts';
import { ZstdCodec } from '../wasm/mod.ts';

// FORMAT.md §14.1: layout constants.
export const BUNDLE_MAGIC = 'BNKBUNDL';
export const BUNDLE_VERSION = 1;
export const BUNDLE_PREFIX_BYTES = 12;
export const BUNDLE_CHECKSUM_BYTES = 32;
export const BUNDLE_ID_BYTES = 32;
/** Header body bytes besides the salt: params (7), verifier (32), bundle id (32), wrapped key (60). */
export const BUNDLE_HEADER_FIXED_BYTES = 4 + 1 + 1 + 1 + 32 + BUNDLE_ID_BYTES + WRAPPED_KEY_BYTES;
/** zstd level writers use for the content. */
export const BUNDLE_ZSTD_LEVEL = 3;
/** Largest content a reader decompresses (as for STREAM objects, FORMAT.md §4.3). */
export const MAX_BUNDLE_CONTENT_BYTES = 1 << 30;

/** The password side of a bundle: its salt and parameters, and H. */
export interface BundleKey {
  readonly salt: Uint8Array;
  readonly kdf: KdfParams;
  readonly hash: Uint8Array;
}

/** What a reader learns before it needs a password. */
export interface BundleHeader {
  readonly version: number;
  readonly kdf: KdfParams;
  readonly salt: Uint8Array;
  readonly verifier: Uint8Array;
  /** 64 lowercase hex. */
  readonly bundleId: string;
  readonly wrappedKey: Uint8Array;
  /** Offset of the STREAM object. */
  readonly streamOffset: number;
}

/** Fixed randomness, for test vectors only. */
export interface BundleRandomness {
  readonly bundleId: Uint8Array;
  readonly dataKey: Uint8Array;
  readonly wrapNonce: Uint8Array;
  readonly noncePrefix: Uint8Array;
}

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data as BufferSource));
}

/**
 * Seals `content` (the snapshot JSON) into a bundle under `key`. `compress` turns the content
 * into one zstd frame with its content size (default: zstd level 3).
 */
export async function sealBundle(
  content: Uint8Array,
  key: BundleKey,
  options: { compress?: (content: Uint8Array) => Uint8Array; randomness?: BundleRandomness } = {},
): Promise<Uint8Array> {
  const kdf = checkKdfParams(key.kdf);
  checkSalt(key.salt);
  const passwordKeys = await derivePasswordKeys(key.hash);
  const idBytes = options.randomness?.bundleId ?? randomBytes(BUNDLE_ID_BYTES);
  const bundleId = toHex(idBytes);
  const dataKey = options.randomness?.dataKey ?? newSecretKey();
  const wrapped = await wrapKey(passwordKeys.kek, 'bundle', bundleId, bundleId, dataKey, options.randomness?.wrapNonce ?? randomBytes(NONCE_BYTES));
  const body = concatBytes(u32be(kdf.memoryKiB), new Uint8Array([kdf.iterations, kdf.parallelism, key.salt.length]), key.salt, passwordKeys.verifier, idBytes, wrapped);
  const header = concatBytes(utf8(BUNDLE_MAGIC), u16be(BUNDLE_VERSION), u16be(body.length), body);
  const compress = options.compress ?? ((bytes: Uint8Array) => new ZstdCodec().compress(bytes, BUNDLE_ZSTD_LEVEL));
  const stream = await sealStream(await aesGcmCipher(dataKey), 'bundle', bundleId, compress(content), 1, options.randomness?.noncePrefix ?? randomNoncePrefix());
  return concatBytes(header, await sha256(header), stream);
}

/**
 * Reads a bundle's header, checking everything that needs no password (FORMAT.md §14.2,
 * steps 1-6): TAMPERED for damage, UNSUPPORTED_VERSION for a newer bunker's bundle,
 * KDF_PARAMS_OUT_OF_RANGE before any Argon2 work.
 */
export async function parseBundleHeader(bytes: Uint8Array, objectName: string): Promise<BundleHeader> {
  const damaged = (why: string): never => {
    throw new BunkerError('TAMPERED', `${objectName} is damaged (${why})`, { object: objectName });
  };
  if (bytes.length < BUNDLE_PREFIX_BYTES) damaged('truncated');
  if (!bytesEqual(bytes.subarray(0, 8), utf8(BUNDLE_MAGIC))) {
    throw new BunkerError('TAMPERED', `${objectName} is not a bunker configuration bundle (bad magic)`, { object: objectName });
  }
  const version = readU16be(bytes, 8);
  const length = readU16be(bytes, 10);
  const checksumAt = BUNDLE_PREFIX_BYTES + length;
  if (bytes.length < checksumAt + BUNDLE_CHECKSUM_BYTES) damaged('truncated');
  if (!bytesEqual(await sha256(bytes.subarray(0, checksumAt)), bytes.subarray(checksumAt, checksumAt + BUNDLE_CHECKSUM_BYTES))) damaged('checksum mismatch');
  // Only now, with an intact checksum, is the version trustworthy enough to report.
  if (version > BUNDLE_VERSION) {
    throw new BunkerError('UNSUPPORTED_VERSION', `${objectName} was written by a newer bunker (bundle format version ${version}; this bunker reads up to ${BUNDLE_VERSION}). Upgrade bunker to import it.`, { object: objectName });
  }
  if (version < 1) damaged('invalid header');
  if (length < BUNDLE_HEADER_FIXED_BYTES) damaged('invalid header');
  const body = bytes.subarray(BUNDLE_PREFIX_BYTES, checksumAt);
  const saltLength = body[6]!;
  if (length !== BUNDLE_HEADER_FIXED_BYTES + saltLength) damaged('invalid header');
  const kdfValue = { algorithm: 'argon2id', memoryKiB: readU32be(body, 0), iterations: body[4]!, parallelism: body[5]! };
  const salt = body.slice(7, 7 + saltLength);
  let kdf: KdfParams;
  try {
    // Bounded before any use: a hostile bundle must not buy a 16 GiB Argon2 run.
    checkSalt(salt);
    kdf = checkKdfParams(kdfValue);
  } catch (error) {
    if (!isBunkerError(error, 'KDF_PARAMS_OUT_OF_RANGE')) throw error;
    throw new BunkerError('KDF_PARAMS_OUT_OF_RANGE', `${objectName}: ${error.message}`, { object: objectName });
  }
  let at = 7 + saltLength;
  const verifier = body.slice(at, at + 32);
  at += 32;
  const bundleId = toHex(body.subarray(at, at + BUNDLE_ID_BYTES));
  at += BUNDLE_ID_BYTES;
  const wrappedKey = body.slice(at, at + WRAPPED_KEY_BYTES);
  const streamOffset = checksumAt + BUNDLE_CHECKSUM_BYTES;
  // An empty STREAM is 32 bytes; anything shorter is a truncated bundle, found before a password is asked for.
  if (bytes.length - streamOffset < STREAM_HEADER_BYTES + TAG_BYTES) damaged('truncated');
  return { version, kdf, salt, verifier, bundleId, wrappedKey, streamOffset };
}

/**
 * Opens a bundle whose header was parsed, given H for its salt: WRONG_PASSWORD when the
 * verifier does not match, TAMPERED when anything after it fails (FORMAT.md §14.2, steps 7-10).
 * Returns the content (the snapshot JSON).
 */
export async function openBundle(bytes: Uint8Array, header: BundleHeader, hash: Uint8Array, objectName: string): Promise<Uint8Array> {
  const keys = await derivePasswordKeys(hash);
  if (!verifierMatches(keys, header.verifier)) {
    throw new BunkerError('WRONG_PASSWORD', 'wrong password for the configuration bundle');
  }
  const tampered = (what: string): never => {
    throw new BunkerError('TAMPERED', `${objectName}: ${what} failed authentication (modified, truncated or misplaced)`, { object: objectName });
  };
  const dataKey = await unwrapKey(keys.kek, 'bundle', header.bundleId, header.bundleId, header.wrappedKey);
  if (dataKey === undefined) return tampered('the bundle key');
  const cipher: ObjectCipher = await aesGcmCipher(dataKey);
  const { plaintext, codec } = await openStream(cipher, 'bundle', header.bundleId, bytes.subarray(header.streamOffset), objectName);
  if (codec === 0) return plaintext;
  const invalid = (): never => {
    throw new BunkerError('TAMPERED', `${objectName} has an invalid compressed body`, { object: objectName });
  };
  const zstd = new ZstdCodec();
  const size = zstd.frameContentSize(plaintext);
  if (size < 0 || size > MAX_BUNDLE_CONTENT_BYTES) return invalid();
  try {
    return zstd.decompress(plaintext, size);
  } catch {
    return invalid();
  }
}
