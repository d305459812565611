/**
 * The manifest (FORMAT.md §9) and FSI (§10) of the point a backup is writing, encoded entry by
 * entry as each one becomes final, in walk order. The run holds their bytes (a few hundred per
 * file) instead of an object per entry until the end, so its memory grows far less with the
 * number of files; where zstd can stream, a large manifest is held compressed (core/metadata-text.ts).
 * The bytes are those of encodeManifest and encodeFsi over the same entries.
 */
import { fsiLine } from './fsi.ts';
import { type ManifestEntry, type ManifestHeader, manifestLine } from './manifest.ts';
import { MetadataText, type MetadataPlaintext, type MetadataTextOptions } from './metadata-text.ts';

/** A file entry whose chunks are still being read and sealed. */
export interface PendingEntry {
  /** Reading is over: `chunkCount` chunk ids will be in the entry's list (`size` corrects the listed size). */
  read(chunkCount: number, size?: number): void;
  /** The file could not be read: it is left out. */
  drop(): void;
}

interface Queued {
  entry: ManifestEntry;
  /** Undefined while the file is being read. */
  chunkCount: number | undefined;
  /** Chunk ids known to be in place so far (they arrive in order). */
  filled: number;
}

export class TreeWriter {
  private readonly manifest: MetadataText;
  private readonly fsi: MetadataText | undefined;
  private readonly queue: Queued[] = [];
  private head = 0;
  entries = 0;

  constructor(header: ManifestHeader, withFsi: boolean, options: MetadataTextOptions = {}) {
    this.manifest = new MetadataText('the manifest', options);
    this.manifest.append(manifestLine(header));
    this.fsi = withFsi ? new MetadataText('the file-system index', options) : undefined;
  }

  /** An entry that is final as it is: a directory, a link, or a file with its whole chunk list. */
  add(entry: ManifestEntry): void {
    this.queue.push({ entry, chunkCount: entry.chunks?.length ?? 0, filled: 0 });
    this.flush();
  }

  /** A file whose chunk list (the array in `entry.chunks`) is filled in as its chunks are sealed. */
  addPending(entry: ManifestEntry): PendingEntry {
    const queued: Queued = { entry, chunkCount: undefined, filled: 0 };
    this.queue.push(queued);
    return {
      read: (chunkCount, size) => {
        queued.chunkCount = chunkCount;
        if (size !== undefined) queued.entry = { ...queued.entry, size };
        this.flush();
      },
      drop: () => {
        const at = this.queue.indexOf(queued, this.head);
        if (at !== -1) this.queue.splice(at, 1);
        this.flush();
      },
    };
  }

  /** Encodes the entries at the front that are final; later ones wait for them (walk order). */
  flush(): void {
    while (this.head < this.queue.length && this.isFinal(this.queue[this.head]!)) {
      const { entry } = this.queue[this.head]!;
      this.manifest.append(manifestLine(entry));
      this.fsi?.append(fsiLine(entry));
      this.entries++;
      this.head++;
    }
    // Encoded entries are let go in steps, not one shift() at a time.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  /** The plaintexts, once every entry is final (after the run's last chunk is sealed). */
  finish(): { manifest: MetadataPlaintext; fsi: MetadataPlaintext | undefined } {
    this.flush();
    if (this.head !== this.queue.length) throw new Error(`internal error: ${this.queue.length - this.head} manifest entries never became final`);
    return { manifest: this.manifest.finish(), fsi: this.fsi?.finish() };
  }

  /** Frees what a failed run left open; safe after finish(). */
  close(): void {
    this.manifest.close();
    this.fsi?.close();
  }

  private isFinal(queued: Queued): boolean {
    const chunks = queued.entry.chunks ?? [];
    while (queued.filled < chunks.length && chunks[queued.filled] !== undefined) queued.filled++;
    return queued.chunkCount !== undefined && queued.filled === queued.chunkCount && chunks.length === queued.chunkCount;
  }
}
