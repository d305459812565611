/**
 * Chunked authenticated STREAM for large objects (manifest, FSI, index, bundle): FORMAT.md §4.3.
 *
 *   header   16 bytes: magic "BNKS" | version u8 | kind u8 | cipher u8 | codec u8 | nonce prefix 7 | reserved u8 (0)
 *   segments each SEGMENT_BYTES of plaintext sealed (+16-byte tag); the last may be shorter
 *   nonce    prefix(7) ‖ segment counter u32be ‖ last-flag u8 (0x01 on the final segment, else 0x00)
 *   aad      identity (kind label, object id) ‖ header
 *
 * A stream that ends without a final segment, or has bytes after it, fails authentication.
 */
import { BunkerError } from '../errors.ts';
import { concatBytes, discard, randomBytes, u32be, utf8 } from '../format/bytes.ts';
import { type ObjectCipher, TAG_BYTES } from './cipher.ts';

// FORMAT.md §4.3: header and segment constants.
export const STREAM_MAGIC = utf8('BNKS');
export const STREAM_VERSION = 1;
export const STREAM_HEADER_BYTES = 16;
export const SEGMENT_BYTES = 64 * 1024;
export const LAST_SEGMENT_FLAG = 0x01;
/** The first byte of every stream nonce prefix is 0x01, keeping stream nonces apart from chunk nonces (0x00…). FORMAT.md §4.2 */
export const STREAM_NONCE_DOMAIN = 0x01;

/** Object kinds, never reused (FORMAT.md §4.3). */
export const StreamKind = Object.freeze({ manifest: 1, fsi: 2, index: 3, bundle: 4 } as const);
export type StreamKindName = keyof typeof StreamKind;

/** Codec of the plaintext inside the stream: 0 = raw, 1 = zstd frame (FORMAT.md §4.3, ids never reused: §11). */
export type StreamCodec = 0 | 1;

/** FORMAT.md §4.3: "bunker/<kind>" ‖ 0x00 ‖ object id ‖ 0x00 ‖ header. */
export function streamAad(kind: StreamKindName, objectId: string, header: Uint8Array): Uint8Array {
  return concatBytes(utf8(`bunker/${kind}`), new Uint8Array([0]), utf8(objectId), new Uint8Array([0]), header);
}

/** FORMAT.md §4.3: prefix (7) ‖ u32be segment index ‖ last-flag. */
function segmentNonce(prefix: Uint8Array, counter: number, isFinal: boolean): Uint8Array {
  const nonce = new Uint8Array(12);
  nonce.set(prefix, 0);
  nonce.set(u32be(counter), 7);
  nonce[11] = isFinal ? LAST_SEGMENT_FLAG : 0;
  return nonce;
}

/** Segments sealed at once: WebCrypto runs them in parallel. */
const SEGMENTS_AT_ONCE = 16;

/**
 * Seals `plaintext` as a STREAM object. Each window of segments is copied into the one output
 * and let go, so an object costs its plaintext and its stream, not a third copy in pieces.
 */
export async function sealStream(
  cipher: ObjectCipher,
  kind: StreamKindName,
  objectId: string,
  plaintext: Uint8Array,
  codec: StreamCodec,
  noncePrefix: Uint8Array = randomNoncePrefix(),
): Promise<Uint8Array> {
  const count = Math.max(1, Math.ceil(plaintext.length / SEGMENT_BYTES));
  const out = new Uint8Array(STREAM_HEADER_BYTES + plaintext.length + count * TAG_BYTES);
  const header = out.subarray(0, STREAM_HEADER_BYTES);
  header.set(STREAM_MAGIC, 0);
  header[4] = STREAM_VERSION;
  header[5] = StreamKind[kind];
  header[6] = cipher.id;
  header[7] = codec;
  header.set(noncePrefix, 8);
  const aad = streamAad(kind, objectId, header);
  let offset = STREAM_HEADER_BYTES;
  for (let first = 0; first < count; first += SEGMENTS_AT_ONCE) {
    const window = Array.from({ length: Math.min(SEGMENTS_AT_ONCE, count - first) }, (_, k) => {
      const i = first + k;
      return cipher.seal(segmentNonce(noncePrefix, i, i === count - 1), aad, plaintext.subarray(i * SEGMENT_BYTES, (i + 1) * SEGMENT_BYTES));
    });
    for (const segment of await Promise.all(window)) {
      out.set(segment, offset);
      offset += segment.length;
      discard(segment);
    }
  }
  if (offset !== out.length) throw new Error('internal error: a sealed segment is not its plaintext plus one tag');
  return out;
}

export function randomNoncePrefix(): Uint8Array {
  const prefix = randomBytes(7);
  prefix[0] = STREAM_NONCE_DOMAIN;
  return prefix;
}

export interface StreamHeader {
  readonly kind: StreamKindName;
  readonly cipherId: number;
  readonly codec: StreamCodec;
}

/** Parses the 16-byte header; throws TAMPERED (naming `objectName`) or UNSUPPORTED_VERSION. */
export function parseStreamHeader(bytes: Uint8Array, objectName: string): StreamHeader {
  if (bytes.length < STREAM_HEADER_BYTES + TAG_BYTES) {
    throw new BunkerError('TAMPERED', `${objectName} is truncated`, { object: objectName });
  }
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== STREAM_MAGIC[i]) throw new BunkerError('TAMPERED', `${objectName} is not a bunker object (bad magic)`, { object: objectName });
  }
  // The header is authenticated only later (as AAD), so a version byte is not trusted yet: a
  // version below ours was never written and is damage; one above may be a newer bunker's.
  if (bytes[4]! < STREAM_VERSION) throw new BunkerError('TAMPERED', `${objectName} has an invalid header`, { object: objectName });
  if (bytes[4] !== STREAM_VERSION) {
    throw new BunkerError('UNSUPPORTED_VERSION', `${objectName} has stream format version ${bytes[4]}; this bunker reads version ${STREAM_VERSION}. Upgrade bunker.`, { object: objectName });
  }
  const kindEntry = Object.entries(StreamKind).find(([, id]) => id === bytes[5]);
  const codec = bytes[7];
  if (kindEntry === undefined || (codec !== 0 && codec !== 1) || bytes[15] !== 0) {
    throw new BunkerError('TAMPERED', `${objectName} has an invalid header`, { object: objectName });
  }
  return { kind: kindEntry[0] as StreamKindName, cipherId: bytes[6]!, codec };
}

/**
 * Opens a STREAM object whole. Any authentication failure, truncation, reordering or trailing
 * data is TAMPERED naming `objectName`; the message is deliberately the same for all of them.
 */
export async function openStream(
  cipher: ObjectCipher,
  kind: StreamKindName,
  objectId: string,
  bytes: Uint8Array,
  objectName: string,
): Promise<{ plaintext: Uint8Array; codec: StreamCodec }> {
  const header = parseStreamHeader(bytes, objectName);
  const fail = (): never => {
    throw new BunkerError('TAMPERED', `${objectName} failed authentication (modified, truncated or misplaced)`, { object: objectName });
  };
  if (header.kind !== kind || header.cipherId !== cipher.id) fail();
  const headerBytes = bytes.subarray(0, STREAM_HEADER_BYTES);
  const prefix = bytes.subarray(8, 15);
  const aad = streamAad(kind, objectId, headerBytes);
  const body = bytes.subarray(STREAM_HEADER_BYTES);
  const full = SEGMENT_BYTES + TAG_BYTES;
  const count = Math.max(1, Math.ceil(body.length / full));
  const opened = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      cipher.open(segmentNonce(prefix, i, i === count - 1), aad, body.subarray(i * full, (i + 1) * full)),
    ),
  );
  const parts: Uint8Array[] = [];
  for (const part of opened) {
    if (part === undefined) fail();
    parts.push(part!);
  }
  // An empty final segment is only valid for an empty stream (as in age): otherwise a
  // writer could not have produced it and it signals splicing.
  if (count > 1 && parts[count - 1]!.length === 0) fail();
  return { plaintext: concatBytes(...parts), codec: header.codec };
}
