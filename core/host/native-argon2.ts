/**
 * Argon2id from node:crypto (OpenSSL 3.2+, Node 24.7+): native code on a thread-pool thread,
 * so the main thread goes on walking the source while the password is hashed. Deno's
 * node:crypto has no argon2 yet; there the portable WebAssembly one stays.
 */
import crypto from 'node:crypto';
import type { Argon2id } from '../crypto/kdf.ts';

type NativeArgon2 = (
  algorithm: 'argon2id',
  parameters: { message: Uint8Array; nonce: Uint8Array; parallelism: number; tagLength: number; memory: number; passes: number },
  callback: (error: Error | null, key: Uint8Array) => void,
) => void;

/** Node's Argon2id, or undefined where the runtime has none. */
export function nativeArgon2id(): Argon2id | undefined {
  // Looked up on the module object at each call, so a test's probe that wraps it sees every use.
  const available = (crypto as unknown as { argon2?: unknown }).argon2;
  if (typeof available !== 'function') return undefined;
  return (password, salt, params, hashBytes) =>
    new Promise((resolve, reject) => {
      const argon2 = (crypto as unknown as { argon2: NativeArgon2 }).argon2;
      argon2('argon2id', {
        message: password,
        nonce: salt,
        parallelism: params.parallelism,
        tagLength: hashBytes,
        memory: params.memoryKiB,
        passes: params.iterations,
      }, (error, key) => {
        if (error) reject(error);
        else resolve(new Uint8Array(key.buffer, key.byteOffset, key.byteLength));
      });
    });
}
