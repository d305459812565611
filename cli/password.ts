/**
 * Where a password comes from, in order: --password-file, BUNKER_PASSWORD_FILE,
 * BUNKER_PASSWORD, then a no-echo prompt on a terminal (twice for a new password).
 * Never a plain flag: argv is visible to every user of the machine.
 *
 * And where a point's key comes from without one (DESIGN.md "Restore"), in this order: the
 * product catalog, then AWS KMS, then the password.
 */
import { readFile } from 'node:fs/promises';
import { BunkerError, isBunkerError, type KeyResolver, PasswordKeyResolver, type PasswordPrompt } from '../core/mod.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import { CatalogKeyResolver } from '../core/catalog/catalog-key-resolver.ts';
import { openProductCatalog } from './context.ts';
import { kmsKeyResolver } from './kms.ts';
import type { Io } from './io.ts';

async function readPasswordFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new BunkerError('NOT_FOUND', `cannot read the password file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  // One trailing newline is an artifact of `echo pw > file`, not part of the password.
  return text.replace(/\r?\n$/, '');
}

/**
 * Reads a password from the first source that has one; undefined when none does. `label` says
 * what it is for in the prompt ("backup \"name\"", "the configuration bundle").
 */
export async function readPassword(io: Io, passwordFile: string | undefined, request: { readonly label: string; readonly isNew: boolean }): Promise<string | undefined> {
  const file = passwordFile ?? io.env.BUNKER_PASSWORD_FILE;
  if (file) return readPasswordFile(file);
  if (io.env.BUNKER_PASSWORD !== undefined && io.env.BUNKER_PASSWORD !== '') return io.env.BUNKER_PASSWORD;
  if (!io.isInteractive) return undefined;
  const first = await io.promptSecret(request.isNew ? `New password for ${request.label}: ` : `Password for ${request.label}: `);
  if (first === undefined) return undefined;
  if (request.isNew) {
    const again = await io.promptSecret('Repeat the password: ');
    if (again !== first) throw new BunkerError('USAGE', 'the two passwords differ; nothing was written');
  }
  return first;
}

export function passwordPrompt(io: Io, passwordFile: string | undefined): PasswordPrompt {
  return ({ series, isNew }) => readPassword(io, passwordFile, { label: `backup "${series}"`, isNew });
}

/**
 * Restore step 1: the product catalog in the data directory, opened on first use and only
 * if it exists (reading creates nothing). A catalog that cannot be opened is skipped with a
 * warning, so the password can still be typed.
 */
export function catalogKeyResolver(io: Io, catalog?: Catalog): KeyResolver {
  const warn = (error: BunkerError) => io.err(`warning: the product database was not used: ${error.message}\n`);
  let opened: Promise<Catalog | undefined> | undefined;
  const resolver = new CatalogKeyResolver(() => {
    opened ??= catalog !== undefined ? Promise.resolve(catalog) : openProductCatalog(io, { create: false }).catch((error: unknown) => {
      if (!(error instanceof BunkerError)) throw error;
      warn(error);
      return undefined;
    });
    return opened;
  });
  return {
    async resolve(request) {
      try {
        return await resolver.resolve(request);
      } catch (error) {
        // A damaged sealed hash: say so, then let the next source (the password) try.
        if (isBunkerError(error, 'CATALOG_FAILED')) warn(error);
        throw error;
      }
    },
  };
}

/**
 * The key sources tried before the password, in the restore order of DESIGN.md: (1) the
 * product catalog; (2) AWS KMS (cli/kms.ts), when the point carries a KMS-encrypted hash. The password (3) is PasswordKeyResolver's last resort, and a
 * point without a salt (4) never gets this far: it is CORRUPTED_POINT when parsed.
 */
export function keySourcesBeforePassword(io: Io, catalog?: Catalog): KeyResolver[] {
  return [catalogKeyResolver(io, catalog), kmsKeyResolver(io, catalog)];
}

/** Finds a point's key: the sources above, then the password. `catalog`: one the command has open already. */
export function passwordResolver(io: Io, passwordFile: string | undefined, catalog?: Catalog): PasswordKeyResolver {
  return new PasswordKeyResolver(passwordPrompt(io, passwordFile), keySourcesBeforePassword(io, catalog));
}
