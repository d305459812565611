/**
 * The whole configuration as one password-encrypted bundle (FORMAT.md §14), as `bunker config`
 * and the /v1/bundle routes make and open it. KMS never applies to bundles: a bundle opens with
 * its password, or with a named bundle password this installation already holds.
 */
import { type BundleKey, openBundle, parseBundleHeader, sealBundle } from './bundle.ts';
import type { Catalog } from './catalog/catalog.ts';
import { isCatalogName } from './catalog/records.ts';
import { type BundleContent, encodeSnapshot, parseSnapshot } from './catalog/snapshot.ts';
import { derivePasswordHash, sameKdfParams } from './crypto/kdf.ts';
import { derivePasswordKeys, verifierMatches } from './crypto/keys.ts';
import { BunkerError } from './errors.ts';

export interface BundleCounts {
  readonly passwords: number;
  readonly repositories: number;
  readonly jobs: number;
  readonly points: number;
  readonly settings: number;
  readonly tokens: number;
}

/** The current version of a named bundle password; NOT_FOUND (never echoing the name) when there is none. */
export async function namedBundleKey(catalog: Catalog, name: string): Promise<BundleKey> {
  if (!isCatalogName(name) || !catalog.hasPassword(name)) throw new BunkerError('NOT_FOUND', 'no stored password has that name (bunker password create NAME --purpose bundle stores one)');
  return catalog.currentPassword(name, 'bundle');
}

/** The bundle of the catalog's current content, sealed under `key`. */
export async function exportConfigBundle(catalog: Catalog, key: BundleKey): Promise<{ bytes: Uint8Array; counts: BundleCounts }> {
  const snapshot = await catalog.exportSnapshot();
  const bytes = await sealBundle(encodeSnapshot({ exportedAt: new Date().toISOString(), catalog: snapshot }), key);
  const counts = {
    passwords: snapshot.passwords.length, repositories: snapshot.repositories.length, jobs: snapshot.jobs.length,
    points: snapshot.points.length, settings: snapshot.settings.length, tokens: snapshot.tokens.length,
  };
  return { bytes, counts };
}

export interface OpenBundleRequest {
  /** The bundle's name in messages (its file, or "the uploaded bundle"). */
  readonly label: string;
  /** A catalog whose named bundle passwords are tried first, without asking. */
  readonly catalog: Catalog | undefined;
  /** The password, asked for only when the catalog has none that opens the bundle. */
  readonly password: () => Promise<string | undefined>;
  /** The PASSWORD_REQUIRED message when there is no password. */
  readonly passwordHelp: string;
}

/**
 * Opens a bundle (TAMPERED, WRONG_PASSWORD, UNSUPPORTED_VERSION as the bytes say): H from the
 * catalog first (checked against the bundle's verifier), else from the password.
 */
export async function openConfigBundle(bytes: Uint8Array, request: OpenBundleRequest): Promise<{ content: BundleContent; keySource: 'catalog' | 'password' }> {
  const header = await parseBundleHeader(bytes, request.label);
  const found = request.catalog === undefined ? undefined : await request.catalog.findPasswordHash(header.salt).catch((error: unknown) => {
    if (!(error instanceof BunkerError)) throw error;
    return undefined;
  });
  let hash: Uint8Array;
  let keySource: 'catalog' | 'password';
  if (found !== undefined && sameKdfParams(found.kdf, header.kdf) && verifierMatches(await derivePasswordKeys(found.hash), header.verifier)) {
    hash = found.hash;
    keySource = 'catalog';
  } else {
    const password = await request.password();
    if (password === undefined) throw new BunkerError('PASSWORD_REQUIRED', request.passwordHelp);
    hash = await derivePasswordHash(password, header.salt, header.kdf);
    keySource = 'password';
  }
  return { content: parseSnapshot(await openBundle(bytes, header, hash, request.label), request.label), keySource };
}
