/**
 * Where chunk compression and decompression run. The portable default runs inline on the
 * calling thread; core/host/worker-codec-pool.ts runs them on worker threads so both cores
 * work. Buffers passed in may be transferred (detached) by a worker pool: callers use the
 * buffer handed back, never the one they passed.
 */
import { compressChunk } from './compression.ts';
import { inlineRunSealer, type RunSealer, type SealKeys } from './chunk-sealer.ts';
import { type IdKeys, inlinePointOpener, type PointOpener, type RunKeys } from './chunk-opener.ts';
import type { ChunkCodec } from './repo/pack.ts';
import type { ZstdCodec } from '../wasm/mod.ts';

export interface CompressResult {
  readonly codec: ChunkCodec;
  /** The bytes to seal: compressed, or a view of `buffer` when stored raw. */
  readonly payload: Uint8Array;
  /** The input buffer, handed back for reuse. */
  readonly buffer: Uint8Array;
}

/** The chunk ids a run need not store again (the parent's), as a ChunkIndex offers them. */
export interface KnownChunks {
  has(id: string): boolean;
  /** Every id, 32 bytes each. */
  idBytes(): Uint8Array;
}

export interface ChunkCodecPool {
  /** Number of threads doing the work (1 for inline). */
  readonly threads: number;
  /** Compresses buffer[0, length) at `level` (undefined: store raw). `buffer` may be detached. */
  compress(buffer: Uint8Array, length: number, level: number | undefined): Promise<CompressResult>;
  /** Decompresses one zstd frame into exactly `rawLength` bytes; throws if it does not fit. */
  decompress(frame: Uint8Array, rawLength: number): Promise<Uint8Array>;
  /** Starts sealing for one backup run; `known` chunk ids are hashed but not stored again. */
  startRun(keys: SealKeys, known: KnownChunks): Promise<RunSealer>;
  /** Starts opening chunks of one point, whose runs' keys are given; with `verify`, ids are recomputed. */
  startOpen(runKeys: RunKeys, verify?: IdKeys): Promise<PointOpener>;
  close(): Promise<void>;
}

export function inlineCodecPool(zstd: ZstdCodec): ChunkCodecPool {
  return {
    threads: 1,
    async compress(buffer, length, level) {
      const { codec, payload } = compressChunk(zstd, buffer.subarray(0, length), level);
      return { codec, payload, buffer };
    },
    async decompress(frame, rawLength) {
      return zstd.decompress(frame, rawLength);
    },
    startRun(keys, known) {
      return inlineRunSealer(keys, (data, level) => compressChunk(zstd, data, level), known);
    },
    startOpen(runKeys, verify) {
      return inlinePointOpener(runKeys, (frame, rawLength) => zstd.decompress(frame, rawLength), verify);
    },
    async close() {},
  };
}
