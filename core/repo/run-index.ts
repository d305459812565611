/**
 * The run index (FORMAT.md §8): where each chunk written by one run lives.
 * Stored at `index/<run id>` as a STREAM object (kind index, object id = run id) under the
 * run's DEK; plaintext (before zstd):
 *
 *   u32be packCount, packCount × 32-byte pack id
 *   u32be entryCount, entryCount × entry
 *   entry = chunk id (32) ‖ u32be pack number ‖ u32be offset ‖ u32be blob length ‖ u32be raw length ‖ u8 codec
 */
import { BunkerError } from '../errors.ts';
import { fromHex, readU32be, toHex } from '../format/bytes.ts';
import { CHUNK_ID_BYTES } from '../chunk-id.ts';
import type { ChunkCodec } from './pack.ts';
import type { ChunkIndex } from './chunk-index.ts';

export type { IndexEntry } from './chunk-index.ts';

/** chunk id ‖ pack number ‖ offset ‖ length ‖ raw length ‖ codec (FORMAT.md §8). */
export const INDEX_ENTRY_BYTES = CHUNK_ID_BYTES + 17;

/** index/<run id> (FORMAT.md §2.1). */
export function indexKey(runId: string): string {
  return `index/${runId}`;
}

export function encodeRunIndex(entries: ChunkIndex): Uint8Array {
  // Pack numbers in order of first use by the entries (§8), whatever order the index holds them in.
  const packNumbers = new Map<string, number>();
  entries.forEachRaw((_ids, _at, packId) => {
    if (!packNumbers.has(packId)) packNumbers.set(packId, packNumbers.size);
  });
  const out = new Uint8Array(4 + packNumbers.size * 32 + 4 + entries.size * INDEX_ENTRY_BYTES);
  const view = new DataView(out.buffer);
  let offset = 0;
  view.setUint32(offset, packNumbers.size);
  offset += 4;
  for (const packId of packNumbers.keys()) {
    out.set(fromHex(packId), offset);
    offset += 32;
  }
  view.setUint32(offset, entries.size);
  offset += 4;
  entries.forEachRaw((ids, at, packId, blobOffset, length, rawLength, codec) => {
    out.set(ids.subarray(at, at + CHUNK_ID_BYTES), offset);
    view.setUint32(offset + 32, packNumbers.get(packId)!);
    view.setUint32(offset + 36, blobOffset);
    view.setUint32(offset + 40, length);
    view.setUint32(offset + 44, rawLength);
    out[offset + 48] = codec;
    offset += INDEX_ENTRY_BYTES;
  });
  return out;
}

/** Adds the run index's entries to `into` (a later entry for an id replaces an earlier one). */
export function parseRunIndex(bytes: Uint8Array, runId: string, into: ChunkIndex): void {
  const damaged = (): never => {
    throw new BunkerError('TAMPERED', `${indexKey(runId)} is malformed`, { object: indexKey(runId) });
  };
  if (bytes.length < 8) damaged();
  const packCount = readU32be(bytes, 0);
  let offset = 4;
  if (bytes.length < offset + packCount * 32 + 4) damaged();
  const packs: number[] = [];
  for (let i = 0; i < packCount; i++, offset += 32) packs.push(into.packNumber(toHex(bytes.subarray(offset, offset + 32))));
  const entryCount = readU32be(bytes, offset);
  offset += 4;
  if (bytes.length !== offset + entryCount * INDEX_ENTRY_BYTES) damaged();
  // Checked whole before any entry is added: a malformed index adds no entry to `into`.
  for (let i = 0, at = offset; i < entryCount; i++, at += INDEX_ENTRY_BYTES) {
    const codec = bytes[at + 48];
    if (readU32be(bytes, at + 32) >= packCount || (codec !== 0 && codec !== 1)) damaged();
  }
  const run = into.runNumber(runId);
  into.reserve(entryCount);
  for (let i = 0; i < entryCount; i++, offset += INDEX_ENTRY_BYTES) {
    into.put(bytes, offset, packs[readU32be(bytes, offset + 32)]!, readU32be(bytes, offset + 36), readU32be(bytes, offset + 40), readU32be(bytes, offset + 44), bytes[offset + 48] as ChunkCodec, run);
  }
}
