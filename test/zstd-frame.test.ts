/**
 * declareContentSize (core/format/zstd-frame.ts): the header a streamed metadata frame gets
 * (FORMAT.md §4.3), and the frames it refuses to touch.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { declareContentSize } from '../core/format/zstd-frame.ts';
import { utf8 } from '../core/format/bytes.ts';
import { ZstdCodec } from '../wasm/mod.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';

await loadWasmFromPackages();
const wasm = new ZstdCodec();

const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const TEXT = utf8('{"version":1}\n');
/** A raw, last block holding TEXT (RFC 8878 §3.1.1.2). */
const block = (() => {
  const header = (TEXT.length << 3) | 1;
  return Uint8Array.from([header & 0xff, (header >>> 8) & 0xff, header >>> 16, ...TEXT]);
})();
/** The form zstd streams a frame in: descriptor 0x00, a window descriptor (here 2^10), no size. */
const streamed = (descriptor = 0x00) => Uint8Array.from([...MAGIC, descriptor, 0x00, ...block]);

test('a streamed frame, in pieces cut anywhere, gets descriptor 0x80 and a u32le size; its blocks are unchanged', () => {
  const frame = streamed();
  const expected = Uint8Array.from([...MAGIC, 0x80, 0x00, TEXT.length, 0, 0, 0, ...block]);
  for (let a = 0; a <= frame.length; a++) {
    for (let b = a; b <= frame.length; b++) {
      const out = declareContentSize([frame.subarray(0, a), frame.subarray(a, b), frame.subarray(b)], TEXT.length);
      assert.equal(out, expected, `cut at ${a} and ${b}`);
    }
  }
  assert.equal(wasm.decompress(expected, TEXT.length), TEXT);
});

test('a size takes all four bytes, little-endian', () => {
  const out = declareContentSize([streamed()], 0x12345678);
  assert.equal([...out.subarray(6, 10)], [0x78, 0x56, 0x34, 0x12]);
  assert.equal([...declareContentSize([streamed()], 0xffffffff).subarray(6, 10)], [0xff, 0xff, 0xff, 0xff]);
});

test('a frame zstd did not stream in that form is an internal error, not a rewritten header', () => {
  const refused: [string, Uint8Array[], number, RegExp][] = [
    ['not a frame', [utf8('{"version":1}\n')], 14, /not a zstd frame/],
    ['cut inside the header', [streamed().subarray(0, 5)], 14, /not a zstd frame/],
    ['empty', [], 0, /not a zstd frame/],
    ['a checksum', [streamed(0x04)], 14, /unexpected zstd frame header 4/],
    ['a dictionary id', [streamed(0x01)], 14, /unexpected zstd frame header 1/],
    ['single segment', [streamed(0x20)], 14, /unexpected zstd frame header 20/],
    ['a content size already', [streamed(0x40)], 14, /unexpected zstd frame header 40/],
    ['the unused bit', [streamed(0x10)], 14, /unexpected zstd frame header 10/],
    ['a negative size', [streamed()], -1, /out of range/],
    ['a size past 32 bits', [streamed()], 2 ** 32, /out of range/],
    ['a fractional size', [streamed()], 1.5, /out of range/],
  ];
  for (const [label, pieces, size, message] of refused) {
    assert.throws(() => declareContentSize(pieces, size), (error: Error) => /^internal error: /.test(error.message) && message.test(error.message), label);
  }
});

test.run();
