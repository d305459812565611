/**
 * Secrets at rest in the product catalog (FORMAT.md §15.2): password hashes and API token
 * hashes are stored sealed with AES-256-GCM under the local master key, a random 32-byte key
 * kept in its own file (mode 0600) beside the database (FORMAT.md §15.1). The database file
 * alone therefore reveals no hash.
 *
 *   sealed = nonce (12) ‖ AES-256-GCM(master key, nonce, aad, secret)     (|secret| + 16 bytes)
 *   aad    = utf8("bunker/catalog/" ‖ kind) ‖ 0x00 ‖ identity
 *
 * The identity binds a sealed value to its row (a password hash to its salt, a token hash to
 * the token's name), so values swapped between rows fail to open.
 */
import { aesGcmCipher, KEY_BYTES, NONCE_BYTES, type ObjectCipher, TAG_BYTES } from '../crypto/cipher.ts';
import { BunkerError } from '../errors.ts';
import { bytesEqual, concatBytes, randomBytes, utf8 } from '../format/bytes.ts';

// FORMAT.md §15.1: the master key file.
export const MASTER_KEY_MAGIC = 'BNKMKEY1';
export const MASTER_KEY_FILE_BYTES = 8 + KEY_BYTES;
/** FORMAT.md §15.2: the plaintext of the key check, sealed once per database. */
export const KEY_CHECK_PLAINTEXT = 'bunker catalog key check';

/** What a sealed value is; part of its associated data (FORMAT.md §15.2). */
export type SecretKind = 'password-hash' | 'token' | 'key-check';

/** FORMAT.md §15.2: "bunker/catalog/<kind>" ‖ 0x00 ‖ identity. */
export function secretAad(kind: SecretKind, identity: Uint8Array): Uint8Array {
  return concatBytes(utf8(`bunker/catalog/${kind}`), new Uint8Array([0]), identity);
}

/** A new master key file's bytes: magic ‖ 32 random bytes. */
export function newMasterKeyFile(key: Uint8Array = randomBytes(KEY_BYTES)): Uint8Array {
  if (key.length !== KEY_BYTES) throw new Error('internal error: master key must be 32 bytes');
  return concatBytes(utf8(MASTER_KEY_MAGIC), key);
}

/** The key in a master key file; CATALOG_FAILED (naming the file) when it is not one. */
export function parseMasterKeyFile(bytes: Uint8Array, location: string): Uint8Array {
  if (bytes.length !== MASTER_KEY_FILE_BYTES || !bytesEqual(bytes.subarray(0, 8), utf8(MASTER_KEY_MAGIC))) {
    throw new BunkerError('CATALOG_FAILED', `${location} is not a bunker master key file`);
  }
  return bytes.slice(8);
}

/** Seals and opens catalog secrets under the master key. */
export class SecretBox {
  private readonly cipher: ObjectCipher;

  private constructor(cipher: ObjectCipher) {
    this.cipher = cipher;
  }

  static async fromKey(masterKey: Uint8Array): Promise<SecretBox> {
    return new SecretBox(await aesGcmCipher(masterKey));
  }

  /** `nonce` is for test vectors only; writers draw 12 random bytes. */
  async seal(kind: SecretKind, identity: Uint8Array, secret: Uint8Array, nonce: Uint8Array = randomBytes(NONCE_BYTES)): Promise<Uint8Array> {
    return concatBytes(nonce, await this.cipher.seal(nonce, secretAad(kind, identity), secret));
  }

  /** The secret, or undefined when the value does not open (another key, another row, damage). */
  async open(kind: SecretKind, identity: Uint8Array, sealed: Uint8Array): Promise<Uint8Array | undefined> {
    if (sealed.length < NONCE_BYTES + TAG_BYTES) return undefined;
    return this.cipher.open(sealed.subarray(0, NONCE_BYTES), secretAad(kind, identity), sealed.subarray(NONCE_BYTES));
  }

  /**
   * The secret, or CATALOG_FAILED when it does not open: the database was damaged, or a value
   * was moved to another row. `what` names the value ("the stored hash of password \"x\"").
   */
  async openOrFail(kind: SecretKind, identity: Uint8Array, sealed: Uint8Array, what: string): Promise<Uint8Array> {
    const secret = await this.open(kind, identity, sealed);
    if (secret === undefined) throw new BunkerError('CATALOG_FAILED', `${what} does not open: the database is damaged`);
    return secret;
  }

  /** The key check stored in a new database: tells a wrong or replaced master key file from damage. */
  newKeyCheck(): Promise<Uint8Array> {
    return this.seal('key-check', new Uint8Array(0), utf8(KEY_CHECK_PLAINTEXT));
  }

  async isKeyCheckValid(sealed: Uint8Array): Promise<boolean> {
    const opened = await this.open('key-check', new Uint8Array(0), sealed);
    return opened !== undefined && bytesEqual(opened, utf8(KEY_CHECK_PLAINTEXT));
  }
}
