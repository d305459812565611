/**
 * bunker password create|list|show|rotate|remove: named passwords in the product catalog.
 * The plaintext is never stored: each version keeps its salt, KDF parameters and the Argon2id
 * hash H, sealed under the local master key. Nothing here prints a secret.
 */
import { BunkerError, type KdfParams } from '../../core/mod.ts';
import { createNamedPassword, describeNamedPassword, listNamedPasswords, type PointUse, removeNamedPassword, rotateNamedPassword } from '../../core/catalog/named-passwords.ts';
import { PASSWORD_PURPOSES, type PasswordInfo } from '../../core/catalog/records.ts';
import { catalogPath } from '../../core/host/catalog-home.ts';
import { dataHome, openProductCatalog } from '../context.ts';
import { formatTime } from '../format.ts';
import type { Io } from '../io.ts';
import { parseKdfOption } from '../kdf-option.ts';
import { readPassword } from '../password.ts';
import { kmsCatalogWrapper } from '../kms.ts';
import type { CommandSpec } from './spec.ts';

export type { PointUse } from '../../core/catalog/named-passwords.ts';

export interface PasswordCliOptions {
  readonly name?: string;
  readonly purpose?: string;
  readonly description?: string;
  readonly kdf?: string;
  readonly force?: boolean;
  readonly passwordFile?: string;
  readonly json?: boolean;
}

function kdfText(kdf: KdfParams): string {
  return `argon2id m=${kdf.memoryKiB},t=${kdf.iterations},p=${kdf.parallelism}`;
}

async function newPassword(io: Io, options: PasswordCliOptions, label: string): Promise<string> {
  const password = await readPassword(io, options.passwordFile, { label, isNew: true });
  if (password === undefined || password.length === 0) {
    throw new BunkerError('PASSWORD_REQUIRED', `give the new password for ${label} (--password-file, BUNKER_PASSWORD_FILE, BUNKER_PASSWORD or the prompt)`);
  }
  return password;
}

export async function runPasswordCreate(options: PasswordCliOptions & { name: string }, io: Io): Promise<PasswordInfo> {
  const kdf = parseKdfOption(options.kdf);
  const catalog = (await openProductCatalog(io, { create: true }))!;
  try {
    // While KMS is enabled the new hash is also kept encrypted under the KMS key; if KMS cannot
    // be used, nothing is stored.
    const wrap = await kmsCatalogWrapper(io, catalog, `password "${options.name}" was not created (nothing stored)`);
    const info = await createNamedPassword(catalog, {
      name: options.name, purpose: options.purpose ?? 'backup', ...(options.description === undefined ? {} : { description: options.description }), ...(kdf === undefined ? {} : { kdf }),
    }, () => newPassword(io, options, `password "${options.name}"`), wrap);
    if (options.json) io.out(JSON.stringify(info) + '\n');
    else io.out(`created ${info.purpose} password "${info.name}": its hash is kept, encrypted, in ${catalogPath(dataHome(io.env))}; the password itself is not stored\n`);
    return info;
  } finally {
    catalog.close();
  }
}

export async function runPasswordList(options: PasswordCliOptions, io: Io): Promise<(PasswordInfo & { jobs: readonly string[] })[]> {
  const catalog = await openProductCatalog(io, { create: false });
  let list: (PasswordInfo & { jobs: readonly string[] })[] = [];
  try {
    list = listNamedPasswords(catalog);
  } finally {
    catalog?.close();
  }
  if (options.json) {
    io.out(JSON.stringify(list) + '\n');
  } else if (list.length === 0) {
    io.out('no stored passwords (bunker password create NAME)\n');
  } else {
    io.out(`${'NAME'.padEnd(20)}  ${'PURPOSE'.padEnd(7)}  VERSION  ${'CREATED'.padEnd(20)}  ${'ROTATED'.padEnd(20)}  JOBS\n`);
    for (const p of list) {
      io.out(`${p.name.padEnd(20)}  ${p.purpose.padEnd(7)}  ${String(p.currentVersion).padStart(7)}  ${formatTime(p.createdAt).padEnd(20)}  ${(p.rotatedAt ? formatTime(p.rotatedAt) : '-').padEnd(20)}  ${p.jobs.join(', ') || '-'}\n`);
    }
  }
  return list;
}

export async function runPasswordShow(options: PasswordCliOptions & { name: string }, io: Io): Promise<PasswordInfo & { jobs: readonly string[]; points: readonly PointUse[] }> {
  const catalog = await openProductCatalog(io, { create: false });
  if (catalog === undefined) throw new BunkerError('NOT_FOUND', 'no stored password has that name (there is no product database yet)');
  let shown: PasswordInfo & { jobs: readonly string[]; points: readonly PointUse[] };
  try {
    shown = describeNamedPassword(catalog, options.name);
  } finally {
    catalog.close();
  }
  if (options.json) {
    io.out(JSON.stringify(shown) + '\n');
    return shown;
  }
  io.out(
    `password "${shown.name}" (${shown.purpose})${shown.description ? `: ${shown.description}` : ''}\n` +
      `  created    ${formatTime(shown.createdAt)}\n` +
      `  version    ${shown.currentVersion} is current${shown.rotatedAt ? ` (rotated ${formatTime(shown.rotatedAt)})` : ''}\n` +
      shown.versions.map((v) => `             version ${v.version}: ${formatTime(v.createdAt)}, ${kdfText(v.kdf)}${v.kms ? ', hash also kept encrypted under AWS KMS' : ''}\n`).join('') +
      `  jobs       ${shown.jobs.join(', ') || 'none'}\n` +
      `  points     ${shown.points.length === 0 ? 'none recorded' : shown.points.length}\n` +
      shown.points.map((p) => `             ${p.pointId.slice(0, 12)}  ${formatTime(p.createdAt)}  "${p.series}"  ${p.repository}\n`).join(''),
  );
  return shown;
}

export async function runPasswordRotate(options: PasswordCliOptions & { name: string }, io: Io): Promise<PasswordInfo> {
  const kdf = parseKdfOption(options.kdf);
  const catalog = await openProductCatalog(io, { create: false });
  if (catalog === undefined) throw new BunkerError('NOT_FOUND', 'no stored password has that name (there is no product database yet)');
  try {
    const wraps = await kmsCatalogWrapper(io, catalog, `password "${options.name}" was not rotated (nothing stored)`);
    const info = await rotateNamedPassword(catalog, options.name, () => newPassword(io, options, `password "${options.name}"`), {
      ...(kdf === undefined ? {} : { kdf }), wrap: () => wraps,
    });
    if (options.json) {
      io.out(JSON.stringify(info) + '\n');
    } else {
      io.out(
        `password "${info.name}" is now at version ${info.currentVersion}: the next backups with it (and its jobs) use the new password.\n` +
          `Points made before stay restorable: this database keeps every earlier version's hash.\n` +
          `Copies of the configuration made before now (bundles, other machines) know only the old versions: export a new bundle.\n`,
      );
    }
    return info;
  } finally {
    catalog.close();
  }
}

export async function runPasswordRemove(options: PasswordCliOptions & { name: string }, io: Io): Promise<{ name: string; versions: number; jobs: readonly string[]; points: readonly PointUse[] }> {
  const catalog = await openProductCatalog(io, { create: false });
  if (catalog === undefined) throw new BunkerError('NOT_FOUND', 'no stored password has that name (there is no product database yet)');
  let removed: { name: string; versions: number; jobs: readonly string[]; points: readonly PointUse[] };
  try {
    removed = removeNamedPassword(catalog, options.name, options.force === true);
  } finally {
    catalog.close();
  }
  if (options.json) {
    io.out(JSON.stringify(removed) + '\n');
    return removed;
  }
  let text = `removed password "${removed.name}" (${removed.versions} version${removed.versions === 1 ? '' : 's'})\n`;
  if (removed.points.length > 0) {
    text += `${removed.points.length} recorded point${removed.points.length === 1 ? ' was' : 's were'} made with it and can now be restored only by typing its password:\n`;
    text += removed.points.map((p) => `  ${p.pointId.slice(0, 12)}  ${formatTime(p.createdAt)}  "${p.series}"  ${p.repository}\n`).join('');
  } else {
    text += 'no recorded point was made with it; any other point it protects can now be restored only by typing its password\n';
  }
  if (removed.jobs.length > 0) {
    const one = removed.jobs.length === 1;
    text += `job${one ? '' : 's'} ${removed.jobs.map((j) => `"${j}"`).join(', ')} still name${one ? 's' : ''} it and will fail until recreated with another password\n`;
  }
  io.out(text);
  return removed;
}

const nameArg = { type: 'string', describe: 'the password\'s name (not the password)' } as const;
const kdfOption = { type: 'string', describe: 'Argon2id parameters, m=KiB,t=N,p=N (advanced)' } as const;

export const passwordCommand: CommandSpec = {
  command: 'password',
  describe: 'Named passwords: their hashes are kept encrypted in the product database, never the passwords',
  builder: (y) => y,
  subcommands: [
    {
      command: 'create <name>',
      describe: 'Store a new named password (asked twice, or --password-file)',
      builder: (y) =>
        y
          .positional('name', nameArg)
          .option('purpose', { type: 'string', choices: [...PASSWORD_PURPOSES], default: 'backup', describe: 'backup (backups and jobs), bundle (configuration bundles and self-backup), fsi (reserved: not used yet)' })
          .option('description', { type: 'string', describe: 'a note for people' })
          .option('kdf', kdfOption),
      run: async (argv, io) => void (await runPasswordCreate(argv as unknown as PasswordCliOptions & { name: string }, io)),
    },
    {
      command: 'list',
      describe: 'List named passwords (never a secret)',
      builder: (y) => y,
      run: async (argv, io) => void (await runPasswordList(argv as PasswordCliOptions, io)),
    },
    {
      command: 'show <name>',
      describe: 'Describe a named password: versions, and the jobs and recorded points that use it',
      builder: (y) => y.positional('name', nameArg),
      run: async (argv, io) => void (await runPasswordShow(argv as unknown as PasswordCliOptions & { name: string }, io)),
    },
    {
      command: 'rotate <name>',
      describe: 'Give a named password a new value for future points; earlier points stay restorable',
      builder: (y) => y.positional('name', nameArg).option('kdf', kdfOption),
      run: async (argv, io) => void (await runPasswordRotate(argv as unknown as PasswordCliOptions & { name: string }, io)),
    },
    {
      command: 'remove <name>',
      describe: 'Forget a named password (refused while a job uses it, unless --force)',
      builder: (y) => y.positional('name', nameArg).option('force', { type: 'boolean', default: false, describe: 'remove even if jobs use it' }),
      run: async (argv, io) => void (await runPasswordRemove(argv as unknown as PasswordCliOptions & { name: string }, io)),
    },
  ],
};
