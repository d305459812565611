/**
 * Backup: source → chunker → chunk id → compress → encrypt → pack → storage → commit point.
 * Objects are immutable and the point is written last, so a failed run leaves only
 * unreferenced packs (which `check` reports) and no visible point.
 */
import { aesGcmCipher, checksumCipher, type ObjectCipher } from './crypto/cipher.ts';
import { DEFAULT_KDF_PARAMS, derivePasswordHash, type KdfParams, SALT_BYTES, sameKdfParams } from './crypto/kdf.ts';
import { derivePasswordKeys, newSecretKey, type PasswordKeys, wrapKey } from './crypto/keys.ts';
import { sealStream } from './crypto/stream.ts';
import { BunkerError, type ErrorCode, isBunkerError, throwIfCancelled } from './errors.ts';
import { bytesEqual, discard, randomBytes, randomId, toBase64 } from './format/bytes.ts';
import { encodeDocument } from './format/document.ts';
import type { KeySource, PasswordKeyResolver } from './key-resolver.ts';
import type { KmsClient } from './kms/kms-client.ts';
import { type PointKms, wrapPasswordHash } from './kms/kms-wrap.ts';
import { MANIFEST_VERSION } from './manifest.ts';
import { ParentFiles } from './parent-files.ts';
import { TreeWriter } from './tree-writer.ts';
import type { MetadataPlaintext } from './metadata-text.ts';
import { BLOB_OVERHEAD_BYTES, PACK_HEADER_BYTES, packKey, PackBuilder } from './repo/pack.ts';
import { type PointBody, type PointEncryption, type PointRecord, type PointStats, POINT_MAGIC, POINT_VERSION, pointKey } from './repo/recovery-point.ts';
import { encodeRunIndex, indexKey } from './repo/run-index.ts';
import { ChunkIndex } from './repo/chunk-index.ts';
import { type Repository, seriesContext, type SeriesContext, type UnlockedPoint } from './repository.ts';
import type { BatchItem, RunSealer } from './chunk-sealer.ts';
import type { FileReader, Source, SourceEntry } from './source.ts';
import { prefetch } from './prefetch.ts';
import { Profile } from './profile.ts';

/** A batch is sent to a sealing thread once it holds this many bytes (or MAX_BATCH_ITEMS chunks). */
const DISPATCH_BATCH_BYTES = 512 * 1024;
const MAX_BATCH_ITEMS = 256;
const PACK_WRITES_AT_ONCE = 3;
/** Run index, manifest and FSI: zstd level 3 (FORMAT.md §4.3). */
const METADATA_ZSTD_LEVEL = 3;

/** What a parent's unreadable manifest or index is reported as: the run continues from an earlier point. */
const PARENT_DAMAGE: ReadonlySet<ErrorCode> = new Set(['TAMPERED', 'NOT_FOUND', 'CORRUPTED_POINT', 'UNSAFE_PATH']);

/** Files up to this size are read whole, several at once, ahead of the pipeline. */
const SMALL_FILE_BYTES = 1024 * 1024;

/**
 * A file's mtime is trusted to tell it unchanged only when it is older than the parent run's
 * start by this much. A file written again within one tick of the file system's clock keeps
 * its mtime (ext4's clock is coarse: a few ms; FAT's is 2 s), so one rewritten at the same
 * size while the parent ran, after the walk saw it, would otherwise never be read again.
 * Not covered, as in restic: an mtime set back by hand, and a network file system whose
 * server's clock is more than the margin behind ours.
 */
const RACY_MARGIN_MS = 2000;

/**
 * When the files of `point` were read, at the latest: `stats.startedAt`, else (points from
 * before it) `createdAt` - `durationMs`; 0 when neither is usable, so that no mtime is trusted.
 * stats are not validated when a point is read (FORMAT.md §6.3).
 */
export function runStart(point: PointRecord): number {
  const { startedAt, durationMs } = point.body.stats as { startedAt?: unknown; durationMs?: unknown };
  if (typeof startedAt === 'number' && Number.isFinite(startedAt)) return Math.max(0, startedAt);
  const started = typeof durationMs === 'number' && durationMs >= 0 ? Date.parse(point.body.createdAt) - durationMs : NaN;
  return Number.isFinite(started) ? Math.max(0, started) : 0;
}

/** Files with an mtime from this time on are read again, whatever the parent says (see RACY_MARGIN_MS). */
export function racyFrom(parent: PointRecord): number {
  return runStart(parent) - RACY_MARGIN_MS;
}

export interface BackupOptions {
  /** The backup series (`--name`); points of one series share keys and dedup. */
  readonly series: string;
  readonly encrypt: boolean;
  /** zstd level, or undefined for no compression. */
  readonly compressionLevel: number | undefined;
  /** Needed when encrypting (it unlocks the parent point, and asks for a new series' password). */
  readonly resolver?: PasswordKeyResolver;
  /**
   * A password hash known already (a named password from the product catalog), used instead
   * of asking for a password. A new series takes its salt and KDF parameters. A continuing
   * series whose parent was written under another salt (the password was rotated) keeps its
   * master secret M, and the new point wraps M and every DEK under this hash's KEK, so dedup
   * survives the rotation and the parent stays readable with the old hash.
   */
  readonly passwordHash?: { readonly hash: Uint8Array; readonly salt: Uint8Array; readonly kdf: KdfParams; readonly source: KeySource };
  /**
   * AWS KMS protection (FORMAT.md §6.4): H is also encrypted under this key into the point's
   * `encryption.kms`. Asked before any data is read, so a KMS failure (a KmsError) stops the
   * run before it writes anything. Ignored for an unencrypted backup.
   */
  readonly kms?: { readonly client: KmsClient; readonly keyId: string; readonly timeoutMs?: number };
  /** KDF parameters for a new series (tests pass small ones). */
  readonly kdf?: KdfParams;
  /** Write the file-system index (default true). */
  readonly fsi?: boolean;
  /** Chunks in flight at once (default: twice the codec threads, plus two). */
  readonly concurrency?: number;
  readonly onProgress?: (progress: BackupProgress) => void;
  /** Called for entries the source skipped or could not read; the backup goes on. */
  readonly onWarning?: (message: string) => void;
  /** Aborting stops the backup with CANCELLED before its point is written: nothing is committed. */
  readonly signal?: AbortSignal;
  /**
   * For a copy: when the source's files were read (runStart of the source point). The point
   * records the earlier of it and this run's start, so that a later run does not trust an mtime
   * the source's run could have seen change.
   */
  readonly filesReadFrom?: number;
  /** Collects time per pipeline stage (`--profile`). */
  readonly profile?: Profile;
}

export interface BackupProgress {
  readonly files: number;
  readonly bytesRead: number;
  readonly bytesSkipped: number;
  readonly bytesAdded: number;
  readonly currentPath: string;
}

export interface BackupResult {
  readonly pointId: string;
  readonly series: string;
  readonly parentId: string | null;
  readonly stats: PointStats;
  readonly keySource: string;
  /** Milliseconds per stage, when a profile was requested. */
  readonly profile?: Record<string, number>;
}

interface RunKeys {
  readonly encryption: 'none' | 'password';
  readonly cipher: ObjectCipher;
  readonly dek?: Uint8Array;
  readonly passwordKeys?: PasswordKeys;
  /** H, for KMS protection of the point. */
  readonly hash?: Uint8Array;
  readonly salt?: Uint8Array;
  readonly kdf?: KdfParams;
  readonly masterSecret?: Uint8Array;
  readonly series: SeriesContext;
  readonly parentRuns: readonly string[];
  readonly parentDataKeys: ReadonlyMap<string, Uint8Array>;
  readonly keySource: string;
}

/** Fixed-size buffers reused for chunks in flight: fresh memory is expensive on the hot path. */
class ChunkBufferPool {
  private readonly free: Uint8Array[] = [];
  private readonly waiters: ((buffer: Uint8Array) => void)[] = [];
  failure: unknown;

  constructor(count: number, sizeBytes: number) {
    for (let i = 0; i < count; i++) this.free.push(new Uint8Array(sizeBytes));
  }

  acquire(): Promise<Uint8Array> {
    const buffer = this.free.pop();
    return buffer ? Promise.resolve(buffer) : new Promise((resolve) => this.waiters.push(resolve));
  }

  release(buffer: Uint8Array): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(buffer);
    else this.free.push(buffer);
  }
}

export async function backup(repo: Repository, source: Source, options: BackupOptions): Promise<BackupResult> {
  const startedAt = Date.now();
  const startedAtMonotonic = performance.now();
  checkSeriesName(options.series);
  // The walk starts now (directory listings and metadata, no file contents), while the keys are
  // derived and the parent point is loaded: on a cold cache it is most of a rerun's time. A
  // sequential source (a stream) is left alone until it is read.
  const sourceEntries = source.entries()[Symbol.asyncIterator]();
  const firstEntry = source.sequential === true ? undefined : sourceEntries.next();
  firstEntry?.catch(() => undefined);
  let parent: PointRecord | undefined, unlockedParent: UnlockedPoint | undefined, keys: RunKeys, kms: PointKms | undefined;
  let parentIndex = new ChunkIndex();
  let parentFiles = new ParentFiles();
  try {
    const points = await repo.listPoints(options.series);
    checkEncryptionMatches(points.at(-1), options);
    // The parent is the latest point whose manifest and indexes read. One damaged object must not
    // stop every later backup of the series: the run goes on from an earlier point, so the
    // damaged run is no part of the new point, and what it held is read and stored again.
    let damage: BunkerError | undefined;
    let latest: UnlockedPoint | undefined;
    // Runs whose index failed: every point that names one fails the same way, and is passed over
    // unread (a series' points name all earlier runs, so one bad index would otherwise cost a
    // read of every later point's index chain).
    const damagedRuns = new Set<string>();
    for (let i = points.length - 1; i >= 0 && parent === undefined; i--) {
      const candidate = points[i]!;
      if (candidate.body.runs.some((run) => damagedRuns.has(run))) continue;
      let unlocked: UnlockedPoint;
      try {
        unlocked = await repo.unlock(candidate, options.resolver);
      } catch (error) {
        // An earlier point under a password since changed: the damage is the problem to report.
        if (damage !== undefined && isBunkerError(error) && (error.code === 'WRONG_PASSWORD' || error.code === 'PASSWORD_REQUIRED')) throw damage;
        throw error;
      }
      latest ??= unlocked;
      try {
        ({ index: parentIndex, files: parentFiles } = await readParent(repo, unlocked));
      } catch (error) {
        if (!isBunkerError(error) || !PARENT_DAMAGE.has(error.code)) throw error;
        damage ??= error;
        if (error.object?.startsWith('index/')) damagedRuns.add(error.object.slice('index/'.length));
        options.onWarning?.(`point ${candidate.body.id.slice(0, 12)} of backup "${options.series}" cannot be read (${error.message}); ` +
          `${i > 0 ? 'trying an earlier one as the parent' : 'no earlier point to continue from'} (run "bunker check")`);
        continue;
      }
      parent = candidate;
      unlockedParent = unlocked;
    }
    // Not one point of the series reads: a new series under the same name would not share its keys.
    if (damage !== undefined && parent === undefined) throw damage;
    // The password is the latest point's, though the runs are the parent's: a fallback must not
    // take the series back to a password it has since changed from.
    keys = await runKeys(repo, unlockedParent, options, latest);
    kms = options.kms === undefined || keys.encryption === 'none' ? undefined
      : await wrapPasswordHash(options.kms.client, { keyId: options.kms.keyId, hash: keys.hash!, repositoryId: repo.config.id, salt: keys.salt! }, options.kms);
  } catch (error) {
    await sourceEntries.return?.(undefined);
    throw error;
  }

  const runId = randomId();
  const pointId = randomId();
  const newIndex = new ChunkIndex();
  const { chunker } = keys.series;
  const maxChunk = chunker.params.maxBytes;
  // Batches in flight: enough to keep every sealing thread busy while the next batch fills.
  const concurrency = Math.max(1, options.concurrency ?? 2 * repo.codecs.threads + 2);
  const pool = new ChunkBufferPool(concurrency + 1, maxChunk);
  const inflight = new Set<Promise<void>>();
  let counter = 0;
  // Pack buffers: one filling, the others being written; each holds the target plus one more
  // blob of the largest kind (a raw maximum-size chunk and its overhead).
  const packBufferBytes = repo.config.packTargetBytes + maxChunk + PACK_HEADER_BYTES + BLOB_OVERHEAD_BYTES;
  const freePackBuffers: Uint8Array[] = [];
  const takePackBuffer = (): Uint8Array => freePackBuffers.pop() ?? new Uint8Array(packBufferBytes);
  let pack = new PackBuilder(takePackBuffer());
  let packId = randomId();
  // Pack writes in flight (each fsyncs): a few at once keep the disk busy without holding much.
  const packWrites: Promise<void>[] = [];
  const stats = { files: 0, dirs: 0, symlinks: 0, bytes: 0, filesNew: 0, filesChanged: 0, filesUnchanged: 0, bytesRead: 0, bytesAdded: 0, chunksNew: 0 };
  let bytesSkipped = 0;

  const profile = options.profile ?? new Profile();
  const put = async (key: string, data: Uint8Array): Promise<void> => {
    if (await profile.time('write', repo.storage.put(key, data))) stats.bytesAdded += data.length;
  };

  // The first failed pack write stops everything after it: no later pack, index or point is written.
  let packWriteFailure: unknown;
  const flushPack = async (): Promise<void> => {
    if (packWriteFailure !== undefined) throw packWriteFailure;
    if (pack.blobCount === 0) return;
    const full = pack;
    const key = packKey(packId);
    while (packWrites.length >= Math.min(PACK_WRITES_AT_ONCE, concurrency)) await packWrites.shift();
    if (packWriteFailure !== undefined) throw packWriteFailure;
    pack = new PackBuilder(takePackBuffer());
    packId = randomId();
    // The buffer is reused once the storage has it (put copies or writes it before resolving).
    const write = put(key, full.bytes()).then(
      () => void freePackBuffers.push(full.release()),
      (error: unknown) => {
        packWriteFailure ??= error;
        pool.failure ??= error;
        throw error;
      },
    );
    write.catch(() => undefined);
    packWrites.push(write);
  };

  // Started on the first batch: a rerun that reads nothing never pays for handing the keys and
  // the parent's chunk ids to the sealing threads.
  let sealerStarted: Promise<RunSealer> | undefined;
  const sealer = (): Promise<RunSealer> => (sealerStarted ??= repo.codecs.startRun({
    chunkIdAlgorithm: repo.config.chunkIdAlgorithm,
    ...(keys.series.chunkIdKey ? { chunkIdKey: keys.series.chunkIdKey } : {}),
    ...(keys.dek ? { dataKey: keys.dek } : {}),
    level: options.compressionLevel,
  }, parentIndex));

  // Chunks travel in batches (one buffer, many small chunks), so a tree of small files costs
  // one message per batch, not per file. Each slot says where a chunk's id belongs.
  interface Batch {
    buffer: Uint8Array;
    used: number;
    items: BatchItem[];
    slots: { chunks: string[]; slot: number }[];
  }
  let batch: Batch | undefined;

  // Batches are appended to packs in order, whatever order the threads finish in, so pack
  // contents do not depend on the worker count and restores read packs sequentially.
  let appendTail: Promise<void> = Promise.resolve();

  const sealBatch = async (current: Batch, previousAppend: Promise<void>): Promise<void> => {
    let held: Uint8Array | undefined = current.buffer;
    try {
      const { results, buffer, timings } = await profile.time('seal', sealer().then((run) => run.sealBatch(current.buffer, current.items)));
      profile.add('hash', timings.hash);
      profile.add('compress', timings.compress);
      profile.add('encrypt', timings.encrypt);
      held = buffer;
      pool.release(buffer);
      held = undefined;
      await previousAppend;
      for (let i = 0; i < results.length; i++) {
        const r = results[i]!;
        const target = current.slots[i]!;
        target.chunks[target.slot] = r.id;
        // Stored already (parent, or earlier in this run): only the reference is kept.
        if (r.blob === undefined) continue;
        if (parentIndex.has(r.id) || newIndex.has(r.id)) {
          discard(r.blob);
          continue;
        }
        const offset = pack.add(r.blob);
        newIndex.set(r.id, { packId, offset, length: r.blob.length, rawLength: r.rawLength, codec: r.codec, runId });
        discard(r.blob);
        stats.chunksNew++;
        if (pack.sizeBytes >= repo.config.packTargetBytes) await flushPack();
      }
    } finally {
      // A buffer lost to a failed worker is replaced, so waiting readers never hang.
      if (held !== undefined) pool.release(held.byteLength === 0 ? new Uint8Array(maxChunk) : held);
    }
  };

  const dispatch = (): void => {
    const current = batch;
    batch = undefined;
    if (current === undefined || current.items.length === 0) {
      if (current) pool.release(current.buffer);
      return;
    }
    const previous = appendTail;
    const task = sealBatch(current, previous);
    appendTail = task.catch(() => undefined);
    const tracked = task.then(
      () => void inflight.delete(tracked),
      (error) => {
        inflight.delete(tracked);
        pool.failure ??= error;
      },
    );
    inflight.add(tracked);
  };

  /** Copies one chunk into the current batch, dispatching batches as they fill. */
  const addChunk = async (data: Uint8Array, chunks: string[], slot: number): Promise<void> => {
    if (batch !== undefined && (batch.used + data.length > batch.buffer.length || batch.items.length >= MAX_BATCH_ITEMS)) dispatch();
    if (batch === undefined) {
      const buffer = await profile.time('wait', pool.acquire());
      if (pool.failure !== undefined) {
        pool.release(buffer);
        throw pool.failure;
      }
      batch = { buffer, used: 0, items: [], slots: [] };
    }
    batch.buffer.set(data, batch.used);
    batch.items.push({ offset: batch.used, length: data.length, nonceCounter: counter++ });
    batch.slots.push({ chunks, slot });
    batch.used += data.length;
    // A large chunk is worth a message of its own: send it now rather than wait for company.
    if (batch.used >= DISPATCH_BATCH_BYTES) dispatch();
  };

  const readBuffer = new Uint8Array(maxChunk * 2);

  /** Reads, chunks and dispatches one file; returns its number of chunks. */
  const backupFile = async (opening: Promise<FileReader>, chunks: string[]): Promise<number> => {
    const reader = await profile.time('read', opening);
    try {
      let start = 0;
      let end = 0;
      let isEnd = false;
      let slot = 0;
      for (;;) {
        while (!isEnd && end - start < maxChunk) {
          if (end === readBuffer.length) {
            readBuffer.copyWithin(0, start, end);
            end -= start;
            start = 0;
          }
          const n = await profile.time('read', reader.read(readBuffer.subarray(end)));
          if (n === 0) isEnd = true;
          end += n;
          stats.bytesRead += n;
        }
        if (end === start) break;
        // A large file stops at its next chunk, not at its end.
        throwIfCancelled(options.signal, 'the backup');
        const cutStarted = performance.now();
        const cut = chunker.nextCut(readBuffer, start, end, isEnd);
        profile.add('chunk', performance.now() - cutStarted);
        await addChunk(readBuffer.subarray(start, start + cut), chunks, slot++);
        start += cut;
      }
      return slot;
    } finally {
      await reader.close();
    }
  };

  /** A file read whole ahead of time: chunked where it lies, not copied through readBuffer first. */
  const backupBytes = async (bytes: Uint8Array, chunks: string[]): Promise<number> => {
    stats.bytesRead += bytes.length;
    let slot = 0;
    for (let start = 0; start < bytes.length; slot++) {
      const cutStarted = performance.now();
      const cut = chunker.nextCut(bytes, start, bytes.length, true);
      profile.add('chunk', performance.now() - cutStarted);
      await addChunk(bytes.subarray(start, start + cut), chunks, slot);
      start += cut;
    }
    return slot;
  };

  const metadataZstd = repo.metadataZstd;
  const tree = new TreeWriter({ version: MANIFEST_VERSION, sources: source.sources, host: source.host }, options.fsi !== false, {
    ...(metadataZstd.frameWriter ? { openFrame: () => metadataZstd.frameWriter!(METADATA_ZSTD_LEVEL) } : {}),
  });
  const trustMtimesBefore = parent === undefined ? -Infinity : racyFrom(parent);
  const isUnchangedFile = (entry: SourceEntry, previous = parentFiles.find(entry.path)): boolean =>
    previous !== -1 && entry.mtimeMs < trustMtimesBefore && parentFiles.isUnchanged(previous, entry.size, entry.mtimeMs, entry.inode, parentIndex);
  const walk = prefetch(resumed(sourceEntries, firstEntry), {
    smallFileBytes: SMALL_FILE_BYTES,
    maxEntries: 256,
    maxBytes: 32 * 1024 * 1024,
    shouldRead: (entry) => !isUnchangedFile(entry),
    sequential: source.sequential === true,
  })[Symbol.asyncIterator]();
  // On failure, nothing may still be writing once backup() returns: a caller that repairs the
  // repository or retries must not race a pack write from the failed run.
  const settleAll = async (): Promise<void> => {
    tree.close();
    await walk.return?.(undefined);
    while (inflight.size > 0) await Promise.allSettled([...inflight]);
    await Promise.allSettled(packWrites);
    if (sealerStarted !== undefined) await sealerStarted.then((run) => run.close()).catch(() => undefined);
  };
  try {
    for (;;) {
      const walked = await profile.time('walk', walk.next());
      if (walked.done) break;
      const { entry, content, willRead } = walked.value;
      if (pool.failure !== undefined) throw pool.failure;
      // A cancel stops the run at the next entry, not after reading everything.
      throwIfCancelled(options.signal, 'the backup');
      const base = {
        path: entry.path, type: entry.type, mode: entry.mode, mtimeMs: entry.mtimeMs, size: entry.size,
        // Owner and group go together (a restore sets both or neither): one object per entry, not two.
        ...(entry.uid === undefined || entry.gid === undefined ? {} : { uid: entry.uid, gid: entry.gid }),
      };
      if (entry.type === 'dir') {
        stats.dirs++;
        tree.add(base);
        continue;
      }
      if (entry.type === 'symlink') {
        stats.symlinks++;
        tree.add({ ...base, target: entry.target! });
        continue;
      }
      stats.files++;
      const previous = parentFiles.find(entry.path);
      // Read-ahead has asked already for the files it may read: not asked twice.
      const unchanged = previous !== -1 && (willRead === undefined ? isUnchangedFile(entry, previous) : !willRead);
      if (unchanged) {
        stats.filesUnchanged++;
        bytesSkipped += entry.size;
        stats.bytes += entry.size;
        tree.add({ ...base, ...(entry.inode === undefined ? {} : { inode: entry.inode }), chunks: parentFiles.chunkIds(previous) });
      } else {
        if (previous === -1) stats.filesNew++;
        else stats.filesChanged++;
        const chunks: string[] = [];
        const pending = tree.addPending({ ...base, ...(entry.inode === undefined ? {} : { inode: entry.inode }), chunks });
        const before = stats.bytesRead;
        let chunkCount: number;
        try {
          const bytes = content === undefined ? undefined : await profile.time('read', content);
          if (bytes instanceof Error) throw bytes;
          chunkCount = bytes === undefined ? await backupFile(entry.open!(), chunks) : await backupBytes(bytes, chunks);
        } catch (error) {
          if (error instanceof BunkerError || pool.failure !== undefined) throw error;
          // The file vanished or became unreadable between listing and reading.
          options.onWarning?.(`could not read ${entry.path}: ${error instanceof Error ? error.message : String(error)}; skipped`);
          pending.drop();
          stats.files--;
          if (previous === -1) stats.filesNew--;
          else stats.filesChanged--;
          continue;
        }
        // A file that changed size while being read is recorded with what was read.
        const readBytes = stats.bytesRead - before;
        if (readBytes !== entry.size && entry.sizeUnknown !== true) options.onWarning?.(`${entry.path} changed while it was read (${entry.size} → ${readBytes} bytes)`);
        pending.read(chunkCount, readBytes === entry.size ? undefined : readBytes);
        stats.bytes += readBytes;
      }
      options.onProgress?.({ files: stats.files, bytesRead: stats.bytesRead, bytesSkipped, bytesAdded: stats.bytesAdded, currentPath: entry.path });
    }
    dispatch();
    while (inflight.size > 0) await Promise.race(inflight);
    if (pool.failure !== undefined) throw pool.failure;
    await flushPack();
    for (const write of packWrites) await write;
    if (packWriteFailure !== undefined) throw packWriteFailure;
  } catch (error) {
    await settleAll();
    throw error;
  }
  let plaintexts: ReturnType<TreeWriter['finish']>;
  try {
    if (sealerStarted !== undefined) await (await sealerStarted).close();
    throwIfCancelled(options.signal, 'the backup');
    plaintexts = tree.finish();
  } finally {
    tree.close();
  }
  // Index, manifest, FSI, then the point: the commit.
  // Metadata is compressed where the chunks were: on the codec threads when this run started
  // them (a large manifest would otherwise grow this thread's WebAssembly memory for good, and
  // it is never returned), inline when it read nothing.
  const compressed = async (plaintext: Uint8Array): Promise<{ payload: Uint8Array; codec: 0 | 1 }> => {
    if (sealerStarted === undefined) {
      const payload = repo.metadataZstd.compress(plaintext, METADATA_ZSTD_LEVEL);
      discard(plaintext);
      return { payload, codec: 1 };
    }
    const { codec, payload, buffer } = await repo.codecs.compress(plaintext, plaintext.length, METADATA_ZSTD_LEVEL);
    if (codec === 1) discard(buffer);
    return { payload, codec };
  };
  // Each object's buffers are let go once it is stored, not at the next collection: at the end
  // of a large run they are tens of MB, and this is where a run's memory peaks.
  const storeMetadata = async (kind: 'index' | 'manifest' | 'fsi', key: string, objectId: string, plaintext: MetadataPlaintext): Promise<number> => {
    const { payload, codec } = plaintext.kind === 'zstd' ? { payload: plaintext.frame, codec: 1 as const } : await compressed(plaintext.bytes);
    const sealed = await sealStream(keys.cipher, kind, objectId, payload, codec);
    discard(payload);
    await put(key, sealed);
    const { length } = sealed;
    discard(sealed);
    return length;
  };
  await storeMetadata('index', indexKey(runId), runId, { kind: 'raw', bytes: encodeRunIndex(newIndex) });
  const manifestBytes = await storeMetadata('manifest', `trees/${pointId}`, pointId, plaintexts.manifest);
  let fsiRef: PointBody['fsi'] = null;
  if (plaintexts.fsi !== undefined) {
    fsiRef = { key: `fsi/${pointId}`, sizeBytes: await storeMetadata('fsi', `fsi/${pointId}`, pointId, plaintexts.fsi) };
  }
  const runs = [...keys.parentRuns, runId];
  const finishedAt = Date.now();
  const durationMs = performance.now() - startedAtMonotonic;
  // The earliest of the clock's start, the start the monotonic clock implies (should the wall
  // clock have been set back meanwhile) and, for a copy, the start of the run that read the files.
  const readFrom = Math.floor(Math.min(startedAt, finishedAt - durationMs, options.filesReadFrom ?? Infinity));
  const finalStats: PointStats = { ...stats, durationMs: Math.round(durationMs), startedAt: Math.max(0, readFrom) };
  const body: PointBody = {
    id: pointId,
    repository: repo.config.id,
    series: options.series,
    createdAt: new Date().toISOString(),
    parent: parent?.body.id ?? null,
    run: runId,
    runs,
    encryption: await pointEncryption(keys, pointId, runId, runs, kms),
    manifest: { key: `trees/${pointId}`, sizeBytes: manifestBytes },
    fsi: fsiRef,
    stats: finalStats,
  };
  throwIfCancelled(options.signal, 'the backup');
  const document = await encodeDocument(POINT_MAGIC, POINT_VERSION, body, keys.passwordKeys?.pointMacKey);
  if (!(await repo.storage.put(pointKey(pointId), document))) throw new Error('internal error: point id collision');
  return { pointId, series: options.series, parentId: body.parent, stats: finalStats, keySource: keys.keySource, ...(options.profile ? { profile: options.profile.rounded() } : {}) };
}

/** The parent's chunk index and its files; the manifest's entries are not kept as objects. */
async function readParent(repo: Repository, parent: UnlockedPoint): Promise<{ index: ChunkIndex; files: ParentFiles }> {
  const files = new ParentFiles();
  // Both at once: one's disk reads overlap the other's decoding.
  const [index] = await Promise.all([repo.readIndex(parent), repo.scanManifest(parent, (entry) => files.add(entry))]);
  return { index, files };
}

/** The rest of an iteration whose first step was taken early. */
async function* resumed<T>(iterator: AsyncIterator<T>, first: Promise<IteratorResult<T>> | undefined): AsyncGenerator<T> {
  try {
    for (let step = await (first ?? iterator.next()); !step.done; step = await iterator.next()) yield step.value;
  } finally {
    await iterator.return?.(undefined);
  }
}

export function checkSeriesName(name: string): void {
  if (!/^[A-Za-z0-9._@:+-][A-Za-z0-9._@:+ -]{0,127}$/.test(name)) {
    throw new BunkerError('USAGE', `backup name ${JSON.stringify(name)} is invalid: use 1-128 letters, digits, spaces and . _ @ : + -`);
  }
}

function checkEncryptionMatches(parent: PointRecord | undefined, options: BackupOptions): void {
  if (parent !== undefined && (parent.body.encryption !== null) !== options.encrypt) {
    throw new BunkerError('USAGE', `backup "${options.series}" is ${parent.body.encryption ? 'encrypted' : 'unencrypted'}; ` +
      `its points cannot switch (use another --name for ${options.encrypt ? 'an encrypted' : 'an unencrypted'} backup)`);
  }
}

async function runKeys(repo: Repository, parent: UnlockedPoint | undefined, options: BackupOptions, passwordFrom: UnlockedPoint | undefined = parent): Promise<RunKeys> {
  if (!options.encrypt) {
    return { encryption: 'none', cipher: checksumCipher, series: await seriesContext(repo.config, undefined), parentRuns: parent?.record.body.runs ?? [], parentDataKeys: new Map(), keySource: 'none' };
  }
  const given = options.passwordHash;
  if (options.resolver === undefined && given === undefined) throw new Error('internal error: encrypted backup without a key resolver');
  const dek = newSecretKey();
  if (parent !== undefined) {
    const latest = passwordFrom ?? parent;
    const parentSalt = latest.record.salt!;
    const parentKdf = latest.record.body.encryption!.kdf;
    const isSamePassword = given === undefined || (bytesEqual(given.salt, parentSalt) && sameKdfParams(given.kdf, parentKdf));
    return {
      encryption: 'password', cipher: await aesGcmCipher(dek), dek,
      ...(isSamePassword
        ? { passwordKeys: latest.passwordKeys!, hash: latest.passwordHash!, salt: parentSalt, kdf: parentKdf, keySource: latest.keySource }
        // Another password than the parent's: same M and DEKs, wrapped under the new KEK (pointEncryption).
        : { passwordKeys: await derivePasswordKeys(given.hash), hash: given.hash, salt: given.salt, kdf: given.kdf, keySource: given.source }),
      masterSecret: parent.masterSecret!, series: parent.series, parentRuns: parent.record.body.runs, parentDataKeys: parent.dataKeys,
    };
  }
  let hash: Uint8Array, salt: Uint8Array, kdf: KdfParams, keySource: string;
  if (given !== undefined) {
    ({ hash, salt, kdf } = given);
    keySource = given.source;
  } else {
    const password = await options.resolver!.newPassword(options.series);
    salt = randomBytes(SALT_BYTES);
    kdf = options.kdf ?? DEFAULT_KDF_PARAMS;
    hash = await derivePasswordHash(password, salt, kdf);
    keySource = 'password';
  }
  const passwordKeys = await derivePasswordKeys(hash);
  options.resolver?.remember(salt, kdf, passwordKeys.verifier, hash, passwordKeys);
  const masterSecret = newSecretKey();
  return {
    encryption: 'password', cipher: await aesGcmCipher(dek), dek, passwordKeys, hash, salt, kdf, masterSecret,
    series: await seriesContext(repo.config, masterSecret), parentRuns: [], parentDataKeys: new Map(), keySource,
  };
}

async function pointEncryption(keys: RunKeys, pointId: string, runId: string, runs: readonly string[], kms: PointKms | undefined): Promise<PointEncryption | null> {
  if (keys.encryption === 'none') return null;
  const kek = keys.passwordKeys!.kek;
  const wrapped: string[] = [];
  for (const run of runs) {
    const dek = run === runId ? keys.dek! : keys.parentDataKeys.get(run);
    if (dek === undefined) throw new Error('internal error: missing data key for a parent run');
    wrapped.push(toBase64(await wrapKey(kek, 'dek', pointId, run, dek)));
  }
  return {
    kdf: keys.kdf!,
    salt: toBase64(keys.salt!),
    verifier: toBase64(keys.passwordKeys!.verifier),
    master: toBase64(await wrapKey(kek, 'master', pointId, runId, keys.masterSecret!)),
    keys: wrapped,
    ...(kms === undefined ? {} : { kms }),
  };
}
