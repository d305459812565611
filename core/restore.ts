/**
 * Restore: point → manifest → index → packs (read in coalesced ranges, decrypted
 * concurrently, verified) → files, in manifest order, written through a RestoreSink.
 * Nothing is trusted before it authenticates; the sink stages output and only moves it
 * into place when the whole restore succeeded.
 */
import { BunkerError, throwIfCancelled } from './errors.ts';
import { type Manifest, type ManifestEntry, parentPath } from './manifest.ts';
import { packKey } from './repo/pack.ts';
import type { OpenItem, PointOpener } from './chunk-opener.ts';
import type { ChunkIndex, IndexEntry } from './repo/chunk-index.ts';
import type { Repository, UnlockedPoint } from './repository.ts';
import { Profile } from './profile.ts';
import { Limiter } from './limiter.ts';
import { tee } from './tee.ts';

/**
 * Where restored entries go. core/host/fs-restore-sink.ts writes a directory; tests may collect
 * in memory. A restore holds no list of entries, so neither should a sink: plan() sees each
 * once before any data is read, and the writes see each again in the same order.
 */
export interface RestoreSink {
  /**
   * Called with every entry to be restored, in manifest order, before anything is written:
   * refuse here what is in the way. Writes nothing; keeps only what commit() needs.
   */
  plan(entry: ManifestEntry): Promise<void>;
  /** Every entry was planned and the point's chunks checked: writes follow. */
  begin(): Promise<void>;
  directory(entry: ManifestEntry): Promise<void>;
  symlink(entry: ManifestEntry): Promise<void>;
  /** Writes a file from its chunks, in order. */
  file(entry: ManifestEntry, data: AsyncIterable<Uint8Array>): Promise<void>;
  /** Optional: writes a small file whose chunks are all in memory (a host may do it without thread hops). */
  smallFile?(entry: ManifestEntry, data: readonly Uint8Array[]): Promise<void>;
  /** Everything was written and verified: make it visible. */
  commit(): Promise<void>;
  /** Something failed: remove everything written so far. */
  abort(): Promise<void>;
}

export interface RestoreOptions {
  /** Restore only these paths (and what is below them). */
  readonly include?: readonly string[];
  /** Chunks fetched and decrypted ahead of the writer (default 8). */
  readonly concurrency?: number;
  readonly onProgress?: (progress: RestoreProgress) => void;
  /** Collects time per stage (`--profile`). */
  readonly profile?: Profile;
  /** Aborting stops the restore with CANCELLED; the sink is aborted (nothing made visible). */
  readonly signal?: AbortSignal;
  /**
   * The largest manifest (its text, in bytes; default HELD_MANIFEST_BYTES) whose entries are
   * kept from planning to writing. A larger one is scanned a second time instead, so that a
   * restore's memory stops growing with the number of files there.
   */
  readonly heldManifestBytes?: number;
}

export interface RestoreProgress {
  readonly files: number;
  readonly filesTotal: number;
  readonly bytes: number;
  readonly bytesTotal: number;
  readonly currentPath: string;
}

export interface RestoreResult {
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
  readonly bytes: number;
}

/**
 * See RestoreOptions.heldManifestBytes: ~75,000 entries of ~220 bytes, whose parsed entries keep
 * ~25 MB of heap (0.3 KiB each, measured on the 4 GiB bench set); scanning such a manifest a
 * second time would cost ~0.15 s.
 */
export const HELD_MANIFEST_BYTES = 16 * 1024 * 1024;

/** Files up to this size are written concurrently, up to FILE_WRITE_CONCURRENCY at once. */
const SMALL_FILE_BYTES = 1024 * 1024;
const FILE_WRITE_CONCURRENCY = 8;

async function* arrayStream(parts: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* parts;
}

/** Largest coalesced read from one pack, stored and decompressed (text can shrink 50-fold). */
const MAX_READ_BYTES = 8 * 1024 * 1024;
/** Bytes read ahead of the writer at most (plus one read), counted decompressed: that is what waits in memory. */
const MAX_READ_AHEAD_BYTES = 32 * 1024 * 1024;

/**
 * Which entries a restore of `include` takes, decided entry by entry as the manifest is read:
 * the paths named, everything below them, and the directories above them.
 */
class IncludeFilter {
  private readonly everything: boolean;
  private readonly wanted: readonly string[];
  private readonly above = new Set<string>();
  private readonly found = new Set<string>();

  constructor(include: readonly string[] | undefined) {
    this.wanted = (include ?? []).map((p) => p.replace(/^\/+|\/+$/g, ''));
    this.everything = this.wanted.length === 0 || this.wanted.includes('');
    for (const path of this.wanted) {
      for (let p = parentPath(path); p !== ''; p = parentPath(p)) this.above.add(p);
    }
  }

  takes(path: string): boolean {
    if (this.everything) {
      // '/' among other paths: everything is taken, and the others must still exist.
      if (this.wanted.length > 1 && this.wanted.includes(path)) this.found.add(path);
      return true;
    }
    let taken = this.above.has(path);
    for (const w of this.wanted) {
      if (path === w) {
        this.found.add(w);
        taken = true;
      } else if (path.startsWith(w) && path.charCodeAt(w.length) === 0x2f) {
        taken = true;
      }
    }
    return taken;
  }

  /** After every entry went through takes(): NOT_FOUND for a path named that no entry had. */
  checkFound(): void {
    for (const path of this.wanted) {
      if (path !== '' && !this.found.has(path)) throw new BunkerError('NOT_FOUND', `${JSON.stringify(path)} is not in this recovery point`);
    }
  }
}

export function selectEntries(manifest: Manifest, include: readonly string[] | undefined): ManifestEntry[] {
  const filter = new IncludeFilter(include);
  const entries = manifest.entries.filter((e) => filter.takes(e.path));
  filter.checkFound();
  return entries;
}

export interface ChunkRef {
  readonly id: string;
  readonly entry: IndexEntry;
}

/**
 * Checks, before anything is read, that every chunk of every file is indexed and that a file's
 * chunks add up to its size. Nothing is kept per chunk: a restore makes its refs as it reads
 * (chunkRefs), so a plan held whole (~120 bytes of heap per chunk) does not grow its memory.
 */
export function checkChunks(entries: Iterable<ManifestEntry>, index: Pick<ChunkIndex, 'rawLengthOf'>, pointId: string): void {
  for (const entry of entries) checkFileChunks(entry, index, pointId);
}

function checkFileChunks(entry: ManifestEntry, index: Pick<ChunkIndex, 'rawLengthOf'>, pointId: string): void {
  if (entry.type !== 'file') return;
  let total = 0;
  for (const id of entry.chunks ?? []) {
    const rawLength = index.rawLengthOf(id);
    if (rawLength === undefined) throw missingChunk(pointId, id, entry);
    total += rawLength;
  }
  if (total !== entry.size) {
    throw new BunkerError('CORRUPTED_POINT', `recovery point ${pointId.slice(0, 12)} is corrupted: ${JSON.stringify(entry.path)} has ${entry.size} bytes but its chunks hold ${total}`, { object: `trees/${pointId}` });
  }
}

/** The files' chunk refs in order, made one at a time as they are asked for. */
export function* chunkRefs(entries: Iterable<ManifestEntry>, index: Pick<ChunkIndex, 'get'>, pointId: string): Generator<ChunkRef> {
  for (const entry of entries) {
    if (entry.type !== 'file') continue;
    for (const id of entry.chunks ?? []) yield refOf(id, entry, index, pointId);
  }
}

function refOf(id: string, file: ManifestEntry, index: Pick<ChunkIndex, 'get'>, pointId: string): ChunkRef {
  const found = index.get(id);
  if (found === undefined) throw missingChunk(pointId, id, file);
  return { id, entry: found };
}

/**
 * Manifest entries a restore's chunk reads pass between two pauses: at most ~9 times this many
 * wait for the writes (8 reads in flight and one being put together). A pause also ends a
 * merged read, so tiny files stored back to back are read in ranges of up to this many.
 */
export const PACE_ENTRIES = 4096;

/**
 * chunkRefs for a restore reading ahead of its writes: a pause (null) every PACE_ENTRIES
 * entries, so that the entries read past and not yet written stay few, even across long runs
 * of directories or empty files, which have no chunk to stop at.
 */
function* pacedChunkRefs(entries: Iterable<ManifestEntry>, index: Pick<ChunkIndex, 'get'>, pointId: string): Generator<ChunkRef | null> {
  let passed = 0;
  for (const entry of entries) {
    if (entry.type === 'file') for (const id of entry.chunks ?? []) yield refOf(id, entry, index, pointId);
    if (++passed === PACE_ENTRIES) {
      passed = 0;
      yield null;
    }
  }
}

const hasChunks = (entry: ManifestEntry): boolean => entry.type === 'file' && (entry.chunks?.length ?? 0) > 0;

/** Chunk refs for the files, checked against the index first (for a file or a few). */
export function planChunks(entries: readonly ManifestEntry[], index: Pick<ChunkIndex, 'get' | 'rawLengthOf'>, pointId: string): ChunkRef[] {
  checkChunks(entries, index, pointId);
  return [...chunkRefs(entries, index, pointId)];
}

function missingChunk(pointId: string, id: string, entry: ManifestEntry): BunkerError {
  return new BunkerError('CORRUPTED_POINT', `recovery point ${pointId.slice(0, 12)} is corrupted: chunk ${id.slice(0, 16)} of ${JSON.stringify(entry.path)} is in no index`, { object: `trees/${pointId}` });
}

interface ReadUnit {
  readonly packId: string;
  readonly offset: number;
  readonly length: number;
  /** The chunks' bytes once decompressed. */
  readonly rawLength: number;
  readonly refs: ChunkRef[];
}

/**
 * Merges consecutive chunks stored back to back in one pack into one read, as the refs come.
 * A pause (null) ends the read being merged, or makes an empty one: the reader then stops
 * pulling refs until the window has room, however far the next chunk is in the manifest.
 */
function* coalesce(refs: Iterable<ChunkRef | null>): Generator<ReadUnit> {
  let current: { packId: string; offset: number; length: number; rawLength: number; refs: ChunkRef[] } | undefined;
  for (const ref of refs) {
    if (ref === null) {
      yield current ?? { packId: '', offset: 0, length: 0, rawLength: 0, refs: [] };
      current = undefined;
      continue;
    }
    const e = ref.entry;
    if (current && current.packId === e.packId && current.offset + current.length === e.offset &&
      current.length + e.length <= MAX_READ_BYTES && current.rawLength + e.rawLength <= MAX_READ_BYTES) {
      current.length += e.length;
      current.rawLength += e.rawLength;
      current.refs.push(ref);
    } else {
      if (current) yield current;
      current = { packId: e.packId, offset: e.offset, length: e.length, rawLength: e.rawLength, refs: [ref] };
    }
  }
  if (current) yield current;
}

/** Reads, authenticates and decompresses every chunk of `refs`, yielding plaintexts in order. */
export interface ReadChunksOptions {
  /** Read units in flight (default 8). */
  readonly concurrency?: number;
  readonly profile?: Profile;
  /** Recompute every chunk id (check --read-data). */
  readonly verifyIds?: boolean;
  /** An opener started earlier with startOpener; the caller closes it (readChunks closes only its own). */
  readonly opener?: Promise<PointOpener>;
}

/** Starts the opening threads for `point`'s chunks: a caller can start them while it plans. */
export function startOpener(repo: Repository, point: UnlockedPoint, verifyIds = false): Promise<PointOpener> {
  const runKeys = new Map(point.record.body.runs.map((run) => [run, point.dataKeys.get(run)] as const));
  const verify = verifyIds
    ? { chunkIdAlgorithm: repo.config.chunkIdAlgorithm, ...(point.series.chunkIdKey ? { chunkIdKey: point.series.chunkIdKey } : {}) }
    : undefined;
  return repo.codecs.startOpen(runKeys, verify);
}

export async function* readChunks(repo: Repository, point: UnlockedPoint, refs: Iterable<ChunkRef | null>, options: ReadChunksOptions = {}): AsyncGenerator<Uint8Array> {
  const concurrency = options.concurrency ?? 8;
  const profile = options.profile ?? new Profile();
  const units = coalesce(refs);
  const own = options.opener === undefined;
  const opener = await (options.opener ?? startOpener(repo, point, options.verifyIds));
  // Reads are cut into batches of bounded size for the opening threads.
  const load = async (unit: ReadUnit): Promise<Uint8Array[]> => {
    if (unit.refs.length === 0) return [];
    const bytes = await profile.time('fetch', repo.storage.getRange(packKey(unit.packId), unit.offset, unit.length));
    const items: OpenItem[] = unit.refs.map((ref) => ({
      offset: ref.entry.offset - unit.offset, length: ref.entry.length, id: ref.id, codec: ref.entry.codec,
      rawLength: ref.entry.rawLength, runId: ref.entry.runId, packId: ref.entry.packId,
    }));
    const { chunks, timings } = await profile.time('open', opener.openBatch(bytes, items));
    profile.add('decrypt', timings.decrypt);
    profile.add('decompress', timings.decompress);
    return chunks;
  };
  // Read-ahead is bounded by count and by bytes, so memory stays flat whatever the data size.
  const window: { promise: Promise<Uint8Array[]>; bytes: number }[] = [];
  let windowBytes = 0;
  let unitsLeft = true;
  const fill = () => {
    while (unitsLeft && window.length < concurrency && (window.length === 0 || windowBytes < MAX_READ_AHEAD_BYTES)) {
      const step = units.next();
      if (step.done === true) {
        unitsLeft = false;
        break;
      }
      const unit = step.value;
      const promise = load(unit);
      promise.catch(() => undefined); // surfaced when awaited in order
      window.push({ promise, bytes: unit.rawLength });
      windowBytes += unit.rawLength;
    }
  };
  try {
    fill();
    while (window.length > 0) {
      const head = window.shift()!;
      windowBytes -= head.bytes;
      const chunks = await head.promise;
      fill();
      yield* chunks;
    }
  } finally {
    units.return(undefined);
    if (own) await opener.close();
  }
}

export async function restore(repo: Repository, point: UnlockedPoint, sink: RestoreSink, options: RestoreOptions = {}): Promise<RestoreResult> {
  // The opening threads start while the manifest and the index are read and planned. They are
  // closed however the restore ends; a failure to start them surfaces where they are awaited.
  const opener = startOpener(repo, point);
  opener.catch(() => undefined);
  try {
    return await restoreWith(repo, point, sink, options, opener);
  } finally {
    await opener.then((started) => started.close(), () => undefined);
  }
}

async function restoreWith(repo: Repository, point: UnlockedPoint, sink: RestoreSink, options: RestoreOptions, opener: Promise<PointOpener>): Promise<RestoreResult> {
  const profile = options.profile ?? new Profile();
  const planStarted = performance.now();
  // The manifest is scanned to check and plan, then again to write, held compressed in between.
  // A small one's entries are kept from the first scan for the writes instead; a large one's
  // (a parsed entry is ~0.3-1 KiB of heap) are not, so memory stops growing with the files.
  const [manifestRead, indexRead] = await Promise.allSettled([repo.openManifest(point), repo.readIndex(point)]);
  if (manifestRead.status === 'rejected') throw manifestRead.reason;
  const manifest = manifestRead.value;
  if (indexRead.status === 'rejected') {
    // Damage to the manifest is reported first, as check does, whichever read failed sooner.
    for (const _ of manifest.entries()) throwIfCancelled(options.signal, 'the restore');
    throw indexRead.reason;
  }
  const index = indexRead.value;
  const filter = new IncludeFilter(options.include);
  const held: ManifestEntry[] | undefined = manifest.bytes <= (options.heldManifestBytes ?? HELD_MANIFEST_BYTES) ? [] : undefined;
  let filesTotal = 0;
  let bytesTotal = 0;
  // Errors are reported in the order a whole read would find them: damage anywhere in the
  // manifest, then a path not in it, then a chunk missing, then something in the way. So the
  // first problem of each later kind is kept until the scan has gone to the end.
  let chunkError: { error: unknown } | undefined;
  let sinkError: { error: unknown } | undefined;
  for (const entry of manifest.entries()) {
    throwIfCancelled(options.signal, 'the restore');
    if (!filter.takes(entry.path)) continue;
    held?.push(entry);
    if (entry.type === 'file') {
      if (chunkError === undefined) {
        try {
          checkFileChunks(entry, index, point.id);
        } catch (error) {
          chunkError = { error };
        }
      }
      filesTotal++;
      bytesTotal += entry.size;
    }
    if (sinkError === undefined) {
      try {
        await sink.plan(entry);
      } catch (error) {
        sinkError = { error };
      }
    }
  }
  filter.checkFound();
  if (chunkError !== undefined) throw chunkError.error;
  if (sinkError !== undefined) throw sinkError.error;
  profile.add('plan', performance.now() - planStarted);
  const result = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  await profile.time('begin', sink.begin());
  // Small files are written several at once (their data is already in memory); large ones
  // stream one at a time. Directories are created before anything inside them is written.
  const writes = new Set<Promise<void>>();
  const scan = held === undefined ? manifest.entries() : undefined;
  try {
    // One pass feeds both the chunk reads, which run ahead, and the writes.
    // Entries the writes pass first reach the reads only if they have chunks to read.
    const [toRead, toWrite] = tee(scan === undefined ? held!.values() : filtered(scan, filter), [hasChunks, () => true]);
    const chunks = readChunks(repo, point, pacedChunkRefs(iterable(toRead), index, point.id), { ...(options.concurrency ? { concurrency: options.concurrency } : {}), profile, opener });
    const writing = new Limiter(FILE_WRITE_CONCURRENCY);
    let writeFailure: unknown;
    const settleWrites = async () => {
      await Promise.all(writes);
      if (writeFailure !== undefined) throw writeFailure;
    };
    for (const entry of iterable(toWrite)) {
      if (writeFailure !== undefined) throw writeFailure;
      throwIfCancelled(options.signal, 'the restore');
      if (entry.type === 'dir') {
        await sink.directory(entry);
        result.dirs++;
      } else if (entry.type === 'symlink') {
        await sink.symlink(entry);
        result.symlinks++;
      } else if (entry.size <= SMALL_FILE_BYTES) {
        const data: Uint8Array[] = [];
        for (let i = 0; i < entry.chunks!.length; i++) {
          const next = await chunks.next();
          if (next.done) throw new Error('internal error: chunk stream ended early');
          data.push(next.value);
          result.bytes += next.value.length;
        }
        const write: Promise<void> = writing.run(() => profile.time('output', sink.smallFile ? sink.smallFile(entry, data) : sink.file(entry, arrayStream(data)))).then(
          () => void writes.delete(write),
          (error) => {
            writes.delete(write);
            writeFailure ??= error;
          },
        );
        writes.add(write);
        // Keep a bounded number of writes queued.
        if (writes.size >= FILE_WRITE_CONCURRENCY * 2) await Promise.race(writes);
        result.files++;
        options.onProgress?.({ files: result.files, filesTotal, bytes: result.bytes, bytesTotal, currentPath: entry.path });
      } else {
        await settleWrites();
        const count = entry.chunks!.length;
        const data = (async function* () {
          for (let i = 0; i < count; i++) {
            // A large file stops at its next chunk, not at its end.
            if (i > 0) throwIfCancelled(options.signal, 'the restore');
            const next = await chunks.next();
            if (next.done) throw new Error('internal error: chunk stream ended early');
            result.bytes += next.value.length;
            yield next.value;
          }
        })();
        await profile.time('output', sink.file(entry, data));
        result.files++;
        options.onProgress?.({ files: result.files, filesTotal, bytes: result.bytes, bytesTotal, currentPath: entry.path });
      }
    }
    await settleWrites();
    await profile.time('commit', sink.commit());
  } catch (error) {
    // Let writes in flight finish first, so abort removes everything and nothing races it.
    await Promise.allSettled(writes);
    await sink.abort();
    throw error;
  } finally {
    scan?.return(undefined as never);
  }
  return result;
}

function* filtered(entries: Iterator<ManifestEntry>, filter: IncludeFilter): Generator<ManifestEntry> {
  for (let step = entries.next(); step.done !== true; step = entries.next()) {
    if (filter.takes(step.value.path)) yield step.value;
  }
}

function iterable<T>(iterator: Iterator<T>): Iterable<T> {
  return { [Symbol.iterator]: () => iterator };
}

/**
 * One file of a point: its manifest entry and its data, verified chunk by chunk as it is read.
 * NOT_FOUND / USAGE (not a file) / CORRUPTED_POINT come before any data, so a caller can still
 * answer with an error; nothing is read until `data` is iterated.
 */
export async function openFile(repo: Repository, point: UnlockedPoint, path: string): Promise<{ entry: ManifestEntry; data: AsyncGenerator<Uint8Array> }> {
  const wanted = path.replace(/^\/+|\/+$/g, '');
  let entry: ManifestEntry | undefined;
  // Scanned to the end, so a manifest malformed anywhere is refused, but only one entry is kept.
  for (const e of (await repo.openManifest(point)).entries()) if (e.path === wanted) entry = e;
  if (entry === undefined) throw new BunkerError('NOT_FOUND', `${JSON.stringify(path)} is not in this recovery point`);
  if (entry.type !== 'file') throw new BunkerError('USAGE', `${JSON.stringify(path)} is a ${entry.type === 'dir' ? 'directory' : 'symbolic link'}, not a file`);
  const refs = planChunks([entry], await repo.readIndex(point), point.id);
  return { entry, data: readChunks(repo, point, refs) };
}

/** Streams one file of a point to `write`, verified chunk by chunk. */
export async function dumpFile(repo: Repository, point: UnlockedPoint, path: string, write: (chunk: Uint8Array) => Promise<void>): Promise<number> {
  const { data } = await openFile(repo, point, path);
  let bytes = 0;
  for await (const chunk of data) {
    await write(chunk);
    bytes += chunk.length;
  }
  return bytes;
}
