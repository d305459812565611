/**
 * The metadata document envelope shared by the repository config and recovery points
 * (FORMAT.md §6.1):
 *
 *   magic      8 bytes ("BNKREPO1", "BNKPOINT")
 *   version    u16be
 *   flags      u16be   bit 0: a 32-byte MAC follows the checksum
 *   length     u32be   byte length of the body
 *   body       UTF-8 JSON object
 *   checksum   SHA-256 of every preceding byte
 *   mac        HMAC-SHA-256(point MAC key, every preceding byte), when flag bit 0 is set
 */
import { BunkerError } from '../errors.ts';
import { bytesEqual, concatBytes, fromUtf8, readU16be, readU32be, u16be, u32be, utf8 } from './bytes.ts';

// FORMAT.md §6.1: envelope sizes and flags.
export const DOCUMENT_PREFIX_BYTES = 16;
export const CHECKSUM_BYTES = 32;
export const MAC_BYTES = 32;
export const FLAG_HAS_MAC = 0x0001;
/** Bodies larger than this are refused before parsing (FORMAT.md §6.1). */
export const MAX_DOCUMENT_BODY_BYTES = 16 * 1024 * 1024;

export interface ParsedDocument {
  readonly version: number;
  readonly body: Record<string, unknown>;
  /** Every byte covered by the MAC (prefix, body, checksum). */
  readonly signedBytes: Uint8Array;
  readonly mac: Uint8Array | undefined;
}

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data as BufferSource));
}

export async function encodeDocument(magic: string, version: number, body: object, macKey?: CryptoKey): Promise<Uint8Array> {
  const magicBytes = utf8(magic);
  if (magicBytes.length !== 8) throw new Error('internal error: magic must be 8 bytes');
  const json = utf8(JSON.stringify(body));
  const prefix = concatBytes(magicBytes, u16be(version), u16be(macKey ? FLAG_HAS_MAC : 0), u32be(json.length));
  const signed = concatBytes(prefix, json, await sha256(concatBytes(prefix, json)));
  if (!macKey) return signed;
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', macKey, signed as BufferSource));
  return concatBytes(signed, mac);
}

/**
 * Parses and checksums a document. A damaged document is `damagedCode` (TAMPERED for
 * points: its checksum failed); a newer version is UNSUPPORTED_VERSION.
 */
export async function parseDocument(
  bytes: Uint8Array,
  magic: string,
  supportedVersion: number,
  objectName: string,
): Promise<ParsedDocument> {
  const damaged = (why: string): never => {
    throw new BunkerError('TAMPERED', `${objectName} is damaged (${why})`, { object: objectName });
  };
  if (bytes.length < DOCUMENT_PREFIX_BYTES + CHECKSUM_BYTES) damaged('truncated');
  if (!bytesEqual(bytes.subarray(0, 8), utf8(magic))) damaged('bad magic');
  const version = readU16be(bytes, 8);
  const flags = readU16be(bytes, 10);
  const length = readU32be(bytes, 12);
  if (length > MAX_DOCUMENT_BODY_BYTES) damaged('body too large');
  const macBytes = flags & FLAG_HAS_MAC ? MAC_BYTES : 0;
  const signedLength = DOCUMENT_PREFIX_BYTES + length + CHECKSUM_BYTES;
  if (bytes.length !== signedLength + macBytes) damaged(bytes.length < signedLength + macBytes ? 'truncated' : 'trailing data');
  const checksum = await sha256(bytes.subarray(0, DOCUMENT_PREFIX_BYTES + length));
  if (!bytesEqual(checksum, bytes.subarray(DOCUMENT_PREFIX_BYTES + length, signedLength))) damaged('checksum mismatch');
  // Only now, with an intact checksum, is a version number trustworthy enough to report.
  if (version > supportedVersion) {
    throw new BunkerError(
      'UNSUPPORTED_VERSION',
      `${objectName} was written by a newer bunker (format version ${version}; this bunker reads up to ${supportedVersion}). Upgrade bunker to read it.`,
      { object: objectName },
    );
  }
  if (version < 1 || (flags & ~FLAG_HAS_MAC) !== 0) damaged('invalid header');
  let body: unknown;
  try {
    body = JSON.parse(fromUtf8(bytes.subarray(DOCUMENT_PREFIX_BYTES, DOCUMENT_PREFIX_BYTES + length)));
  } catch {
    damaged('body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) damaged('body is not an object');
  return {
    version,
    body: body as Record<string, unknown>,
    signedBytes: bytes.subarray(0, signedLength),
    mac: macBytes ? bytes.subarray(signedLength) : undefined,
  };
}

export async function verifyDocumentMac(doc: ParsedDocument, macKey: CryptoKey): Promise<boolean> {
  if (!doc.mac) return false;
  return crypto.subtle.verify('HMAC', macKey, doc.mac as BufferSource, doc.signedBytes as BufferSource);
}
