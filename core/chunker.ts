/**
 * Content-defined chunking, FastCDC with normalized chunking (Xia et al., 2016), FORMAT.md §5.
 * The gear table comes from the series' secret gear seed, so chunk boundaries do not
 * fingerprint content for someone who lacks the key.
 */

export interface ChunkerParams {
  readonly minBytes: number;
  readonly avgBytes: number;
  readonly maxBytes: number;
}

/** FORMAT.md §5: 256 KiB / 1 MiB / 4 MiB. */
export const DEFAULT_CHUNKER_PARAMS: ChunkerParams = Object.freeze({
  minBytes: 256 * 1024,
  avgBytes: 1024 * 1024,
  maxBytes: 4 * 1024 * 1024,
});

/** FORMAT.md §5: powers of two, 64 <= min < avg < max <= 64 MiB. */
export function checkChunkerParams(value: unknown): ChunkerParams {
  const p = value as Partial<ChunkerParams> | null;
  const isPow2 = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  if (
    p === null || typeof p !== 'object' || !isPow2(p.avgBytes) || !isPow2(p.minBytes) || !isPow2(p.maxBytes) ||
    p.minBytes < 64 || p.minBytes >= p.avgBytes || p.avgBytes >= p.maxBytes || p.maxBytes > 64 * 1024 * 1024
  ) {
    throw new RangeError('chunker parameters must be powers of two with 64 <= min < avg < max <= 64 MiB');
  }
  return Object.freeze({ minBytes: p.minBytes, avgBytes: p.avgBytes, maxBytes: p.maxBytes });
}

/** Builds the 256-entry gear table from 1024 seed bytes (big-endian u32 each). FORMAT.md §5.1 */
export function gearTable(seed: Uint8Array): Uint32Array {
  if (seed.length !== 1024) throw new Error('internal error: gear seed must be 1024 bytes');
  const view = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) table[i] = view.getUint32(i * 4);
  return table;
}

/**
 * FORMAT.md §5.1. Masks select the top bits of the 32-bit gear hash (its most recent 32 input bytes).
 * Normalized chunking: below avg the strict mask (log2(avg)+2 bits), above it the loose mask (log2(avg)-2 bits).
 */
function topBitsMask(bits: number): number {
  return bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

export class Chunker {
  readonly params: ChunkerParams;
  private readonly gear: Uint32Array;
  private readonly maskStrict: number;
  private readonly maskLoose: number;

  constructor(params: ChunkerParams, gear: Uint32Array) {
    this.params = checkChunkerParams(params);
    this.gear = gear;
    const bits = Math.log2(params.avgBytes);
    this.maskStrict = topBitsMask(bits + 2) | 0;
    this.maskLoose = topBitsMask(bits - 2) | 0;
  }

  /**
   * Length of the next chunk in data[start, end). When fewer than maxBytes are available and
   * the input has not ended, returns 0 if no boundary was found yet (the caller reads more).
   */
  nextCut(data: Uint8Array, start: number, end: number, isEnd: boolean): number {
    const { minBytes, avgBytes, maxBytes } = this.params;
    const available = end - start;
    if (available <= minBytes) return isEnd ? available : 0;
    const limit = Math.min(available, maxBytes);
    const normal = Math.min(limit, avgBytes);
    const gear = this.gear;
    const maskStrict = this.maskStrict;
    const maskLoose = this.maskLoose;
    let hash = 0;
    let i = start + minBytes;
    const normalEnd = start + normal;
    for (; i < normalEnd; i++) {
      hash = ((hash << 1) + gear[data[i]!]!) | 0;
      if ((hash & maskStrict) === 0) return i - start + 1;
    }
    const limitEnd = start + limit;
    for (; i < limitEnd; i++) {
      hash = ((hash << 1) + gear[data[i]!]!) | 0;
      if ((hash & maskLoose) === 0) return i - start + 1;
    }
    if (limit === maxBytes || isEnd) return limit;
    return 0;
  }
}
