/**
 * A recovery point read back as a backup Source: what `copy` feeds to backup() on another
 * repository. Entries come from the point's manifest, in its order; each file's content is
 * its chunks, read, authenticated and decompressed on demand (a file is opened when the
 * backup reaches it, so nothing is held beyond the backup's own read-ahead).
 */
import type { Manifest } from './manifest.ts';
import type { Repository, UnlockedPoint } from './repository.ts';
import { checkChunks, planChunks, readChunks, selectEntries } from './restore.ts';
import { iterableReader, type Source, type SourceEntry } from './source.ts';

export interface PointSource extends Source {
  /** The manifest read (available once entries() started). */
  readonly manifest: () => Manifest | undefined;
}

export function pointSource(repo: Repository, point: UnlockedPoint, options: { include?: readonly string[] } = {}): Promise<PointSource> {
  return (async () => {
    const manifest = await repo.readManifest(point);
    const index = await repo.readIndex(point);
    const entries = selectEntries(manifest, options.include);
    // Every file's chunks are checked against the index before anything is read or written.
    checkChunks(entries, index, point.id);
    return {
      sources: manifest.header.sources,
      host: manifest.header.host,
      manifest: () => manifest,
      async *entries(): AsyncGenerator<SourceEntry> {
        for (const entry of entries) {
          const base = { path: entry.path, type: entry.type, mode: entry.mode, mtimeMs: entry.mtimeMs, size: entry.size,
            ...(entry.uid === undefined || entry.gid === undefined ? {} : { uid: entry.uid, gid: entry.gid }),
            ...(entry.inode === undefined ? {} : { inode: entry.inode }),
          };
          if (entry.type === 'file') {
            yield { ...base, open: async () => iterableReader(readChunks(repo, point, planChunks([entry], index, point.id), { concurrency: 4 })) };
          } else if (entry.type === 'symlink') {
            yield { ...base, target: entry.target! };
          } else {
            yield base;
          }
        }
      },
    };
  })();
}
