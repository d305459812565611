/**
 * bunker config export|import|self-backup: the whole configuration (repositories, jobs, named
 * passwords' hashes, settings, API tokens' hashes) in one password-encrypted bundle
 * (FORMAT.md §14). KMS never applies to bundles: a bundle opens with its password, or with a
 * named bundle password this installation already holds, and nothing else.
 */
import { constants } from 'node:fs';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { backup, BunkerError, bytesReader, type Source } from '../../core/mod.ts';
import type { BundleKey } from '../../core/bundle.ts';
import { derivePasswordVersion, type ImportSummary } from '../../core/catalog/catalog.ts';
import { type BundleCounts, exportConfigBundle, namedBundleKey, openConfigBundle } from '../../core/config-bundle.ts';
import { randomId } from '../../core/format/bytes.ts';
import { catalogPath } from '../../core/host/catalog-home.ts';
import { loadWasmFromPackages } from '../../wasm/packages.ts';
import { dataHome, openProductCatalog, openRepository, repositoryPath } from '../context.ts';
import { formatBytes } from '../format.ts';
import type { Io } from '../io.ts';
import { parseKdfOption } from '../kdf-option.ts';
import { readPassword } from '../password.ts';
import type { CommandSpec } from './spec.ts';

/** The name of the bundle file inside a self-backup point. */
export const SELF_BACKUP_FILE = 'bunker-config.bundle';
export const SELF_BACKUP_SERIES = 'bunker-config';
const BUNDLE_LABEL = 'the configuration bundle';

export interface ConfigCliOptions {
  readonly out?: string;
  readonly file?: string;
  readonly replace?: boolean;
  readonly force?: boolean;
  /** A named bundle password. */
  readonly password?: string;
  readonly passwordFile?: string;
  readonly kdf?: string;
  readonly repo?: string;
  readonly name?: string;
  readonly json?: boolean;
}

interface BuiltBundle {
  readonly bytes: Uint8Array;
  readonly counts: BundleCounts;
  readonly keySource: 'catalog' | 'password';
}

/** The bundle of the current configuration, under a named bundle password or a new one. */
async function buildBundle(options: ConfigCliOptions, io: Io): Promise<BuiltBundle> {
  const kdf = parseKdfOption(options.kdf);
  if (options.password !== undefined && kdf !== undefined) throw new BunkerError('USAGE', '--kdf does not apply to a named password (it has its own parameters)');
  await loadWasmFromPackages();
  const catalog = await openProductCatalog(io, { create: false });
  if (catalog === undefined) throw new BunkerError('NOT_FOUND', `there is no configuration to export: no product database at ${catalogPath(dataHome(io.env))}`);
  try {
    let key: BundleKey;
    let keySource: BuiltBundle['keySource'];
    if (options.password !== undefined) {
      key = await namedBundleKey(catalog, options.password);
      keySource = 'catalog';
    } else {
      const password = await readPassword(io, options.passwordFile, { label: BUNDLE_LABEL, isNew: true });
      if (password === undefined || password.length === 0) {
        throw new BunkerError('PASSWORD_REQUIRED', `${BUNDLE_LABEL} is encrypted: give a password for it (--password NAME, --password-file, BUNKER_PASSWORD_FILE, BUNKER_PASSWORD or the prompt)`);
      }
      key = await derivePasswordVersion(password, kdf);
      keySource = 'password';
    }
    return { ...(await exportConfigBundle(catalog, key)), keySource };
  } finally {
    catalog.close();
  }
}

function describeCounts(c: BuiltBundle['counts']): string {
  return `${c.passwords} passwords, ${c.jobs} jobs, ${c.repositories} repositories, ${c.points} points, ${c.settings} settings, ${c.tokens} tokens`;
}

/** Writes `bytes` to `path` as a new 0600 file: a temporary name, fsync, then link (or rename with `force`). */
async function writeNewFile(path: string, bytes: Uint8Array, force: boolean): Promise<void> {
  const tmpPath = join(dirname(path), `.${basename(path)}.${randomId().slice(0, 16)}.tmp`);
  try {
    const handle = await open(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (force) await rename(tmpPath, path);
    else await link(tmpPath, path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EEXIST') throw new BunkerError('ALREADY_EXISTS', `${path} exists (use --force to replace it)`);
    throw new BunkerError('NOT_FOUND', `cannot write ${path}: ${code ?? String(error)}`);
  } finally {
    await unlink(tmpPath).catch(() => undefined);
  }
}

export async function runConfigExport(options: ConfigCliOptions & { out: string }, io: Io): Promise<{ path: string; sizeBytes: number; keySource: string } & BuiltBundle['counts']> {
  const built = await buildBundle(options, io);
  await writeNewFile(options.out, built.bytes, options.force === true);
  const result = { path: options.out, sizeBytes: built.bytes.length, keySource: built.keySource, ...built.counts };
  if (options.json) io.out(JSON.stringify(result) + '\n');
  else io.out(`exported ${describeCounts(built.counts)} to ${options.out} (${formatBytes(built.bytes.length)}, encrypted with ${built.keySource === 'catalog' ? `password "${options.password}"` : 'the password given'})\n`);
  return result;
}

export async function runConfigImport(options: ConfigCliOptions & { file: string }, io: Io): Promise<ImportSummary & { keySource: string }> {
  await loadWasmFromPackages();
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(options.file));
  } catch (error) {
    throw new BunkerError('NOT_FOUND', `cannot read ${options.file}: ${(error as { code?: string }).code ?? String(error)}`);
  }
  let catalog = await openProductCatalog(io, { create: false });
  try {
    const { content, keySource } = await openConfigBundle(bytes, {
      label: options.file, catalog,
      password: () => readPassword(io, options.passwordFile, { label: BUNDLE_LABEL, isNew: false }),
      passwordHelp: `${BUNDLE_LABEL} is encrypted: give its password (--password-file, BUNKER_PASSWORD_FILE, BUNKER_PASSWORD or the prompt)`,
    });
    // Only a bundle that opened creates the database: a refused import leaves no trace.
    catalog ??= (await openProductCatalog(io, { create: true }))!;
    const summary = await catalog.importSnapshot(content.catalog, { replace: options.replace === true });
    const result = { ...summary, keySource };
    if (options.json) {
      io.out(JSON.stringify(result) + '\n');
    } else {
      const a = summary.added;
      io.out(`imported the configuration exported ${content.exportedAt}${summary.replaced ? ', replacing this one' : ''}: ` +
        `${a.passwords} passwords, ${a.jobs} jobs, ${a.repositories} repositories, ${a.points} points, ${a.settings} settings, ${a.tokens} tokens added\n` +
        `  key: ${keySource === 'catalog' ? 'bundle password hash from the product database' : 'derived from the password and the bundle\'s salt'}\n`);
    }
    return result;
  } finally {
    catalog?.close();
  }
}

export async function runConfigSelfBackup(options: ConfigCliOptions, io: Io): Promise<{ pointId: string; series: string; repository: string; file: string; sizeBytes: number; keySource: string }> {
  const built = await buildBundle(options, io);
  const series = options.name ?? SELF_BACKUP_SERIES;
  const now = Date.now();
  const source: Source = {
    sources: [SELF_BACKUP_FILE],
    host: hostname(),
    async *entries() {
      yield { path: SELF_BACKUP_FILE, type: 'file', mode: 0o600, mtimeMs: now, size: built.bytes.length, open: async () => bytesReader(built.bytes) };
    },
  };
  const repo = await openRepository(options, io, { createIfMissing: true });
  // The point is not encrypted: the bundle inside is (under its own password), and is
  // compressed already. Restoring it needs no password; importing it needs the bundle's.
  const made = await backup(repo, source, { series, encrypt: false, compressionLevel: undefined });
  const location = repositoryPath(options, io.env);
  const catalog = await openProductCatalog(io, { create: false });
  try {
    const record = await repo.readPoint(made.pointId);
    catalog?.recordPoint({ repository: location, pointId: made.pointId, series, createdAt: record.body.createdAt, salt: null, job: null }, repo.config.id);
  } finally {
    catalog?.close();
  }
  const result = { pointId: made.pointId, series, repository: location, file: SELF_BACKUP_FILE, sizeBytes: built.bytes.length, keySource: built.keySource };
  if (options.json) {
    io.out(JSON.stringify(result) + '\n');
  } else {
    io.out(`saved the configuration (${describeCounts(built.counts)}) as point ${made.pointId.slice(0, 12)} of backup "${series}" in ${location}\n` +
      `to bring it back: bunker restore ${made.pointId.slice(0, 12)} --target DIR, then bunker config import DIR/${SELF_BACKUP_FILE}\n`);
  }
  return result;
}

const noKms = 'KMS never applies to bundles: only the bundle password opens them.';

export const configCommand: CommandSpec = {
  command: 'config',
  describe: 'Export or import the whole configuration (passwords\' hashes, jobs, repositories, settings) as an encrypted bundle',
  builder: (y) => y.epilogue(noKms),
  subcommands: [
    {
      command: 'export',
      describe: `Write the configuration to an encrypted bundle file (asks for a bundle password). ${noKms}`,
      builder: (y) =>
        y
          .option('out', { type: 'string', demandOption: true, describe: 'the bundle file to write (mode 0600)' })
          .option('password', { type: 'string', describe: 'a named bundle password (purpose bundle) instead of asking' })
          .option('force', { type: 'boolean', default: false, describe: 'replace an existing file' })
          .option('kdf', { type: 'string', describe: 'Argon2id parameters for the new bundle password, m=KiB,t=N,p=N (advanced)' }),
      run: async (argv, io) => void (await runConfigExport(argv as unknown as ConfigCliOptions & { out: string }, io)),
    },
    {
      command: 'import <file>',
      describe: `Import a bundle: all of it or nothing; merges, refusing conflicts, or --replace. ${noKms}`,
      builder: (y) =>
        y
          .positional('file', { type: 'string', describe: 'the bundle file' })
          .option('replace', { type: 'boolean', default: false, describe: 'replace this configuration with the bundle\'s instead of merging' }),
      run: async (argv, io) => void (await runConfigImport(argv as unknown as ConfigCliOptions & { file: string }, io)),
    },
    {
      command: 'self-backup',
      describe: `Store the bundle as a recovery point (an unencrypted point holding the encrypted bundle) in --repo. ${noKms}`,
      builder: (y) =>
        y
          .option('password', { type: 'string', describe: 'a named bundle password (purpose bundle) instead of asking' })
          .option('name', { type: 'string', describe: `backup name of the point (default ${SELF_BACKUP_SERIES})` })
          .option('kdf', { type: 'string', describe: 'Argon2id parameters for the new bundle password, m=KiB,t=N,p=N (advanced)' }),
      run: async (argv, io) => void (await runConfigSelfBackup(argv as ConfigCliOptions, io)),
    },
  ],
};
