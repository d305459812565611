/**
 * The host's native Argon2id (node:crypto, Node 24.7+) gives the portable one's bytes, and the
 * checks in derivePasswordHash stay in front of whichever implementation is in use.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import crypto from 'node:crypto';
import { type Argon2id, derivePasswordHash, type KdfParams, useArgon2id, wasmArgon2id } from '../core/crypto/kdf.ts';
import { nativeArgon2id } from '../core/host/native-argon2.ts';
import { toHex, utf8 } from '../core/format/bytes.ts';
import { isBunkerError } from '../core/errors.ts';
import { pseudoRandomBytes, RUNTIME } from './helpers.ts';

const native = nativeArgon2id();

test('native Argon2id is offered exactly where the runtime has one (Node 24 always)', () => {
  const hasArgon2 = typeof (crypto as unknown as { argon2?: unknown }).argon2 === 'function';
  assert.is(native !== undefined, hasArgon2);
  if (RUNTIME === 'node') assert.ok(native, 'Node 24 has crypto.argon2');
});

test('native Argon2id: reference vector (phc-winner-argon2 src/test.c, v=19 t=2 m=2^16 p=1)', async () => {
  if (native === undefined) return assert.is(RUNTIME, 'deno', 'only Deno may lack the native Argon2id');
  const out = await native(utf8('password'), utf8('somesalt'), { algorithm: 'argon2id', memoryKiB: 65536, iterations: 2, parallelism: 1 }, 32);
  assert.is(toHex(out), '09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7');
});

test('native and WebAssembly Argon2id give the same hash for every parameter shape bunker accepts', async () => {
  if (native === undefined) return assert.is(RUNTIME, 'deno', 'only Deno may lack the native Argon2id');
  const shapes: [KdfParams, number][] = [
    [{ algorithm: 'argon2id', memoryKiB: 64, iterations: 1, parallelism: 1 }, 32],
    [{ algorithm: 'argon2id', memoryKiB: 256, iterations: 3, parallelism: 4 }, 32],
    [{ algorithm: 'argon2id', memoryKiB: 1024, iterations: 2, parallelism: 3 }, 32],
    [{ algorithm: 'argon2id', memoryKiB: 128, iterations: 1, parallelism: 16 }, 32],
    [{ algorithm: 'argon2id', memoryKiB: 65536, iterations: 3, parallelism: 4 }, 32],
  ];
  for (const [i, [params, length]] of shapes.entries()) {
    const password = i % 2 === 0 ? utf8(`pässword ${i}`) : pseudoRandomBytes(100, i);
    const salt = pseudoRandomBytes(16 + i * 8, 100 + i);
    const label = JSON.stringify(params);
    assert.equal(await native(password, salt, params, length), await wasmArgon2id(password, salt, params, length), label);
  }
});

test('derivePasswordHash checks salt, parameters and an empty password before any implementation runs', async () => {
  const calls: KdfParams[] = [];
  const spy: Argon2id = (password, salt, params, length) => {
    calls.push(params);
    return wasmArgon2id(password, salt, params, length);
  };
  useArgon2id(spy);
  try {
    const hostile = [
      { algorithm: 'argon2id', memoryKiB: 4 * 1024 * 1024, iterations: 1, parallelism: 1 },
      { algorithm: 'argon2id', memoryKiB: 64, iterations: 1000, parallelism: 1 },
      { algorithm: 'argon2d', memoryKiB: 64, iterations: 1, parallelism: 1 },
    ];
    for (const params of hostile) {
      const error = await derivePasswordHash('pw', new Uint8Array(16), params as KdfParams).then(() => undefined, (e: unknown) => e);
      assert.ok(isBunkerError(error) && error.code === 'KDF_PARAMS_OUT_OF_RANGE', JSON.stringify(params));
    }
    const shortSalt = await derivePasswordHash('pw', new Uint8Array(4), { algorithm: 'argon2id', memoryKiB: 64, iterations: 1, parallelism: 1 }).then(() => undefined, (e: unknown) => e);
    assert.ok(isBunkerError(shortSalt) && shortSalt.code === 'KDF_PARAMS_OUT_OF_RANGE');
    const empty = await derivePasswordHash('', new Uint8Array(16), { algorithm: 'argon2id', memoryKiB: 64, iterations: 1, parallelism: 1 }).then(() => undefined, (e: unknown) => e);
    assert.ok(isBunkerError(empty) && empty.code === 'USAGE' && /empty/.test(empty.message), 'an empty password is refused, not hashed');
    assert.equal(calls, [], 'no implementation was called');
    const params: KdfParams = { algorithm: 'argon2id', memoryKiB: 64, iterations: 1, parallelism: 1 };
    const hash = await derivePasswordHash('pw', new Uint8Array(16).fill(1), params);
    assert.equal(calls, [params], 'the installed implementation does the work');
    assert.equal(hash, await wasmArgon2id(utf8('pw'), new Uint8Array(16).fill(1), params, 32));
  } finally {
    useArgon2id(wasmArgon2id);
  }
});

test.run();
