/**
 * Saved backup jobs (the catalog's `jobs`) as `bunker job` and the /v1/backup-jobs routes use
 * them: checking a definition before it is stored, checking a job can still run, and recording
 * what a backup wrote so `password show` and `job list` know about it.
 */
import { type BackupResult, checkSeriesName } from './backup.ts';
import type { Catalog } from './catalog/catalog.ts';
import { type CatalogJob, checkCatalogName } from './catalog/records.ts';
import { parseCompression } from './compression.ts';
import { BunkerError } from './errors.ts';
import type { Repository } from './repository.ts';

export interface JobDefinition {
  readonly name: string;
  /** The repository's location, as the host names it (an absolute directory). */
  readonly repository: string;
  /** Absolute source paths. */
  readonly sources: readonly string[];
  readonly excludes?: readonly string[];
  /** The backup name of its points (default: the job's name). */
  readonly series?: string;
  /** A named backup password; none: the password comes from the usual sources. */
  readonly password?: string;
  readonly encrypt?: boolean;
  /** zstd, zstd:LEVEL or none (default zstd). */
  readonly compression?: string;
}

/** The zstd level of `--compression`-style text (undefined: none); USAGE when malformed. */
export function compressionLevel(text: string): number | undefined {
  try {
    return parseCompression(text);
  } catch (error) {
    throw new BunkerError('USAGE', (error as Error).message);
  }
}

/** A job as the catalog stores it, every field checked (USAGE when one is wrong). */
export function defineJob(input: JobDefinition): Omit<CatalogJob, 'createdAt' | 'lastRunAt' | 'lastPointId'> {
  const name = checkCatalogName('job', input.name);
  if (input.sources.length === 0) throw new BunkerError('USAGE', 'give at least one source path');
  const series = input.series ?? name;
  checkSeriesName(series);
  const compression = input.compression ?? 'zstd';
  compressionLevel(compression);
  const encrypt = input.encrypt !== false;
  if (input.password !== undefined && !encrypt) throw new BunkerError('USAGE', 'a named password and no encryption exclude each other');
  return {
    name, repository: input.repository, series, sources: [...input.sources], excludes: [...(input.excludes ?? [])],
    password: input.password ?? null, encrypt, compression,
  };
}

/** The job named `name`, refused (NOT_FOUND) when the named password it uses was removed. */
export function runnableJob(catalog: Catalog, name: string): CatalogJob {
  const job = catalog.getJob(name);
  if (job.password !== null && !catalog.hasPassword(job.password)) {
    throw new BunkerError('NOT_FOUND', `job "${job.name}" uses password "${job.password}", which was removed: create it again, or recreate the job`);
  }
  return job;
}

/** Records the point a backup wrote (and, for a job, the job's last run) in the catalog. */
export async function recordBackupPoint(catalog: Catalog, repo: Repository, result: BackupResult, location: string, job: string | null): Promise<void> {
  const record = await repo.readPoint(result.pointId);
  catalog.recordPoint({
    repository: location, pointId: result.pointId, series: result.series, createdAt: record.body.createdAt,
    salt: record.salt ?? null, job,
  }, repo.config.id);
}
