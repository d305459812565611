/** Browsing and searching the file-system index of recovery points. */
import picomatch from 'picomatch';
import { BunkerError, isBunkerError } from './errors.ts';
import { type FsiEntry, fsiFromManifest } from './fsi.ts';
import type { KeyResolver } from './key-resolver.ts';
import type { Repository, UnlockedPoint } from './repository.ts';
import type { PointRecord } from './repo/recovery-point.ts';

/** A recovery point as listed: what its public metadata says, no key material. */
export interface PointSummary {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  readonly parent: string | null;
  readonly encrypted: boolean;
  readonly files: number;
  readonly bytes: number;
  readonly bytesAdded: number;
}

export function summarizePoint({ body }: PointRecord): PointSummary {
  return {
    id: body.id, name: body.series, createdAt: body.createdAt, parent: body.parent, encrypted: body.encryption !== null,
    files: body.stats.files, bytes: body.stats.bytes, bytesAdded: body.stats.bytesAdded,
  };
}

/**
 * The point's listing: its FSI, or the manifest when the point was made with --no-fsi, or when
 * its FSI is damaged or missing (then `onWarning` is told): the FSI only speeds listings up, and
 * the manifest, which restores read, says the same.
 */
export async function pointListing(repo: Repository, point: UnlockedPoint, onWarning?: (message: string) => void): Promise<FsiEntry[]> {
  let fsi: FsiEntry[] | undefined;
  try {
    fsi = await repo.readFsi(point);
  } catch (error) {
    if (!isBunkerError(error) || error.object !== `fsi/${point.id}`) throw error;
    onWarning?.(`${error.message}; listing point ${point.id.slice(0, 12)} from its manifest instead`);
  }
  return fsi ?? fsiFromManifest((await repo.readManifest(point)).entries);
}

/** Entries directly under `path` ('' for the top level), or the entry itself if it is not a directory. */
export function listDirectory(listing: readonly FsiEntry[], path = ''): FsiEntry[] {
  const dir = path.replace(/^\/+|\/+$/g, '');
  if (dir !== '') {
    const self = listing.find((e) => e.path === dir);
    if (self === undefined) throw new BunkerError('NOT_FOUND', `${JSON.stringify(path)} is not in this recovery point`);
    if (self.type !== 'dir') return [self];
  }
  const prefix = dir === '' ? '' : dir + '/';
  return listing.filter((e) => e.path.startsWith(prefix) && e.path.length > prefix.length && !e.path.slice(prefix.length).includes('/'));
}

export interface FindMatch {
  readonly pointId: string;
  readonly series: string;
  readonly createdAt: string;
  readonly entry: FsiEntry;
}

/**
 * Glob search over the FSI of every point (of `series`, when given). A pattern without '/'
 * matches base names (`*.conf`); with '/', whole paths (`etc/**`).
 */
export async function findFiles(repo: Repository, pattern: string, options: { series?: string; resolver?: KeyResolver; onWarning?: (message: string) => void } = {}): Promise<FindMatch[]> {
  const isMatch = picomatch(pattern, { dot: true, basename: !pattern.includes('/'), windows: false });
  const matches: FindMatch[] = [];
  for (const point of await repo.listPoints(options.series)) {
    const unlocked = await repo.unlock(point, options.resolver);
    for (const entry of await pointListing(repo, unlocked, options.onWarning)) {
      if (isMatch(entry.path)) matches.push({ pointId: point.body.id, series: point.body.series, createdAt: point.body.createdAt, entry });
    }
  }
  return matches;
}
