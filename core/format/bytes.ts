/** Byte-level helpers for the formats in docs/FORMAT.md (big-endian throughout, §1). */

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return textEncoder.encode(text);
}

/** Strict UTF-8 decode: invalid sequences throw instead of becoming U+FFFD. */
export function fromUtf8(bytes: Uint8Array): string {
  return textDecoder.decode(bytes);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return joinBytes(parts);
}

/** concatBytes for a list too long to spread into arguments (a line cut into many pieces). */
export function joinBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Byte value → its two lowercase hex digits as UTF-16 code units. */
const HEX_CODES = new Uint16Array(512);
for (let i = 0; i < 256; i++) {
  const digits = i.toString(16).padStart(2, '0');
  HEX_CODES[2 * i] = digits.charCodeAt(0);
  HEX_CODES[2 * i + 1] = digits.charCodeAt(1);
}
/** Hex digits made into one string per call (String.fromCharCode takes them as arguments). */
const HEX_PIECE_BYTES = 4096;
const hexScratch = new Uint16Array(2 * HEX_PIECE_BYTES);
const nativeToHex = (Uint8Array.prototype as { toHex?: (this: Uint8Array) => string }).toHex;

/**
 * Lowercase hex. Built from char codes in one call, not by `+=`: appending gives a rope of a
 * node per byte pair, ~0.9 KiB per 32-byte id until the engine flattens it, and restore turns
 * every chunk id of a point into hex.
 */
export function toHex(bytes: Uint8Array): string {
  // The built-in where the runtime has it (Deno 2 does; Node 24 does not yet).
  if (nativeToHex !== undefined) return nativeToHex.call(bytes);
  let out = '';
  for (let start = 0; start < bytes.length; start += HEX_PIECE_BYTES) {
    const end = Math.min(bytes.length, start + HEX_PIECE_BYTES);
    for (let i = start, o = 0; i < end; i++, o += 2) {
      const b = bytes[i]! << 1;
      hexScratch[o] = HEX_CODES[b]!;
      hexScratch[o + 1] = HEX_CODES[b + 1]!;
    }
    const piece = String.fromCharCode.apply(null, hexScratch.subarray(0, 2 * (end - start)) as unknown as number[]);
    out = start === 0 ? piece : out + piece;
  }
  return out;
}

/** Lowercase hex digit → value; -1 for anything else (ids are parsed by the ten thousand). */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;

/** True when `value` is exactly `digits` lowercase hex digits (checked per id by the ten thousand: no regex). */
export function isLowerHex(value: unknown, digits: number): value is string {
  if (typeof value !== 'string' || value.length !== digits) return false;
  for (let i = 0; i < digits; i++) if ((HEX_VALUE[value.charCodeAt(i)] ?? -1) < 0) return false;
  return true;
}

/**
 * Decodes `count` bytes of lowercase hex into out[offset, offset + count) in one pass; false when
 * `hex` is anything else (`out` may then be partly written). For lookups by id, where a string
 * that is not an id is simply not found.
 */
export function decodeHexInto(hex: string, out: Uint8Array, offset: number, count: number): boolean {
  if (hex.length !== 2 * count) return false;
  for (let i = 0, o = offset; i < hex.length; i += 2, o++) {
    const hi = HEX_VALUE[hex.charCodeAt(i)] ?? -1;
    const lo = HEX_VALUE[hex.charCodeAt(i + 1)] ?? -1;
    if ((hi | lo) < 0) return false;
    out[o] = (hi << 4) | lo;
  }
  return true;
}

/** Decodes lowercase hex into out[offset, offset + hex.length / 2). */
export function fromHexInto(hex: string, out: Uint8Array, offset: number): void {
  if (hex.length % 2 !== 0 || offset + hex.length / 2 > out.length) throw new TypeError('expected lowercase hex');
  for (let i = 0, o = offset; i < hex.length; i += 2, o++) {
    const hi = HEX_VALUE[hex.charCodeAt(i) & 0xffff] ?? -1;
    const lo = HEX_VALUE[hex.charCodeAt(i + 1) & 0xffff] ?? -1;
    if ((hi | lo) < 0) throw new TypeError('expected lowercase hex');
    out[o] = (hi << 4) | lo;
  }
}

export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  fromHexInto(hex, out, 0);
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function u16be(value: number): Uint8Array {
  const out = new Uint8Array(2);
  new DataView(out.buffer).setUint16(0, value);
  return out;
}

export function u32be(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

export function u64be(value: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value));
  return out;
}

export function readU16be(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint16(offset);
}

/** Big-endian u32 at `offset`; RangeError past the end (as DataView), without a DataView per call. */
export function readU32be(bytes: Uint8Array, offset: number): number {
  if (!(Number.isInteger(offset) && offset >= 0 && offset + 4 <= bytes.length)) throw new RangeError('offset is outside the bounds of the buffer');
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

export function readU64be(bytes: Uint8Array, offset: number): number {
  const value = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('u64 out of safe range');
  return Number(value);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Constant-time comparison for secrets (verifiers, tokens): no early exit on the first difference. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/**
 * Frees the memory of a buffer that is no longer needed now, not at the next collection, when
 * `bytes` is a view of all of it (a view of part of a buffer may share it, and is left alone).
 * Chunk buffers come and go faster than the collector notices: this keeps memory flat.
 * The buffer is detached: nothing may use it afterwards.
 */
export function discard(bytes: Uint8Array): void {
  const buffer = bytes.buffer;
  if (!(buffer instanceof ArrayBuffer) || typeof buffer.transfer !== 'function') return; // ES2024; older runtimes wait for the collector
  if (bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength && !buffer.detached) buffer.transfer(0);
}

export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  // getRandomValues is limited to 65536 bytes per call.
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  return out;
}

/** Random object id: 32 bytes, lowercase hex (FORMAT.md §2). */
export function randomId(): string {
  return toHex(randomBytes(32));
}
