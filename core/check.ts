/**
 * Repository check: every point parses and authenticates, every object it references is
 * present, every chunk is in an index and its pack; with readData, every chunk is read,
 * authenticated, decompressed and its id recomputed. Also lists unreferenced objects
 * (left by interrupted runs), which are harmless and which prune removes.
 */
import { BunkerError, isBunkerError, throwIfCancelled } from './errors.ts';
import { bytesEqual, discard } from './format/bytes.ts';
import type { KeyResolver } from './key-resolver.ts';
import { PACK_HEADER_BYTES, PACK_MAGIC, packKey } from './repo/pack.ts';
import { type PointRecord, pointKey } from './repo/recovery-point.ts';
import { indexKey } from './repo/run-index.ts';
import type { ChunkIndex } from './repo/chunk-index.ts';
import { RunIndexCache } from './repo/run-index-cache.ts';
import type { Repository, UnlockedPoint } from './repository.ts';
import { type ChunkRef, readChunks } from './restore.ts';

export interface CheckProblem {
  readonly code: string;
  readonly object?: string;
  readonly message: string;
}

export interface CheckReport {
  readonly isOk: boolean;
  readonly points: number;
  readonly chunksChecked: number;
  readonly bytesRead: number;
  readonly problems: readonly CheckProblem[];
  /**
   * Objects no point that could be read references: the remains of interrupted runs, unless
   * pointsUnreadable > 0, when they may belong to the points that could not be read.
   */
  readonly unreferenced: readonly string[];
  /** Points whose document, manifest or index could not be read: what they reference is unknown. */
  readonly pointsUnreadable: number;
}

export interface CheckOptions {
  readonly readData?: boolean;
  /**
   * Check only this backup's points (a repository whose backups have different passwords is
   * checked one backup at a time). Objects are then not sorted into referenced and not: the
   * other backups' points are not read. Point documents that cannot be read are reported still.
   */
  readonly series?: string;
  readonly resolver?: KeyResolver;
  readonly onProgress?: (message: string) => void;
  /** Aborting stops the check with CANCELLED (it writes nothing). */
  readonly signal?: AbortSignal;
}

/** A point whose metadata could not be read (its reasons, in report order): what it references is unknown. */
class PointUnreadable extends Error {
  readonly reasons: readonly unknown[];

  constructor(reasons: readonly unknown[]) {
    super('a point could not be read');
    this.reasons = reasons;
  }
}

/** Points whose metadata is loaded ahead of the one being checked. */
const POINTS_AHEAD = 2;

export async function checkRepository(repo: Repository, options: CheckOptions = {}): Promise<CheckReport> {
  const problems: CheckProblem[] = [];
  const record = (error: unknown): void => {
    if (!(error instanceof BunkerError)) throw error;
    // Not a property of the repository: the caller must fix the password and rerun.
    if (error.code === 'WRONG_PASSWORD' || error.code === 'PASSWORD_REQUIRED') throw error;
    problems.push({ code: error.code, message: error.message, ...(error.object === undefined ? {} : { object: error.object }) });
  };
  const referenced = new Set<string>(['config']);
  const listed = await repo.listPointsTolerant();
  const { errors } = listed;
  const points = options.series === undefined ? listed.points : listed.points.filter((p) => p.body.series === options.series);
  if (options.series !== undefined && points.length === 0) throw new BunkerError('NOT_FOUND', `no backup named ${JSON.stringify(options.series)} in this repository`);
  for (const { id, error } of errors) {
    referenced.add(pointKey(id));
    record(error);
  }
  let chunksChecked = 0;
  let bytesRead = 0;
  let pointsUnreadable = errors.length;
  // Chunk ids a point loaded earlier will read: a later point leaves them out of its own, so each
  // chunk is read once and the points loaded ahead do not each hold the ids they share.
  const claimed = new Set<string>();
  const packEnds = new Map<string, number>();
  // Each run's index is parsed once, however many of the series' points name it, and
  // forgotten once no point left to check names it.
  const runIndexes = new RunIndexCache();
  const namedBy = new Map<string, number>();
  for (const point of points) for (const run of point.body.runs) namedBy.set(run, (namedBy.get(run) ?? 0) + 1);
  const done = (point: PointRecord) => {
    for (const run of point.body.runs) {
      const left = namedBy.get(run)! - 1;
      namedBy.set(run, left);
      if (left === 0) runIndexes.drop(run);
    }
  };
  /** A point's indexed chunk ids no earlier point claimed (each once, in manifest order), and the chunks no index has. */
  type Loaded = { unlocked: UnlockedPoint; ids: Set<string>; missing: CheckProblem[]; index: ChunkIndex; fsiFailure: { error: unknown } | undefined };
  let stopped = false;
  // One point after the other, so that the point to check next is never slowed by parsing a later one.
  const load = (point: PointRecord, after: Promise<Loaded> | undefined): Promise<Loaded> => {
    const loading = (async () => {
      const previous = await after?.then(() => undefined, (error: unknown) => error);
      // A wrong or missing password stops the whole check (see record): no later point may ask
      // for one, and neither may any point once the check has stopped for another reason.
      if (isBunkerError(previous) && (previous.code === 'WRONG_PASSWORD' || previous.code === 'PASSWORD_REQUIRED')) throw previous;
      if (stopped) throw new BunkerError('CANCELLED', 'the check has stopped');
      const unlocked = await repo.unlock(point, options.resolver).catch((error: unknown) => {
        throw isBunkerError(error) && (error.code === 'WRONG_PASSWORD' || error.code === 'PASSWORD_REQUIRED') ? error : new PointUnreadable([error]);
      });
      const indexRead = repo.readIndex(unlocked, runIndexes);
      indexRead.catch(() => undefined); // surfaced below, after any damage to the manifest
      // The manifest is scanned, not kept: only its chunk ids are, matched against the index as
      // they come. Without an index it is still scanned whole, so its own damage is reported.
      const manifestRead = (async () => {
        const reader = await repo.openManifest(unlocked);
        const index = await indexRead.catch(() => undefined);
        // Ids, not refs: a chunk used by many files (the same file in many places) is kept once.
        const ids = new Set<string>();
        const missing: CheckProblem[] = [];
        for (const file of reader.entries()) {
          if (index === undefined) continue;
          for (const id of file.chunks ?? []) {
            if (ids.has(id)) continue;
            if (!index.has(id)) missing.push({ code: 'CORRUPTED_POINT', object: point.body.manifest.key, message: `chunk ${id.slice(0, 16)} of ${JSON.stringify(file.path)} is in no index` });
            else if (options.readData && !claimed.has(id)) ids.add(id);
          }
        }
        return { ids, missing };
      })();
      const [manifest, fsi, index] = await Promise.allSettled([manifestRead, repo.checkFsi(unlocked), indexRead]);
      // Damage is reported in this order, whichever read failed first. A damaged FSI (only a
      // listing aid: restores never read it) is reported, and the point's data still verified.
      if (manifest.status === 'rejected') throw new PointUnreadable([manifest.reason]);
      if (index.status === 'rejected') throw new PointUnreadable(fsi.status === 'rejected' ? [fsi.reason, index.reason] : [index.reason]);
      // Claimed only once the point is sure to be verified: a point that failed to load leaves its
      // chunks to the next point that uses them (the next load starts after this one ends).
      for (const id of manifest.value.ids) claimed.add(id);
      return { unlocked, ...manifest.value, index: index.value, fsiFailure: fsi.status === 'rejected' ? { error: fsi.reason } : undefined };
    })();
    loading.catch(() => undefined); // surfaced when its point's turn comes
    return loading;
  };
  // The next points' metadata is read and parsed while this one's chunks are verified on the
  // codec threads, which would otherwise wait for the main thread between points. A series'
  // first point usually brings most of the data, so its verification hides the parsing of
  // the next two.
  const loads = new Map<number, Promise<Loaded>>();
  let loaded = 0;
  try {
    for (const [p, point] of points.entries()) {
      throwIfCancelled(options.signal, 'the check');
      const body = point.body;
      referenced.add(pointKey(body.id));
      referenced.add(body.manifest.key);
      if (body.fsi) referenced.add(body.fsi.key);
      for (const run of body.runs) referenced.add(indexKey(run));
      options.onProgress?.(`checking point ${body.id.slice(0, 12)} (${body.series})`);
      for (; loaded < points.length && loaded <= p + POINTS_AHEAD; loaded++) loads.set(loaded, load(points[loaded]!, loads.get(loaded - 1)));
      const loading = loads.get(p)!;
      loads.delete(p);
      try {
        const { unlocked, ids, missing, index, fsiFailure } = await loading;
        if (fsiFailure !== undefined) record(fsiFailure.error);
        // Per pack, not per chunk: every point's index holds its series' earlier runs again.
        for (const [packId, end] of index.packEnds()) {
          const key = packKey(packId);
          referenced.add(key);
          packEnds.set(key, Math.max(packEnds.get(key) ?? 0, end));
        }
        problems.push(...missing);
        // Each chunk once, whichever point and file use it (the first point loaded claimed it).
        const refs: ChunkRef[] = [];
        for (const id of ids) refs.push({ id, entry: index.get(id)! });
        if (options.readData) {
          // One pass over every chunk in pack order, ids recomputed by the opening threads; on a
          // failure, pack by pack and then chunk by chunk, so every damaged object is named.
          refs.sort((a, b) => (a.entry.packId < b.entry.packId ? -1 : a.entry.packId > b.entry.packId ? 1 : a.entry.offset - b.entry.offset));
          const verify = async (batch: typeof refs): Promise<{ chunks: number; bytes: number }> => {
            let i = 0;
            let bytes = 0;
            for await (const chunk of readChunks(repo, unlocked, batch, { verifyIds: true })) {
              bytes += batch[i++]!.entry.length;
              discard(chunk); // verified and counted: freed now, not at the next GC
            }
            return { chunks: i, bytes };
          };
          const tally = ({ chunks, bytes }: { chunks: number; bytes: number }) => {
            chunksChecked += chunks;
            bytesRead += bytes;
          };
          try {
            tally(await verify(refs));
          } catch {
            const byPack = new Map<string, typeof refs>();
            for (const ref of refs) {
              const group = byPack.get(ref.entry.packId);
              if (group) group.push(ref);
              else byPack.set(ref.entry.packId, [ref]);
            }
            for (const group of byPack.values()) {
              try {
                tally(await verify(group));
              } catch {
                for (const ref of group) {
                  try {
                    tally(await verify([ref]));
                  } catch (error) {
                    record(error);
                  }
                }
              }
            }
          }
        }
      } catch (error) {
        if (error instanceof PointUnreadable) {
          pointsUnreadable++;
          for (const reason of error.reasons) record(reason);
        } else {
          record(error);
        }
      } finally {
        done(point);
      }
    }
  } finally {
    stopped = true;
  }
  for (const [key, end] of packEnds) {
    try {
      // Restores read blobs by range and never the magic; check it here so no damage goes unseen.
      if (!bytesEqual(await repo.storage.getRange(key, 0, PACK_HEADER_BYTES), PACK_MAGIC)) {
        problems.push({ code: 'TAMPERED', object: key, message: `${key} is damaged (bad pack magic)` });
      }
      if (end > 0) await repo.storage.getRange(key, end - 1, 1);
    } catch (error) {
      record(error);
    }
  }
  const unreferenced: string[] = [];
  for (const prefix of options.series === undefined ? ['points/', 'trees/', 'fsi/', 'index/', 'packs/'] : []) {
    for (const key of await repo.storage.list(prefix)) if (!referenced.has(key)) unreferenced.push(key);
  }
  return { isOk: problems.length === 0, points: points.length + errors.length, chunksChecked, bytesRead, problems, unreferenced, pointsUnreadable };
}
