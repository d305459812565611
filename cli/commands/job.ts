/**
 * bunker job create|run|list|remove: a backup's options stored in the product catalog under a
 * name, so a person or a script re-runs it without repeating them (and, with a named
 * password, without a password).
 */
import { resolve } from 'node:path';
import { type BackupResult, BunkerError } from '../../core/mod.ts';
import { defineJob, runnableJob } from '../../core/backup-job.ts';
import type { CatalogJob } from '../../core/catalog/records.ts';
import { openProductCatalog, repositoryPath } from '../context.ts';
import { formatTime } from '../format.ts';
import type { Io } from '../io.ts';
import { runBackup } from './backup.ts';
import type { CommandSpec } from './spec.ts';

export interface JobCliOptions {
  readonly name: string;
  readonly source?: readonly string[];
  readonly repo?: string;
  readonly password?: string;
  readonly exclude?: readonly string[];
  readonly backupName?: string;
  readonly encrypt?: boolean;
  readonly compression?: string;
  readonly passwordFile?: string;
  /** API token when the job's repository is on a bunker server. */
  readonly token?: string;
  readonly json?: boolean;
}

export async function runJobCreate(options: JobCliOptions, io: Io): Promise<CatalogJob> {
  const sources = (options.source ?? []).map((p) => resolve(p));
  if (sources.length === 0) throw new BunkerError('USAGE', 'give at least one --source PATH');
  if (options.password !== undefined && options.encrypt === false) throw new BunkerError('USAGE', '--password and --no-encrypt exclude each other');
  const definition = defineJob({
    name: options.name, repository: repositoryPath(options, io.env), sources, excludes: options.exclude ?? [],
    ...(options.backupName === undefined ? {} : { series: options.backupName }),
    ...(options.password === undefined ? {} : { password: options.password }),
    encrypt: options.encrypt !== false, compression: options.compression ?? 'zstd',
  });
  const catalog = (await openProductCatalog(io, { create: true }))!;
  let job: CatalogJob;
  try {
    job = catalog.createJob(definition);
  } finally {
    catalog.close();
  }
  if (options.json) {
    io.out(JSON.stringify(job) + '\n');
  } else {
    io.out(`created job "${job.name}": ${job.sources.join(' ')} → ${job.repository} as backup "${job.series}", ` +
      `${!job.encrypt ? 'not encrypted' : job.password ? `password "${job.password}"` : 'password from --password-file, BUNKER_PASSWORD[_FILE] or the prompt'}\n` +
      `run it with: bunker job run ${job.name}\n`);
  }
  return job;
}

export async function runJobRun(options: JobCliOptions, io: Io): Promise<BackupResult> {
  const catalog = await openProductCatalog(io, { create: false });
  if (catalog === undefined) throw new BunkerError('NOT_FOUND', `no job named "${options.name}" (there is no product database yet)`);
  let job: CatalogJob;
  try {
    job = runnableJob(catalog, options.name);
  } finally {
    catalog.close();
  }
  // A job's repository is part of the job: a different --repo would be silently ignored otherwise.
  if (options.repo !== undefined && repositoryPath(options, io.env) !== repositoryPath({ repo: job.repository }, io.env)) {
    throw new BunkerError('USAGE', `job "${job.name}" backs up to ${job.repository}; --repo does not apply to "job run" (create the job again to change it)`);
  }
  return runBackup({
    paths: job.sources,
    repo: job.repository,
    name: job.series,
    encrypt: job.encrypt,
    compression: job.compression,
    exclude: job.excludes,
    ...(job.password !== null ? { password: job.password } : {}),
    ...(options.passwordFile !== undefined ? { passwordFile: options.passwordFile } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
    job: job.name,
    ...(options.json ? { json: true } : {}),
  }, io);
}

export async function runJobList(options: { json?: boolean }, io: Io): Promise<CatalogJob[]> {
  const catalog = await openProductCatalog(io, { create: false });
  let jobs: CatalogJob[] = [];
  try {
    if (catalog !== undefined) jobs = catalog.listJobs();
  } finally {
    catalog?.close();
  }
  if (options.json) {
    io.out(JSON.stringify(jobs) + '\n');
  } else if (jobs.length === 0) {
    io.out('no jobs (bunker job create NAME --source PATH…)\n');
  } else {
    io.out(`${'NAME'.padEnd(16)}  ${'BACKUP'.padEnd(16)}  ${'PASSWORD'.padEnd(16)}  ${'LAST RUN'.padEnd(20)}  SOURCES → REPOSITORY\n`);
    for (const j of jobs) {
      const password = !j.encrypt ? '(unencrypted)' : (j.password ?? '(asked)');
      io.out(`${j.name.padEnd(16)}  ${j.series.padEnd(16)}  ${password.padEnd(16)}  ${(j.lastRunAt ? formatTime(j.lastRunAt) : 'never').padEnd(20)}  ${j.sources.join(' ')} → ${j.repository}\n`);
    }
  }
  return jobs;
}

export async function runJobRemove(options: JobCliOptions, io: Io): Promise<CatalogJob> {
  const catalog = await openProductCatalog(io, { create: false });
  if (catalog === undefined) throw new BunkerError('NOT_FOUND', `no job named "${options.name}" (there is no product database yet)`);
  let job: CatalogJob;
  try {
    job = catalog.removeJob(options.name);
  } finally {
    catalog.close();
  }
  if (options.json) io.out(JSON.stringify(job) + '\n');
  else io.out(`removed job "${job.name}" (its recovery points stay in ${job.repository})\n`);
  return job;
}

export const jobCommand: CommandSpec = {
  command: 'job',
  describe: 'Stored backups: create once, run by name',
  builder: (y) => y,
  subcommands: [
    {
      command: 'create <name>',
      describe: 'Store a backup job (the repository is --repo, BUNKER_REPO or the default)',
      builder: (y) =>
        y
          .positional('name', { type: 'string', describe: 'the job\'s name' })
          .option('source', { type: 'string', array: true, demandOption: true, describe: 'a file or directory to back up (repeatable)' })
          .option('password', { type: 'string', describe: 'a named backup password (bunker password create): runs need no password' })
          .option('exclude', { type: 'string', array: true, default: [], describe: 'glob to skip (as for backup)' })
          .option('backup-name', { type: 'string', describe: 'the backup name its points get (default: the job\'s name)' })
          .option('encrypt', { type: 'boolean', default: true, describe: 'encrypt (--no-encrypt for an unencrypted backup)' })
          .option('compression', { type: 'string', default: 'zstd', describe: 'zstd, zstd:LEVEL (1-19) or none' }),
      run: async (argv, io) => void (await runJobCreate(argv as unknown as JobCliOptions, io)),
    },
    {
      command: 'run <name>',
      describe: 'Run a stored backup job',
      builder: (y) => y.positional('name', { type: 'string', describe: 'the job\'s name' }),
      run: async (argv, io) => void (await runJobRun(argv as unknown as JobCliOptions, io)),
    },
    {
      command: 'list',
      describe: 'List stored backup jobs',
      builder: (y) => y,
      run: async (argv, io) => void (await runJobList(argv as { json?: boolean }, io)),
    },
    {
      command: 'remove <name>',
      describe: 'Forget a backup job (its points stay)',
      builder: (y) => y.positional('name', { type: 'string', describe: 'the job\'s name' }),
      run: async (argv, io) => void (await runJobRemove(argv as unknown as JobCliOptions, io)),
    },
  ],
};
