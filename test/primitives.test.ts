/** Upstream known-answer tests for the primitives, each with its source. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { argon2id } from 'hash-wasm';
import { aesGcmCipher } from '../core/crypto/cipher.ts';
import { hkdf } from '../core/crypto/kdf.ts';
import { discard, fromHex, isLowerHex, readU32be, toHex, utf8 } from '../core/format/bytes.ts';

test('Argon2id: reference implementation vector (phc-winner-argon2 src/test.c, v=19 t=2 m=2^16 p=1)', async () => {
  const out = await argon2id({ password: 'password', salt: 'somesalt', iterations: 2, memorySize: 65536, parallelism: 1, hashLength: 32, outputType: 'hex' });
  assert.is(out, '09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7');
});

test('HKDF-SHA-256: RFC 5869 test case 3 (empty salt and info)', async () => {
  const okm = await hkdf(fromHex('0b'.repeat(22)), '', 42);
  assert.is(toHex(okm), '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8');
});

test('AES-256-GCM: McGrew & Viega GCM spec test case 16', async () => {
  const cipher = await aesGcmCipher(fromHex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308'));
  const nonce = fromHex('cafebabefacedbaddecaf888');
  const aad = fromHex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
  const plaintext = fromHex('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39');
  const sealed = await cipher.seal(nonce, aad, plaintext);
  assert.is(toHex(sealed),
    '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' +
    '76fc6ece0f4e1768cddf8853bb2d551b');
  assert.equal(await cipher.open(nonce, aad, sealed), plaintext);
  const flipped = sealed.slice();
  flipped[0]! ^= 1;
  assert.is(await cipher.open(nonce, aad, flipped), undefined);
  assert.is(await cipher.open(nonce, utf8('other aad'), sealed), undefined);
});

test('hex: every byte value round-trips; uppercase, odd length, non-hex and non-ASCII are refused', () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.equal(fromHex(toHex(all)), all);
  const reference = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  // Empty, one byte, an id, and lengths around the 4,096-byte pieces toHex builds strings from.
  for (const length of [0, 1, 32, 4095, 4096, 4097, 10_000]) {
    const bytes = Uint8Array.from({ length }, (_, i) => (i * 131 + 7) & 0xff);
    assert.is(toHex(bytes), reference(bytes), `length ${length}`);
  }
  assert.is(toHex(all.subarray(250, 253)), 'fafbfc');
  const id = 'ab'.repeat(32);
  assert.ok(isLowerHex(id, 64));
  for (const bad of [id.slice(1), id + 'a', id.slice(0, 63) + 'A', id.slice(0, 63) + 'g', id.slice(0, 63) + '\u0130', id.slice(0, 63) + '\u0100', 42, undefined]) {
    assert.not.ok(isLowerHex(bad, 64), JSON.stringify(bad));
  }
});

test('readU32be: big-endian, unsigned, on a view with an offset; refuses offsets past the end, negative or not whole', () => {
  const view = Uint8Array.from([9, 0xff, 0xfe, 0xfd, 0xfc, 1, 2, 3, 4]).subarray(1);
  assert.is(readU32be(view, 0), 0xfffefdfc);
  assert.is(readU32be(view, 4), 0x01020304);
  for (const offset of [5, -1, 0.5, Number.NaN]) assert.throws(() => readU32be(view, offset), RangeError, String(offset));
  for (const bad of ['0A', 'abc', '0g', 'zz', '0\u0130', '\u0130\u0130', ' 0']) {
    assert.throws(() => fromHex(bad), /expected lowercase hex/, JSON.stringify(bad));
  }
});

test('discard frees a buffer a view covers whole, and leaves a shared buffer alone', () => {
  const whole = new Uint8Array(1 << 20).fill(7);
  discard(whole);
  assert.is(whole.buffer.detached, true);
  assert.is(whole.length, 0);
  discard(whole); // twice is harmless
  const shared = new Uint8Array(1024).fill(9);
  const part = shared.subarray(0, 512);
  const offset = shared.subarray(512);
  discard(part);
  discard(offset);
  assert.is(shared.buffer.detached, false);
  assert.is(shared[1023], 9);
});

test.run();
