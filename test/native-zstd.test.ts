/**
 * The codec threads' native zstd (core/host/native-zstd.ts) keeps one context from frame to
 * frame: its frames are the one-shot API's bytes, the WASM build reads them and it reads the
 * WASM build's, and a bad frame is refused without spoiling the next one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as zlib from 'node:zlib';
import { KEPT_SCRATCH_BYTES, nativeZstd } from '../core/host/native-zstd.ts';
import { ZstdCodec } from '../wasm/mod.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';
import { joinBytes, utf8 } from '../core/format/bytes.ts';
import { pseudoRandomBytes, RUNTIME } from './helpers.ts';

await loadWasmFromPackages();
const wasm = new ZstdCodec();
const native = nativeZstd();

function text(length: number, seed: number): Uint8Array {
  const words = ['backup', 'restore', 'chunk', 'pack', 'index', 'manifest', 'zstd', 'frame', String(seed)];
  let s = '';
  for (let i = 0; s.length < length; i++) s += words[(i * 7 + seed) % words.length] + (i % 11 === 0 ? '\n' : ' ');
  return utf8(s.slice(0, length));
}

const inputs: [string, Uint8Array][] = [
  ['empty', new Uint8Array(0)],
  ['one byte', new Uint8Array([42])],
  ['4 KiB of text', text(4096, 1)],
  ['100 KiB of text', text(100 << 10, 2)],
  ['1 MiB of random bytes', pseudoRandomBytes(1 << 20, 3)],
  ['3 MiB of text', text(3 << 20, 4)],
];

function oneShot(data: Uint8Array, level: number): Uint8Array {
  return new Uint8Array(zlib.zstdCompressSync(data, { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } }));
}

test('native zstd is there with a kept context on Node 24', () => {
  if (RUNTIME === 'node') {
    assert.ok(native, 'Node 24 has zstd in node:zlib');
    assert.ok(native.reusesContext, 'the native handle is reachable: without it every chunk pays for a new context');
  }
  assert.is(native !== undefined, typeof zlib.zstdCompressSync === 'function');
});

test('a kept context gives a fresh one\'s frames, level after level, and both builds read them', () => {
  if (native === undefined) return assert.is(RUNTIME, 'deno', 'only Deno may lack node:zlib zstd');
  // Interleaved levels and sizes: nothing of one frame may leak into the next.
  for (const level of [3, 1, 19, 3]) {
    for (const [label, data] of inputs) {
      const frame = native.compress(data, level);
      assert.equal(frame, nativeZstd()!.compress(data, level), `${label}, level ${level}`);
      // The one-shot API streams through 16 KiB of output at a time, which may cut blocks
      // elsewhere in a frame longer than the window; shorter ones come out the same.
      if (data.length <= 1 << 20) assert.equal(frame, oneShot(data, level), `same as one-shot: ${label}, level ${level}`);
      assert.is(frame.byteOffset, 0);
      assert.is(frame.byteLength, frame.buffer.byteLength, 'a buffer of its own, safe to transfer');
      assert.equal(wasm.decompress(frame, data.length), data, `WASM reads native: ${label}`);
      assert.equal(native.decompress(frame, data.length), data, `native reads native: ${label}`);
      if (data.length > 0) assert.equal(native.decompress(wasm.compress(data, level), data.length), data, `native reads WASM: ${label}`);
    }
  }
});

test('a frame of the wrong length, a truncated or padded frame and garbage are refused, and the next frame decodes', () => {
  if (native === undefined) return assert.is(RUNTIME, 'deno', 'only Deno may lack node:zlib zstd');
  const data = text(50_000, 5);
  const frame = native.compress(data, 3);
  const padded = new Uint8Array(frame.length + 4);
  padded.set(frame);
  padded.set([1, 2, 3, 4], frame.length);
  const bad: [string, Uint8Array, number, RegExp][] = [
    ['expected one byte fewer', frame, data.length - 1, /holds more than 49999 bytes/],
    ['expected one byte more', frame, data.length + 1, /decoded to 50000 bytes, expected 50001/],
    ['truncated', frame.subarray(0, frame.length - 20), data.length, /expected 50000 bytes/],
    ['padded', padded, data.length, /has bytes after its end/],
    ['garbage', utf8('this is not a zstd frame at all'), 10, /zstd frame/],
  ];
  for (const [label, input, rawLength, message] of bad) {
    if (label === 'padded' && !native.reusesContext) {
      // The one-shot call (Deno) reads the frame and ignores what follows it: the bytes must be right.
      assert.equal(native.decompress(input, rawLength), data, label);
    } else {
      assert.throws(() => native.decompress(input, rawLength), message, label);
    }
    assert.equal(native.decompress(frame, data.length), data, `after: ${label}`);
  }
});

/** A frame with a content checksum, built by hand where the cut must fall on a block boundary. */
function frameParts(data: Uint8Array): { checksummed: Uint8Array; header: Uint8Array; lastBlockMissing: Uint8Array } {
  const checksummed = new Uint8Array(zlib.zstdCompressSync(data, { params: { [zlib.constants.ZSTD_c_checksumFlag]: 1 } }));
  // Magic, a descriptor with a one-byte content size, then a raw block that is not the last.
  const header = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x20, data.length]);
  const block = (data.length << 3) | 0; // raw, not last
  const lastBlockMissing = new Uint8Array([...header, block & 255, (block >> 8) & 255, (block >> 16) & 255, ...data]);
  return { checksummed, header, lastBlockMissing };
}

test('a frame cut short after all of its content is refused (Node), and never spoils the next frame', () => {
  if (native === undefined) return assert.is(RUNTIME, 'deno', 'only Deno may lack node:zlib zstd');
  const data = text(20_000, 6);
  const good = native.compress(data, 3);
  const small = utf8('0123456789');
  const { checksummed } = frameParts(data);
  const { header, lastBlockMissing } = frameParts(small);
  const cut: [string, Uint8Array, number, Uint8Array][] = [
    ['checksum missing', checksummed.subarray(0, checksummed.length - 4), data.length, data],
    ['checksum half there', checksummed.subarray(0, checksummed.length - 2), data.length, data],
    ['last block header missing', lastBlockMissing, small.length, small],
    ['magic only, nothing expected', header.subarray(0, 4), 0, new Uint8Array(0)],
    ['header only, nothing expected', header, 0, new Uint8Array(0)],
  ];
  for (const [label, frame, rawLength, content] of cut) {
    // node:zlib sees the missing end; Deno's does not, and hands over the content it did decode.
    if (RUNTIME === 'node') assert.throws(() => native.decompress(frame, rawLength), /unexpected end of file/, label);
    else {
      try {
        assert.equal(native.decompress(frame, rawLength), content, label);
      } catch (error) {
        assert.match(String(error), /zstd frame/, label);
      }
    }
    // The bytes after the cut must not be taken for the rest of the cut frame.
    assert.equal(native.decompress(good, data.length), data, `after: ${label}`);
    assert.equal(native.decompress(checksummed, data.length), data, `a checksummed frame after: ${label}`);
  }
});


test('a frame read in pieces gives its exact content; more, fewer, cut short, or bytes after it are refused', () => {
  if (native?.decompressPieces === undefined) return assert.is(RUNTIME, 'deno', 'only Deno lacks a streaming zstd');
  const read = (frame: Uint8Array, rawLength: number): Uint8Array => {
    const parts: Uint8Array[] = [];
    for (const piece of native.decompressPieces!(frame, rawLength)) parts.push(piece.slice());
    return joinBytes(parts);
  };
  for (const length of [0, 1, 1000, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 << 20]) {
    const data = text(length, 9);
    const frame = wasm.compress(data, 3);
    assert.equal(read(frame, length), data, `${length} bytes`);
    const refusals: [string, Uint8Array, number][] = [
      ['one byte more than expected', frame, length - 1],
      ['one byte fewer than expected', frame, length + 1],
      ['cut short', frame.subarray(0, frame.length - 3), length],
      ['a byte after its end', joinBytes([frame, new Uint8Array([7])]), length],
      ['two frames', joinBytes([frame, frame]), length],
    ];
    for (const [label, bad, expected] of refusals) {
      if (expected < 0) continue;
      assert.throws(() => read(bad, expected), /zstd frame|unexpected end/, `${length} bytes, ${label}`);
    }
  }
});

test('a document larger than any chunk (a manifest) is compressed without growing the kept scratch, and the chunks after it are unchanged', () => {
  if (native === undefined) return assert.is(RUNTIME, 'deno', 'only Deno may lack node:zlib zstd');
  const small = text(100 << 10, 8);
  const before = native.compress(small, 3);
  const kept = native.keptBytes;
  assert.ok(native.reusesContext ? kept > small.length : kept === 0, `${kept} bytes kept`);
  const large = text(12 << 20, 7);
  const frame = native.compress(large, 3);
  assert.is(native.keptBytes, kept, 'the scratch is not grown for a 12 MiB document');
  assert.ok(native.keptBytes <= KEPT_SCRATCH_BYTES);
  assert.is(frame.byteLength, frame.buffer.byteLength, 'a buffer of exactly the frame');
  assert.ok(frame.length < large.length / 4, 'text compresses');
  assert.equal(wasm.decompress(frame, large.length), large);
  assert.equal(native.decompress(frame, large.length), large);
  assert.equal(native.compress(small, 3), before);
});

test('a borrowed frame is the same bytes, valid until the next call; compress() always gives a buffer of its own', () => {
  if (native === undefined) return assert.is(RUNTIME, 'deno', 'only Deno may lack node:zlib zstd');
  const a = text(300 << 10, 11);
  const b = text(200 << 10, 12);
  const own = native.compress(a, 3);
  assert.is(own.byteLength, own.buffer.byteLength, 'compress: a buffer of exactly the frame');
  const borrowed = native.compressBorrowed(a, 3);
  assert.equal(borrowed, own);
  assert.equal(native.decompress(borrowed, a.length), a);
  const copy = borrowed.slice();
  const next = native.compressBorrowed(b, 3);
  if (native.reusesContext) {
    assert.is(next.buffer, borrowed.buffer, 'the same scratch memory');
    assert.not.equal(borrowed, copy, 'the earlier view now holds the next frame');
  }
  assert.equal(native.decompress(next.slice(), b.length), b);
  // Owned frames are not overwritten by later calls.
  const ownB = native.compress(b, 3);
  native.compressBorrowed(a, 3);
  assert.equal(native.decompress(ownB, b.length), b);
  assert.equal(own, copy);
});

test.run();
