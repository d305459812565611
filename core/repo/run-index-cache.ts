/**
 * Parsed run indexes kept across the points of one pass over a repository (check), so that a
 * run named by many points is fetched and parsed once (again only after a failure). An entry counts only for the key it was
 * opened with: a point that names a run under another key (a forged point) gets its own read,
 * and neither sees the other's result.
 */
import { constantTimeEqual } from '../format/bytes.ts';
import type { ChunkIndex } from './chunk-index.ts';

export type RunEntries = Promise<ChunkIndex>;

export class RunIndexCache {
  readonly #runs = new Map<string, { readonly key: Uint8Array | undefined; readonly entries: RunEntries }[]>();

  /** The entries of `run` opened with `key` (undefined: an unencrypted run), read once by `read`. */
  entries(run: string, key: Uint8Array | undefined, read: () => RunEntries): RunEntries {
    const known = this.#runs.get(run) ?? [];
    const same = known.find((k) => (k.key === undefined || key === undefined ? k.key === key : constantTimeEqual(k.key, key)));
    if (same !== undefined) return same.entries;
    const entries = read();
    const entry = { key, entries };
    this.#runs.set(run, [...known, entry]);
    // A failure is surfaced to the callers that already hold it, and not kept: a later point
    // reads the run again, so a passing storage error does not fail every point that names it.
    entries.catch(() => {
      const left = (this.#runs.get(run) ?? []).filter((e) => e !== entry);
      if (left.length === 0) this.#runs.delete(run);
      else this.#runs.set(run, left);
    });
    return entries;
  }

  /** Forgets `run`: no point left to check names it. */
  drop(run: string): void {
    this.#runs.delete(run);
  }
}
