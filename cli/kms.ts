/**
 * AWS KMS in the CLI: the settings `bunker kms enable` stores in the product catalog
 * (core/kms/kms-settings.ts), the `kms` option every encrypted backup then gets, and the KMS
 * step of the restore key order (after the catalog, before the password), which says why KMS
 * could not be used before the password is asked for, and caches a hash KMS gave back in the
 * catalog.
 *
 * Credentials are the AWS SDK's standard chain; the endpoint is --endpoint at enable time, or
 * the SDK's AWS_ENDPOINT_URL_KMS. KMS never applies to configuration bundles or self-backups.
 */
import { type BackupOptions, BunkerError, type KeyResolver, type PointKms } from '../core/mod.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import { keepKmsHash, type KmsClientMaker, kmsBackupOptionFor, kmsCatalogWrapper as catalogWrapper, type KmsSettings, kmsResolverFor, readKmsSettings } from '../core/kms/kms-settings.ts';
import type { KdfParams } from '../core/crypto/kdf.ts';
import { openProductCatalog } from './context.ts';
import type { Io } from './io.ts';

export { KMS_SETTING, type KmsSettings, readKmsSettings, writeKmsSettings } from '../core/kms/kms-settings.ts';

/**
 * KMS clients with the user's environment (credentials chain, AWS_ENDPOINT_URL_KMS). The AWS
 * SDK is loaded only when KMS is used: every command would otherwise pay for it at start-up.
 */
export async function kmsClients(io: Io): Promise<KmsClientMaker> {
  const { awsKmsClient } = await import('../core/host/aws-kms-client.ts');
  return (options) => awsKmsClient({ ...options, env: io.env });
}

/** Reads the settings from `catalog`, or from the product catalog if it exists (opening creates nothing). */
async function withSettings<T>(io: Io, catalog: Catalog | undefined, use: (settings: KmsSettings | undefined) => Promise<T>): Promise<T> {
  if (catalog !== undefined) return use(readKmsSettings(catalog));
  let own: Catalog | undefined;
  try {
    own = await openProductCatalog(io, { create: false });
  } catch (error) {
    if (!(error instanceof BunkerError)) throw error;
    return use(undefined);
  }
  try {
    return await use(readKmsSettings(own));
  } finally {
    own?.close();
  }
}

/** The `kms` option of an encrypted backup while KMS is enabled; undefined otherwise. */
export async function kmsBackupOption(io: Io, catalog: Catalog | undefined): Promise<BackupOptions['kms']> {
  return withSettings(io, catalog, async (settings) => settings?.enabled ? kmsBackupOptionFor(settings, await kmsClients(io)) : undefined);
}

/**
 * While KMS is enabled: a function encrypting a password version's H under the configured key
 * for the catalog (FORMAT.md §6.4, catalog context); undefined when KMS is not enabled.
 */
export async function kmsCatalogWrapper(io: Io, catalog: Catalog, failing: string): Promise<((version: { salt: Uint8Array; hash: Uint8Array }) => Promise<PointKms>) | undefined> {
  const settings = readKmsSettings(catalog);
  return settings?.enabled ? catalogWrapper(settings, await kmsClients(io), failing) : undefined;
}

/**
 * Restore step 2 for the CLI. With KMS settings in the catalog, only the keys enabled here are
 * trusted (docs/SECURITY.md); without a catalog (a fresh install), the point's own key ARN
 * is used. A hash KMS gave back is cached in the catalog, created if needed, as a named
 * password `kms-<first 12 hex of the salt>`, so the next restore needs neither KMS nor a
 * password.
 */
export function kmsKeyResolver(io: Io, catalog?: Catalog): KeyResolver {
  let resolver: Promise<KeyResolver> | undefined;
  const make = (): Promise<KeyResolver> => withSettings(io, catalog, async (settings) =>
    kmsResolverFor(settings, await kmsClients(io), ({ series, error }) => io.err(`warning: AWS KMS was not used for backup "${series}": ${error.message}\n`)));
  return {
    async resolve(request) {
      if (request.kms === undefined) throw new BunkerError('NOT_FOUND', 'the point has no KMS-encrypted password hash');
      resolver ??= make();
      const found = await (await resolver).resolve(request);
      await cacheHash(io, catalog, { series: request.series, salt: request.salt, kdf: request.kdf, hash: found.hash });
      return found;
    },
  };
}

async function cacheHash(io: Io, catalog: Catalog | undefined, found: { series: string; salt: Uint8Array; kdf: KdfParams; hash: Uint8Array }): Promise<void> {
  let own: Catalog | undefined;
  try {
    const target = catalog ?? (own = await openProductCatalog(io, { create: true }));
    if (target !== undefined) await keepKmsHash(target, found);
  } catch (error) {
    if (!(error instanceof BunkerError)) throw error;
    io.err(`warning: the password hash from AWS KMS was not saved in the product database: ${error.message}\n`);
  } finally {
    own?.close();
  }
}
