/**
 * Backup copy: a recovery point of one repository becomes a point of another. The source
 * point is read and authenticated with its own keys; the copy is written by an ordinary
 * backup into the target, under the target's password (re-encrypted when it differs) and
 * deduplicated against the target series' previous point. An encrypted point is only ever
 * copied encrypted: no plaintext reaches the target repository.
 */
import { backup, type BackupOptions, type BackupResult, runStart } from './backup.ts';
import { pointSource } from './point-source.ts';
import type { Repository, UnlockedPoint } from './repository.ts';

export interface CopyOptions extends Omit<BackupOptions, 'encrypt' | 'series' | 'filesReadFrom'> {
  /** Series in the target (default: the source point's). */
  readonly series?: string;
  /** Only these paths of the point (and what is below them). */
  readonly include?: readonly string[];
}

export interface CopyResult extends BackupResult {
  readonly sourcePointId: string;
}

export async function copyPoint(from: Repository, point: UnlockedPoint, to: Repository, options: CopyOptions): Promise<CopyResult> {
  const source = await pointSource(from, point, options.include === undefined ? {} : { include: options.include });
  const result = await backup(to, source, {
    ...options,
    series: options.series ?? point.record.body.series,
    encrypt: point.record.body.encryption !== null,
    // The copied entries carry the source's mtimes: a later run judges them by when the source read them.
    filesReadFrom: runStart(point.record),
  });
  return { ...result, sourcePointId: point.id };
}
