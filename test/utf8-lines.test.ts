/** utf8Lines: a document's lines decoded a block at a time, the same as decoding it whole. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { utf8Lines, utf8LinesOfPieces } from '../core/format/utf8-lines.ts';

const encoder = new TextEncoder();
class Invalid extends Error {}
const invalid = (): never => {
  throw new Invalid('not UTF-8');
};
const whole = (text: string): string[] => {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
};

test('lines across block boundaries, multi-byte characters at the boundary, a line longer than a block', () => {
  const lines: string[] = [];
  // ~3.5 MiB of lines of many lengths, with 2-, 3- and 4-byte characters throughout.
  for (let i = 0, length = 0; length < 3.5 * 2 ** 20; i++) {
    const line = `${i} ${'é€𝄞x'.repeat(i % 97)}`;
    lines.push(line);
    length += line.length + 1;
  }
  lines.push('z'.repeat(2.5 * 2 ** 20), '', 'after the long line', 'ü');
  const text = lines.join('\n') + '\n';
  assert.equal([...utf8Lines(encoder.encode(text), invalid)], whole(text));
  const unterminated = text + 'last, no newline';
  assert.equal([...utf8Lines(encoder.encode(unterminated), invalid)], whole(unterminated));
});

test('a line that ends exactly at a block boundary, and an empty document', () => {
  const first = 'a'.repeat(2 ** 20 - 1);
  const text = `${first}\nb\n`;
  assert.equal([...utf8Lines(encoder.encode(text), invalid)], [first, 'b']);
  assert.equal([...utf8Lines(new Uint8Array(0), invalid)], []);
});

test('bytes that are not UTF-8, in a later block, call onInvalid', () => {
  const bytes = encoder.encode('x'.repeat(3 * 2 ** 20) + '\n' + 'tail\n');
  bytes[bytes.length - 3] = 0xff;
  const seen: string[] = [];
  assert.throws(() => {
    for (const line of utf8Lines(bytes, invalid)) seen.push(line);
  }, (error: unknown) => error instanceof Invalid);
  assert.is(seen.length, 1, 'the lines before the bad block came out');
});

class Unterminated extends Error {}
const unterminated = (): never => {
  throw new Unterminated('no final newline');
};
/** `bytes` cut into pieces of `size`, handed out in one reused buffer as a streamed decoder does. */
function* reusedPieces(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  const buffer = new Uint8Array(size);
  for (let at = 0; at < bytes.length; at += size) {
    const piece = bytes.subarray(at, Math.min(bytes.length, at + size));
    buffer.fill(0xff); // what a reader kept from the last piece would now be garbage
    buffer.set(piece);
    yield buffer.subarray(0, piece.length);
  }
}

test('in pieces: the same lines whatever the cuts, lines and characters split between pieces, a line longer than many pieces', () => {
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) lines.push(`${i} ${'é€𝄞x'.repeat(i % 13)}`);
  lines.push('z'.repeat(300_000), '', 'ü');
  const text = lines.join('\n') + '\n';
  const bytes = encoder.encode(text);
  for (const size of [1, 2, 3, 5, 4096, 65_537, bytes.length, bytes.length + 1]) {
    assert.equal([...utf8LinesOfPieces(reusedPieces(bytes, size), invalid, unterminated)], whole(text), `pieces of ${size}`);
  }
  assert.equal([...utf8LinesOfPieces([], invalid, unterminated)], [], 'no pieces, no lines');
  const empty = new Uint8Array(0);
  assert.equal([...utf8LinesOfPieces([empty, encoder.encode('a\nb'), empty, encoder.encode('c\n'), empty], invalid, unterminated)], ['a', 'bc'], 'empty pieces anywhere');
});

test('in pieces: a document without its final newline calls onUnterminated after the lines before it; bad UTF-8 calls onInvalid', () => {
  const bytes = encoder.encode('one\ntwo\nthree, cut');
  for (const size of [1, 4, 8, bytes.length]) {
    const seen: string[] = [];
    assert.throws(() => {
      for (const line of utf8LinesOfPieces(reusedPieces(bytes, size), invalid, unterminated)) seen.push(line);
    }, (error: unknown) => error instanceof Unterminated, `pieces of ${size}`);
    assert.equal(seen, ['one', 'two'], `pieces of ${size}`);
  }
  const bad = encoder.encode('ok\nné\n');
  bad[5] = 0x41; // 'é' (c3 a9) loses its continuation byte: c3 41
  for (const size of [1, 2, 5, bad.length]) {
    assert.throws(() => [...utf8LinesOfPieces(reusedPieces(bad, size), invalid, unterminated)], (error: unknown) => error instanceof Invalid, `pieces of ${size}`);
  }
});

test.run();
