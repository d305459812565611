/** utf8Lines: a document's lines decoded a block at a time, the same as decoding it whole. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { utf8Lines } from '../core/format/utf8-lines.ts';

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

test.run();
