/**
 * The lines of a newline-terminated UTF-8 document, decoded a block at a time. A manifest of
 * 150k files is ~40 MB: decoded whole, it was one 40 MB string on top of its bytes while
 * parsed. Blocks end at a newline, which in UTF-8 is never part of a longer character.
 */
import { joinBytes } from './bytes.ts';

const BLOCK_BYTES = 1 << 20;
const NEWLINE = 0x0a;

/** Throws `onInvalid()`'s error where the bytes are not UTF-8; the last line ends with '\n'. */
export function* utf8Lines(bytes: Uint8Array, onInvalid: () => never): Generator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  for (let start = 0; start < bytes.length;) {
    let end = bytes.lastIndexOf(NEWLINE, Math.min(bytes.length, start + BLOCK_BYTES) - 1) + 1;
    // A line longer than a block: the block runs to that line's end.
    if (end <= start) end = bytes.indexOf(NEWLINE, start + BLOCK_BYTES) + 1 || bytes.length;
    let text: string;
    try {
      text = decoder.decode(bytes.subarray(start, end));
    } catch {
      return onInvalid();
    }
    for (let lineStart = 0; lineStart < text.length;) {
      const lineEnd = text.indexOf('\n', lineStart);
      if (lineEnd === -1) {
        yield text.slice(lineStart);
        break;
      }
      yield text.slice(lineStart, lineEnd);
      lineStart = lineEnd + 1;
    }
    start = end;
  }
}

/**
 * The same lines from a document that arrives in pieces (each valid only until the next is
 * taken, as a streamed decompression gives them). A line cut between pieces is carried over;
 * a document that does not end in a newline throws `onUnterminated()`'s error before its last line.
 */
export function* utf8LinesOfPieces(pieces: Iterable<Uint8Array>, onInvalid: () => never, onUnterminated: () => never): Generator<string> {
  // Copies of what follows the last newline so far: a line longer than a piece is joined once, at its end.
  let carry: Uint8Array[] = [];
  for (const piece of pieces) {
    const cut = piece.lastIndexOf(NEWLINE) + 1;
    if (cut === 0) {
      if (piece.length > 0) carry.push(piece.slice());
      continue;
    }
    if (carry.length === 0) yield* utf8Lines(piece.subarray(0, cut), onInvalid);
    else {
      carry.push(piece.subarray(0, cut));
      yield* utf8Lines(joinBytes(carry), onInvalid);
    }
    carry = cut < piece.length ? [piece.slice(cut)] : [];
  }
  if (carry.length > 0) onUnterminated();
}
