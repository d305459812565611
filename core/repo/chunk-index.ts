/**
 * A chunk index (where each chunk lives: FORMAT.md §8) held in typed arrays, with an
 * open-addressing table over the ids. A point's index has an entry per chunk of its series (34k
 * per GiB of the bench set); as a Map of hex strings to objects that was ~180 bytes of heap per
 * entry, and building it (a hex string and an object each) was most of the time a restore or a
 * rerun spends reading indexes. Here an entry is ~60 bytes and a lookup makes no string.
 *
 * Reads look like a ReadonlyMap<string, IndexEntry> (hex id → entry), in insertion order; an id
 * set again keeps its place and takes the new entry, as a Map does.
 */
import { decodeHexInto, toHex } from '../format/bytes.ts';
import type { ChunkCodec } from './pack.ts';
import { idSlot } from '../chunk-id-set.ts';

const ID_BYTES = 32;

export interface IndexEntry {
  readonly packId: string;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
  readonly codec: ChunkCodec;
  /** The run whose DEK sealed the blob. */
  readonly runId: string;
}

/** A stable number for each distinct string, in order of first use. */
class Names {
  readonly list: string[] = [];
  private readonly numbers = new Map<string, number>();

  number(name: string): number {
    let n = this.numbers.get(name);
    if (n === undefined) {
      n = this.list.length;
      this.numbers.set(name, n);
      this.list.push(name);
    }
    return n;
  }
}

export class ChunkIndex implements Iterable<[string, IndexEntry]> {
  private ids = new Uint8Array(0);
  private packNumbers = new Uint32Array(0);
  private offsets = new Uint32Array(0);
  private lengths = new Uint32Array(0);
  private rawLengths = new Uint32Array(0);
  private codecs = new Uint8Array(0);
  private runNumbers = new Uint32Array(0);
  private readonly packs = new Names();
  private readonly runs = new Names();
  /** Slot → entry number + 1; 0 is empty. At most half full, so probes stay short. */
  private table = new Uint32Array(16);
  private count = 0;
  private readonly probe = new Uint8Array(ID_BYTES);

  static from(entries: Iterable<readonly [string, IndexEntry]>): ChunkIndex {
    const index = new ChunkIndex();
    for (const [id, entry] of entries) index.set(id, entry);
    return index;
  }

  get size(): number {
    return this.count;
  }

  /** Entries the arrays hold before they grow again. */
  get capacity(): number {
    return this.codecs.length;
  }

  has(id: string): boolean {
    return this.find(id) !== -1;
  }

  /** Whether the 32-byte id at `bytes[at..]` is here. */
  hasBytes(bytes: Uint8Array, at: number): boolean {
    return this.findBytes(bytes, at) !== -1;
  }

  /** The chunk's length once decompressed, without making an entry object. */
  rawLengthOf(id: string): number | undefined {
    const n = this.find(id);
    return n === -1 ? undefined : this.rawLengths[n]!;
  }

  get(id: string): IndexEntry | undefined {
    const n = this.find(id);
    return n === -1 ? undefined : this.entry(n);
  }

  set(id: string, entry: IndexEntry): this {
    if (!decodeHexInto(id, this.probe, 0, ID_BYTES)) throw new TypeError('a chunk id is 64 lowercase hex digits');
    this.put(this.probe, 0, this.packs.number(entry.packId), entry.offset, entry.length, entry.rawLength, entry.codec, this.runs.number(entry.runId));
    return this;
  }

  /** Room for `more` entries beyond the current ones, so a parse grows the arrays once. */
  reserve(more: number): void {
    this.growTo(this.count + more);
  }

  /**
   * Adds the entry whose 32-byte id is at `idBytes[at..]`; the numbers are those of `packIds` /
   * `runIds` as returned by packNumber / runNumber. For parsing, where ids are bytes already.
   */
  put(idBytes: Uint8Array, at: number, pack: number, offset: number, length: number, rawLength: number, codec: ChunkCodec, run: number): void {
    if (this.count === this.codecs.length) this.growTo(Math.max(1024, Math.ceil(this.count * 1.5)));
    let slot = this.slotOf(idBytes, at);
    for (let e = this.table[slot]!; e !== 0; slot = (slot + 1) & (this.table.length - 1), e = this.table[slot]!) {
      if (this.matches(e - 1, idBytes, at)) {
        this.write(e - 1, pack, offset, length, rawLength, codec, run);
        return;
      }
    }
    const n = this.count++;
    this.ids.set(idBytes.subarray(at, at + ID_BYTES), n * ID_BYTES);
    this.write(n, pack, offset, length, rawLength, codec, run);
    if (this.count * 2 > this.table.length) this.rehash(this.table.length * 2);
    else this.table[slot] = n + 1;
  }

  packNumber(packId: string): number {
    return this.packs.number(packId);
  }

  runNumber(runId: string): number {
    return this.runs.number(runId);
  }

  /** Adds every entry of `other`, in its order; an id already here takes the other's entry. */
  merge(other: ChunkIndex): void {
    this.reserve(other.count);
    const packs = other.packs.list.map((p) => this.packs.number(p));
    const runs = other.runs.list.map((r) => this.runs.number(r));
    for (let n = 0; n < other.count; n++) {
      this.put(other.ids, n * ID_BYTES, packs[other.packNumbers[n]!]!, other.offsets[n]!, other.lengths[n]!, other.rawLengths[n]!, other.codecs[n] as ChunkCodec, runs[other.runNumbers[n]!]!);
    }
  }

  /** The packs the entries are in, each with the end of its last entry there, made without an object per entry. */
  packEnds(): Map<string, number> {
    const ends = new Float64Array(this.packs.list.length).fill(-1);
    for (let n = 0; n < this.count; n++) {
      const pack = this.packNumbers[n]!;
      ends[pack] = Math.max(ends[pack]!, this.offsets[n]! + this.lengths[n]!);
    }
    const out = new Map<string, number>();
    // A pack that only entries set again since named is in none of them.
    for (let pack = 0; pack < ends.length; pack++) if (ends[pack]! >= 0) out.set(this.packs.list[pack]!, ends[pack]!);
    return out;
  }

  /** Every id, 32 bytes each, in entry order (a copy). */
  idBytes(): Uint8Array {
    return this.ids.slice(0, this.count * ID_BYTES);
  }

  /** The entries' fields by entry number, for encoders that want no object per entry. */
  forEachRaw(visit: (idBytes: Uint8Array, at: number, packId: string, offset: number, length: number, rawLength: number, codec: ChunkCodec) => void): void {
    for (let n = 0; n < this.count; n++) {
      visit(this.ids, n * ID_BYTES, this.packs.list[this.packNumbers[n]!]!, this.offsets[n]!, this.lengths[n]!, this.rawLengths[n]!, this.codecs[n] as ChunkCodec);
    }
  }

  *entries(): IterableIterator<[string, IndexEntry]> {
    for (let n = 0; n < this.count; n++) yield [this.idAt(n), this.entry(n)];
  }

  *keys(): IterableIterator<string> {
    for (let n = 0; n < this.count; n++) yield this.idAt(n);
  }

  *values(): IterableIterator<IndexEntry> {
    for (let n = 0; n < this.count; n++) yield this.entry(n);
  }

  [Symbol.iterator](): IterableIterator<[string, IndexEntry]> {
    return this.entries();
  }

  private find(id: string): number {
    return decodeHexInto(id, this.probe, 0, ID_BYTES) ? this.findBytes(this.probe, 0) : -1;
  }

  private findBytes(id: Uint8Array, at: number): number {
    const mask = this.table.length - 1;
    for (let slot = this.slotOf(id, at); ; slot = (slot + 1) & mask) {
      const e = this.table[slot]!;
      if (e === 0) return -1;
      if (this.matches(e - 1, id, at)) return e - 1;
    }
  }

  private idAt(n: number): string {
    return toHex(this.ids.subarray(n * ID_BYTES, (n + 1) * ID_BYTES));
  }

  private entry(n: number): IndexEntry {
    return {
      packId: this.packs.list[this.packNumbers[n]!]!,
      offset: this.offsets[n]!,
      length: this.lengths[n]!,
      rawLength: this.rawLengths[n]!,
      codec: this.codecs[n] as ChunkCodec,
      runId: this.runs.list[this.runNumbers[n]!]!,
    };
  }

  private write(n: number, pack: number, offset: number, length: number, rawLength: number, codec: ChunkCodec, run: number): void {
    this.packNumbers[n] = pack;
    this.offsets[n] = offset;
    this.lengths[n] = length;
    this.rawLengths[n] = rawLength;
    this.codecs[n] = codec;
    this.runNumbers[n] = run;
  }

  private growTo(wanted: number): void {
    if (wanted <= this.codecs.length) return;
    // Geometric growth: a point of a thousand runs reserves a thousand times, and each
    // exact-size copy would move every entry again.
    const capacity = Math.max(wanted, Math.ceil(this.codecs.length * 1.5));
    const grown = <T extends Uint8Array | Uint32Array>(old: T, make: (n: number) => T, per = 1): T => {
      const next = make(capacity * per);
      next.set(old.subarray(0, this.count * per));
      return next;
    };
    this.ids = grown(this.ids, (n) => new Uint8Array(n), ID_BYTES);
    this.packNumbers = grown(this.packNumbers, (n) => new Uint32Array(n));
    this.offsets = grown(this.offsets, (n) => new Uint32Array(n));
    this.lengths = grown(this.lengths, (n) => new Uint32Array(n));
    this.rawLengths = grown(this.rawLengths, (n) => new Uint32Array(n));
    this.codecs = grown(this.codecs, (n) => new Uint8Array(n));
    this.runNumbers = grown(this.runNumbers, (n) => new Uint32Array(n));
    let size = this.table.length;
    while (size < capacity * 2) size *= 2;
    if (size !== this.table.length) this.rehash(size);
  }

  private rehash(size: number): void {
    this.table = new Uint32Array(size);
    const mask = size - 1;
    for (let n = 0; n < this.count; n++) {
      let slot = this.slotOf(this.ids, n * ID_BYTES);
      while (this.table[slot] !== 0) slot = (slot + 1) & mask;
      this.table[slot] = n + 1;
    }
  }

  private slotOf(bytes: Uint8Array, at: number): number {
    return idSlot(bytes, at, this.table.length - 1);
  }

  private matches(n: number, id: Uint8Array, at: number): boolean {
    const base = n * ID_BYTES;
    for (let i = 0; i < ID_BYTES; i++) if (this.ids[base + i] !== id[at + i]) return false;
    return true;
  }
}
