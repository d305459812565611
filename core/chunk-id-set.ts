/**
 * A set of 32-byte chunk ids kept in one buffer, with an open-addressing table over it: no
 * string or object per id. A rerun hands every codec worker the parent's ids (100k and more);
 * as a Set of hex strings that cost each worker ~0.1 s to build and ~0.2 s of GC.
 */
const ID_BYTES = 32;

/**
 * Per-process seed: the slots of a set of ids differ from run to run, so no fixed list of ids
 * (a damaged or crafted index) lands on one slot every time.
 */
const SEED = crypto.getRandomValues(new Uint32Array(1))[0]!;

function word(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
}

/** The table slot of the id at `bytes[at..]`, for a table of `mask + 1` slots (a power of two). */
export function idSlot(bytes: Uint8Array, at: number, mask: number): number {
  // Every byte counts: ids that share a prefix (whatever their origin) still spread over the table.
  let h = SEED;
  for (let i = 0; i < ID_BYTES; i += 4) {
    h = Math.imul(h ^ word(bytes, at + i), 0x9e3779b1);
    h ^= h >>> 15; // the product's high bits reach the low ones before the next word is mixed in
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) & mask;
}

export class ChunkIdSet {
  private readonly ids: Uint8Array;
  /** Slot → id index + 1; 0 is empty. At most half full, so probes stay short. */
  private readonly table: Uint32Array;
  private readonly mask: number;

  /** `ids` is a concatenation of 32-byte ids; it is kept, not copied. */
  constructor(ids: Uint8Array) {
    if (ids.length % ID_BYTES !== 0) throw new Error(`chunk id list of ${ids.length} bytes is not a whole number of ids`);
    this.ids = ids;
    const count = ids.length / ID_BYTES;
    let size = 16;
    while (size < count * 2) size *= 2;
    this.table = new Uint32Array(size);
    this.mask = size - 1;
    for (let i = 0; i < count; i++) {
      let slot = this.slotOf(ids, i * ID_BYTES);
      while (this.table[slot] !== 0) slot = (slot + 1) & this.mask;
      this.table[slot] = i + 1;
    }
  }

  get size(): number {
    return this.ids.length / ID_BYTES;
  }

  has(id: Uint8Array): boolean {
    if (id.length !== ID_BYTES) return false;
    for (let slot = this.slotOf(id, 0); ; slot = (slot + 1) & this.mask) {
      const entry = this.table[slot]!;
      if (entry === 0) return false;
      if (this.matches(entry - 1, id)) return true;
    }
  }

  private slotOf(bytes: Uint8Array, at: number): number {
    return idSlot(bytes, at, this.mask);
  }

  private matches(index: number, id: Uint8Array): boolean {
    const at = index * ID_BYTES;
    for (let i = 0; i < ID_BYTES; i++) if (this.ids[at + i] !== id[i]) return false;
    return true;
  }
}
