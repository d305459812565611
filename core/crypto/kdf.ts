/**
 * Password hashing (Argon2id, RFC 9106) and key derivation (HKDF-SHA-256, RFC 5869).
 * FORMAT.md §3 (key hierarchy) and SECURITY.md (parameter choice).
 */
import { argon2id } from 'hash-wasm';
import { BunkerError } from '../errors.ts';
import { utf8 } from '../format/bytes.ts';

export interface KdfParams {
  readonly algorithm: 'argon2id';
  readonly memoryKiB: number;
  readonly iterations: number;
  readonly parallelism: number;
}

/** Production defaults: RFC 9106 §4 second recommended option (64 MiB, t=3, p=4). FORMAT.md §3.1 */
export const DEFAULT_KDF_PARAMS: KdfParams = Object.freeze({
  algorithm: 'argon2id',
  memoryKiB: 64 * 1024,
  iterations: 3,
  parallelism: 4,
});

/**
 * Bounds applied to parameters read from a repository or bundle before any work is done,
 * so a hostile file cannot make us allocate 16 GiB or spin for an hour (FORMAT.md §3.1).
 */
export const KDF_LIMITS = Object.freeze({
  maxMemoryKiB: 1024 * 1024, // 1 GiB
  maxIterations: 32,
  maxParallelism: 16,
  minSaltBytes: 16,
  maxSaltBytes: 64,
});

/** |H| (FORMAT.md §3) and the salt length writers draw (FORMAT.md §3.1). */
export const PASSWORD_HASH_BYTES = 32;
export const SALT_BYTES = 16;

/** Validates KDF parameters from any source; throws KDF_PARAMS_OUT_OF_RANGE. */
export function checkKdfParams(value: unknown): KdfParams {
  const p = value as Partial<KdfParams> | null;
  const isInt = (n: unknown, min: number, max: number): n is number =>
    typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max;
  if (
    p === null || typeof p !== 'object' || p.algorithm !== 'argon2id' ||
    !isInt(p.parallelism, 1, KDF_LIMITS.maxParallelism) ||
    !isInt(p.iterations, 1, KDF_LIMITS.maxIterations) ||
    !isInt(p.memoryKiB, 8 * (p.parallelism as number), KDF_LIMITS.maxMemoryKiB)
  ) {
    throw new BunkerError(
      'KDF_PARAMS_OUT_OF_RANGE',
      `key derivation parameters are out of range (allowed: argon2id, memory 8×parallelism..${KDF_LIMITS.maxMemoryKiB} KiB, ` +
        `iterations 1..${KDF_LIMITS.maxIterations}, parallelism 1..${KDF_LIMITS.maxParallelism})`,
    );
  }
  return Object.freeze({ algorithm: 'argon2id', memoryKiB: p.memoryKiB, iterations: p.iterations, parallelism: p.parallelism });
}

/** Whether two parameter sets derive the same H from the same password and salt. */
export function sameKdfParams(a: KdfParams, b: KdfParams): boolean {
  return a.algorithm === b.algorithm && a.memoryKiB === b.memoryKiB && a.iterations === b.iterations && a.parallelism === b.parallelism;
}

export function checkSalt(salt: Uint8Array): void {
  if (salt.length < KDF_LIMITS.minSaltBytes || salt.length > KDF_LIMITS.maxSaltBytes) {
    throw new BunkerError('KDF_PARAMS_OUT_OF_RANGE', `salt must be ${KDF_LIMITS.minSaltBytes}..${KDF_LIMITS.maxSaltBytes} bytes, got ${salt.length}`);
  }
}

/** One Argon2id implementation: RFC 9106 bytes, whatever computes them. */
export type Argon2id = (password: Uint8Array, salt: Uint8Array, params: KdfParams, hashBytes: number) => Promise<Uint8Array>;

/** The portable one: hash-wasm's WebAssembly build, on every runtime. */
export const wasmArgon2id: Argon2id = (password, salt, params, hashBytes) =>
  argon2id({
    password,
    salt,
    parallelism: params.parallelism,
    iterations: params.iterations,
    memorySize: params.memoryKiB,
    hashLength: hashBytes,
    outputType: 'binary',
  });

let activeArgon2id: Argon2id = wasmArgon2id;

/**
 * Lets a host put a faster Argon2id in place of the portable one (Node's native one runs off
 * the main thread, 2x faster). It must give the same bytes: test/kdf-native.test.ts checks it.
 */
export function useArgon2id(implementation: Argon2id): void {
  activeArgon2id = implementation;
}

/** H = Argon2id(password, salt, params): the 32-byte password hash. */
export async function derivePasswordHash(password: string | Uint8Array, salt: Uint8Array, params: KdfParams): Promise<Uint8Array> {
  const checked = checkKdfParams(params);
  checkSalt(salt);
  const bytes = typeof password === 'string' ? utf8(password) : password;
  // Refused whichever implementation runs (hash-wasm would throw, OpenSSL would hash it).
  if (bytes.length === 0) throw new BunkerError('USAGE', 'the password is empty');
  return await activeArgon2id(bytes, salt, checked, PASSWORD_HASH_BYTES);
}

/** HKDF-SHA-256 with an empty salt; `label` is the info string from FORMAT.md §3. */
export async function hkdf(ikm: Uint8Array, label: string, lengthBytes = 32): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', ikm as BufferSource, 'HKDF', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8(label) as BufferSource },
    key,
    lengthBytes * 8,
  );
  return new Uint8Array(bits);
}
