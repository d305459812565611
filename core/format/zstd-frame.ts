/**
 * A streamed zstd frame made to declare its content size (RFC 8878 §3.1.1.1).
 *
 * FORMAT.md §4.3 wants every metadata frame to declare Frame_Content_Size, which a streaming
 * compressor can only write when it knows the size before the first byte. A manifest written
 * as the backup goes has no size until the end, so its frame is streamed without one and the
 * header is rewritten then: the blocks after the header do not depend on it, and a header
 * with a window descriptor may also carry a content size field.
 */
import { joinBytes } from './bytes.ts';

const MAGIC = [0x28, 0xb5, 0x2f, 0xfd] as const;
/** Magic, frame header descriptor, window descriptor. */
const STREAMED_HEADER_BYTES = 6;

/**
 * The frame `pieces` (in order) as one buffer whose header declares `size` in a 4-byte field.
 * The frame must be one that zstd streamed without a size, a checksum or a dictionary;
 * anything else is an internal error.
 */
export function declareContentSize(pieces: readonly Uint8Array[], size: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0 || size > 0xffffffff) throw new Error(`internal error: zstd content size ${size} out of range`);
  // The frame goes 4 bytes to the right; its header is then rewritten in place, with the size.
  const out = joinBytes([new Uint8Array(4), ...pieces]);
  const header = out.subarray(4, 4 + STREAMED_HEADER_BYTES);
  if (out.length - 4 < STREAMED_HEADER_BYTES || MAGIC.some((byte, i) => header[i] !== byte)) throw new Error('internal error: not a zstd frame');
  const descriptor = header[4]!;
  // No content size (flag 0, not single-segment), no checksum, no dictionary id: descriptor 0x00,
  // which becomes 0x80 (FORMAT.md §4.3).
  if (descriptor !== 0) throw new Error(`internal error: unexpected zstd frame header ${descriptor.toString(16)}`);
  const windowDescriptor = header[5]!;
  out.set(MAGIC, 0);
  out[4] = 2 << 6; // Frame_Content_Size_flag 2: a 4-byte field
  out[5] = windowDescriptor;
  out[6] = size & 0xff;
  out[7] = (size >>> 8) & 0xff;
  out[8] = (size >>> 16) & 0xff;
  out[9] = size >>> 24;
  return out;
}
