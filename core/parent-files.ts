/**
 * The parent point's files, as a rerun needs them to tell an unchanged file (same size, mtime
 * and inode, every chunk still indexed) and to list its chunks again without reading it.
 *
 * Every entry is kept, not only files: a path that was a directory or a link and is a file now
 * is a changed file, not a new one. Such an entry has no size or mtime, so it is never unchanged.
 *
 * Held in typed arrays, outside the JS heap: as parsed manifest entries in a Map they were
 * ~330 bytes of heap per file (58 MB for a 4 GiB tree of 158k files), and V8 lets its heap grow
 * to a multiple of what is live before it collects again, so a rerun's peak memory grew with the
 * parent's size several times over. Here a file is its UTF-8 path, three numbers and 32 bytes
 * per chunk.
 */
import { fromHexInto, toHex } from './format/bytes.ts';
import type { ManifestEntry } from './manifest.ts';
import type { ChunkIndex } from './repo/chunk-index.ts';
import { MAX_PATH_BYTES } from './manifest.ts';

const ID_BYTES = 32;
/** The longest path (in UTF-16 units) that can be in a manifest encodes to at most 3 bytes a unit. */
const SCRATCH_BYTES = MAX_PATH_BYTES * 3;

/** Per process, like the chunk id slots: no fixed set of paths shares a slot on every run. */
const SEED = crypto.getRandomValues(new Uint32Array(1))[0]!;

function pathHash(bytes: Uint8Array, start: number, end: number): number {
  let h = SEED ^ (end - start);
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function grown<T extends Uint8Array | Uint32Array | Float64Array>(old: T, length: number, make: (n: number) => T): T {
  const next = make(length);
  next.set(old);
  return next;
}

export class ParentFiles {
  private count = 0;
  private pathBytes = new Uint8Array(4096);
  private pathBytesUsed = 0;
  /** Entry n's path is pathBytes[pathEnds[n - 1] ?? 0 .. pathEnds[n]]. */
  private pathEnds = new Uint32Array(256);
  private sizes = new Float64Array(256);
  private mtimes = new Float64Array(256);
  /** NaN where the parent saw no inode: it then equals nothing, so the file is read again. */
  private inodes = new Float64Array(256);
  private chunkBytes = new Uint8Array(256 * ID_BYTES);
  /** Entry n's chunks are ids chunkEnds[n - 1] ?? 0 .. chunkEnds[n]. */
  private chunkEnds = new Uint32Array(256);
  /** Slot → entry number + 1; 0 is empty. At most half full. */
  private table = new Uint32Array(512);
  /**
   * Paths with a lone surrogate, which UTF-8 cannot hold (encodeInto makes each one U+FFFD, so
   * "a\uD800", "a\uDC00" and "a\uFFFD" would share bytes): found by the string itself, and
   * never placed in the table. Only a hand-made manifest has them; readdir never returns one.
   */
  private readonly illFormed = new Map<string, number>();
  private readonly scratch = new Uint8Array(SCRATCH_BYTES);
  private readonly encoder = new TextEncoder();

  get size(): number {
    return this.count;
  }

  /** Keeps an entry of the parent's manifest (paths are unique there: scanManifest refuses a repeat). */
  add(entry: ManifestEntry): void {
    const isFile = entry.type === 'file';
    const chunks = isFile ? (entry.chunks ?? []) : [];
    const wellFormed = entry.path.isWellFormed();
    this.reserve(wellFormed ? entry.path.length * 3 : 0, chunks.length);
    const n = this.count;
    if (wellFormed) this.pathBytesUsed += this.encoder.encodeInto(entry.path, this.pathBytes.subarray(this.pathBytesUsed)).written;
    else this.illFormed.set(entry.path, n);
    this.pathEnds[n] = this.pathBytesUsed;
    this.sizes[n] = isFile ? entry.size : NaN;
    this.mtimes[n] = isFile ? entry.mtimeMs : NaN;
    this.inodes[n] = (isFile ? entry.inode : undefined) ?? NaN;
    const first = n === 0 ? 0 : this.chunkEnds[n - 1]!;
    chunks.forEach((id, i) => fromHexInto(id, this.chunkBytes, (first + i) * ID_BYTES));
    this.chunkEnds[n] = first + chunks.length;
    this.count++;
    if (this.count * 2 > this.table.length) this.rehash(this.table.length * 2);
    else if (wellFormed) this.place(n);
  }

  /** The entry number of the parent's entry (of any type) at `path`, or -1. */
  find(path: string): number {
    if (path.length > MAX_PATH_BYTES) return -1;
    if (!path.isWellFormed()) return this.illFormed.get(path) ?? -1;
    const { read, written } = this.encoder.encodeInto(path, this.scratch);
    if (read !== path.length) return -1;
    const mask = this.table.length - 1;
    for (let slot = pathHash(this.scratch, 0, written) & mask; ; slot = (slot + 1) & mask) {
      const e = this.table[slot]!;
      if (e === 0) return -1;
      if (this.pathIs(e - 1, written)) return e - 1;
    }
  }

  /** Whether entry `n` is a file and the file as it is now: same size, mtime and inode, every chunk indexed. */
  isUnchanged(n: number, size: number, mtimeMs: number, inode: number | undefined, index: ChunkIndex): boolean {
    if (this.sizes[n] !== size || this.mtimes[n] !== mtimeMs || inode === undefined || this.inodes[n] !== inode) return false;
    for (let c = n === 0 ? 0 : this.chunkEnds[n - 1]!; c < this.chunkEnds[n]!; c++) {
      if (!index.hasBytes(this.chunkBytes, c * ID_BYTES)) return false;
    }
    return true;
  }

  /** Entry `n`'s chunk ids (hex), in order. */
  chunkIds(n: number): string[] {
    const ids: string[] = [];
    for (let c = n === 0 ? 0 : this.chunkEnds[n - 1]!; c < this.chunkEnds[n]!; c++) {
      ids.push(toHex(this.chunkBytes.subarray(c * ID_BYTES, (c + 1) * ID_BYTES)));
    }
    return ids;
  }

  private pathIs(n: number, length: number): boolean {
    const start = n === 0 ? 0 : this.pathEnds[n - 1]!;
    if (this.pathEnds[n]! - start !== length) return false;
    for (let i = 0; i < length; i++) if (this.pathBytes[start + i] !== this.scratch[i]) return false;
    return true;
  }

  private place(n: number): void {
    const start = n === 0 ? 0 : this.pathEnds[n - 1]!;
    const mask = this.table.length - 1;
    let slot = pathHash(this.pathBytes, start, this.pathEnds[n]!) & mask;
    while (this.table[slot] !== 0) slot = (slot + 1) & mask;
    this.table[slot] = n + 1;
  }

  private rehash(size: number): void {
    this.table = new Uint32Array(size);
    const apart = new Set(this.illFormed.values());
    for (let n = 0; n < this.count; n++) if (!apart.has(n)) this.place(n);
  }

  /** Room for one more entry of up to `pathLength` path bytes and `chunkCount` chunks; arrays grow by half at least. */
  private reserve(pathLength: number, chunkCount: number): void {
    const more = (have: number, need: number): number => Math.max(need, Math.ceil(have * 1.5));
    if (this.count === this.pathEnds.length) {
      const length = more(this.count, this.count + 1);
      this.pathEnds = grown(this.pathEnds, length, (k) => new Uint32Array(k));
      this.sizes = grown(this.sizes, length, (k) => new Float64Array(k));
      this.mtimes = grown(this.mtimes, length, (k) => new Float64Array(k));
      this.inodes = grown(this.inodes, length, (k) => new Float64Array(k));
      this.chunkEnds = grown(this.chunkEnds, length, (k) => new Uint32Array(k));
    }
    if (this.pathBytesUsed + pathLength > this.pathBytes.length) {
      this.pathBytes = grown(this.pathBytes, more(this.pathBytes.length, this.pathBytesUsed + pathLength), (k) => new Uint8Array(k));
    }
    const chunksUsed = this.count === 0 ? 0 : this.chunkEnds[this.count - 1]!;
    if ((chunksUsed + chunkCount) * ID_BYTES > this.chunkBytes.length) {
      this.chunkBytes = grown(this.chunkBytes, more(this.chunkBytes.length, (chunksUsed + chunkCount) * ID_BYTES), (k) => new Uint8Array(k));
    }
  }
}
