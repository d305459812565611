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

/** chunk id ‖ pack number ‖ offset ‖ length ‖ raw length ‖ codec (FORMAT.md §8). */
export const INDEX_ENTRY_BYTES = CHUNK_ID_BYTES + 17;

export interface IndexEntry {
  readonly packId: string;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
  readonly codec: ChunkCodec;
  /** The run whose DEK sealed the blob. */
  readonly runId: string;
}

/** index/<run id> (FORMAT.md §2.1). */
export function indexKey(runId: string): string {
  return `index/${runId}`;
}

export function encodeRunIndex(entries: ReadonlyMap<string, IndexEntry>): Uint8Array {
  const packNumbers = new Map<string, number>();
  for (const entry of entries.values()) if (!packNumbers.has(entry.packId)) packNumbers.set(entry.packId, packNumbers.size);
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
  for (const [chunkId, entry] of entries) {
    out.set(fromHex(chunkId), offset);
    view.setUint32(offset + 32, packNumbers.get(entry.packId)!);
    view.setUint32(offset + 36, entry.offset);
    view.setUint32(offset + 40, entry.length);
    view.setUint32(offset + 44, entry.rawLength);
    out[offset + 48] = entry.codec;
    offset += INDEX_ENTRY_BYTES;
  }
  return out;
}

export function parseRunIndex(bytes: Uint8Array, runId: string, into: Map<string, IndexEntry>): void {
  const damaged = (): never => {
    throw new BunkerError('TAMPERED', `${indexKey(runId)} is malformed`, { object: indexKey(runId) });
  };
  if (bytes.length < 8) damaged();
  const packCount = readU32be(bytes, 0);
  let offset = 4;
  if (bytes.length < offset + packCount * 32 + 4) damaged();
  const packs: string[] = [];
  for (let i = 0; i < packCount; i++, offset += 32) packs.push(toHex(bytes.subarray(offset, offset + 32)));
  const entryCount = readU32be(bytes, offset);
  offset += 4;
  if (bytes.length !== offset + entryCount * INDEX_ENTRY_BYTES) damaged();
  for (let i = 0; i < entryCount; i++, offset += INDEX_ENTRY_BYTES) {
    const packNumber = readU32be(bytes, offset + 32);
    const codec = bytes[offset + 48];
    if (packNumber >= packs.length || (codec !== 0 && codec !== 1)) damaged();
    into.set(toHex(bytes.subarray(offset, offset + 32)), {
      packId: packs[packNumber]!,
      offset: readU32be(bytes, offset + 36),
      length: readU32be(bytes, offset + 40),
      rawLength: readU32be(bytes, offset + 44),
      codec: codec as ChunkCodec,
      runId,
    });
  }
}

