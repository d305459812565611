/**
 * Chunk compression policy (FORMAT.md §7.1): zstd before encryption, skipped for chunks
 * that look incompressible (cheap entropy estimate on samples) or that do not shrink.
 */
import type { ChunkCodec } from './repo/pack.ts';

export const DEFAULT_ZSTD_LEVEL = 3;
export const MIN_ZSTD_LEVEL = 1;
export const MAX_ZSTD_LEVEL = 19;
// FORMAT.md §7.1: the incompressibility estimate.
const SAMPLE_BYTES = 4096;
/** Above this many bits per byte in every sample, zstd cannot gain enough to pay for itself. */
const INCOMPRESSIBLE_BITS_PER_BYTE = 7.9;

/** Parses "zstd", "zstd:LEVEL" or "none" into a level (undefined = no compression). */
export function parseCompression(text: string): number | undefined {
  if (text === 'none') return undefined;
  const match = /^zstd(?::(\d{1,2}))?$/.exec(text);
  const level = match ? Number(match[1] ?? DEFAULT_ZSTD_LEVEL) : NaN;
  if (!(level >= MIN_ZSTD_LEVEL && level <= MAX_ZSTD_LEVEL)) {
    throw new RangeError(`compression must be "none", "zstd" or "zstd:LEVEL" with LEVEL ${MIN_ZSTD_LEVEL}..${MAX_ZSTD_LEVEL}`);
  }
  return level;
}

const counts = new Uint32Array(256);

function sampleEntropy(data: Uint8Array, start: number, length: number): number {
  counts.fill(0);
  for (let i = start; i < start + length; i++) counts[data[i]!]!++;
  let bits = 0;
  for (let i = 0; i < 256; i++) {
    const c = counts[i]!;
    if (c !== 0) {
      const p = c / length;
      bits -= p * Math.log2(p);
    }
  }
  return bits;
}

function looksIncompressible(data: Uint8Array): boolean {
  if (data.length < SAMPLE_BYTES * 4) return false;
  for (const at of [0, (data.length >> 1) - SAMPLE_BYTES / 2, data.length - SAMPLE_BYTES]) {
    if (sampleEntropy(data, at, SAMPLE_BYTES) < INCOMPRESSIBLE_BITS_PER_BYTE) return false;
  }
  return true;
}

/** A zstd compressor: the WASM build (wasm/zstd.ts) or a host's native one. */
export interface ZstdCompressor {
  compress(data: Uint8Array, level: number): Uint8Array;
}

export function compressChunk(zstd: ZstdCompressor, data: Uint8Array, level: number | undefined): { codec: ChunkCodec; payload: Uint8Array } {
  if (level === undefined || data.length < 64 || looksIncompressible(data)) return { codec: 0, payload: data };
  const compressed = zstd.compress(data, level);
  return compressed.length < data.length ? { codec: 1, payload: compressed } : { codec: 0, payload: data };
}
