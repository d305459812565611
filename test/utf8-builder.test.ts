/** Utf8Builder: the bytes TextEncoder gives for the whole text, however it was appended. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Utf8Builder } from '../core/format/utf8-builder.ts';
import { utf8 } from '../core/format/bytes.ts';

test('appended pieces give the UTF-8 of their concatenation, across many growths', () => {
  const pieces: string[] = [];
  for (let i = 0; i < 5000; i++) pieces.push(i % 7 === 0 ? `é${i}\u{1F600}日本` : i % 11 === 0 ? '' : `line ${i} ${'x'.repeat(i % 300)}\n`);
  const builder = new Utf8Builder(16);
  for (const piece of pieces) builder.append(piece);
  const expected = utf8(pieces.join(''));
  assert.is(builder.length, expected.length);
  assert.equal(builder.finish(), expected);
});

test('an empty builder gives no bytes; one piece larger than the buffer fits', () => {
  assert.equal(new Utf8Builder(4).finish(), new Uint8Array(0));
  const big = '\u00ff'.repeat(100_000);
  const builder = new Utf8Builder(4);
  builder.append(big);
  assert.equal(builder.finish(), utf8(big));
});

test.run();
