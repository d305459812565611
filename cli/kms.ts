/**
 * AWS KMS in the CLI: the settings `bunker kms enable` stores in the product catalog, the
 * `kms` option every encrypted backup then gets, and the KMS step of the restore key order
 * (after the catalog, before the password), which says why KMS could not be used before the
 * password is asked for, and caches a hash KMS gave back in the catalog.
 *
 * Credentials are the AWS SDK's standard chain; the endpoint is --endpoint at enable time, or
 * the SDK's AWS_ENDPOINT_URL_KMS. KMS never applies to configuration bundles or self-backups.
 */
import { type BackupOptions, BunkerError, type KdfParams, type KeyResolver, KmsError, KmsKeyResolver, type PointKms, wrapCatalogPasswordHash } from '../core/mod.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import { awsKmsClientFactory } from '../core/host/aws-kms-client.ts';
import { toHex } from '../core/format/bytes.ts';
import { openProductCatalog } from './context.ts';
import type { Io } from './io.ts';

/** The catalog setting that holds the KMS configuration, as JSON. */
export const KMS_SETTING = 'kms';

export interface KmsSettings {
  readonly enabled: boolean;
  /** As the user gave it (a key id, ARN, alias name or alias ARN). */
  readonly keyId: string;
  /** The key's ARN, from DescribeKey at enable time. */
  readonly keyArn: string;
  readonly region: string;
  readonly accountId?: string;
  /** A KMS-compatible endpoint given with --endpoint. */
  readonly endpoint?: string;
  /** When DescribeKey last found the key usable (ISO 8601). */
  readonly checkedAt: string;
  /** Every key ARN ever enabled here, the current one included: restore trusts these. */
  readonly trustedKeyArns?: readonly string[];
}

export function readKmsSettings(catalog: Catalog | undefined): KmsSettings | undefined {
  const value = catalog?.getSetting(KMS_SETTING);
  if (value === undefined || value === '') return undefined;
  try {
    const parsed = JSON.parse(value) as KmsSettings;
    return typeof parsed.keyArn === 'string' && typeof parsed.keyId === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function writeKmsSettings(catalog: Catalog, settings: KmsSettings): void {
  catalog.setSetting(KMS_SETTING, JSON.stringify(settings));
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
  return withSettings(io, catalog, async (settings) => {
    if (settings === undefined || !settings.enabled) return undefined;
    const clientFor = awsKmsClientFactory({ ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }), env: io.env });
    return { client: clientFor(settings.region), keyId: settings.keyArn };
  });
}

/**
 * While KMS is enabled: a function encrypting a password version's H under the configured key
 * for the catalog (FORMAT.md §6.4, catalog context). A failure is the KmsError of the call,
 * its message prefixed with `failing` (what did not happen). Undefined when KMS is not enabled.
 */
export async function kmsCatalogWrapper(io: Io, catalog: Catalog, failing: string): Promise<((version: { salt: Uint8Array; hash: Uint8Array }) => Promise<PointKms>) | undefined> {
  const option = await kmsBackupOption(io, catalog);
  if (option === undefined) return undefined;
  return async (version) => {
    try {
      return await wrapCatalogPasswordHash(option.client, { keyId: option.keyId, hash: version.hash, salt: version.salt });
    } catch (error) {
      if (error instanceof KmsError) throw new KmsError(error.reason, `${failing}: KMS is enabled and ${error.message}`, { cause: error });
      throw error;
    }
  };
}

/**
 * Restore step 2 for the CLI. With KMS settings in the catalog, only the keys enabled here are
 * trusted (docs/SECURITY.md); without a catalog (a fresh install), the point's own key ARN
 * is used. A hash KMS gave back is cached in the catalog, created if needed, as a named
 * password `kms-<first 12 hex of the salt>`, so the next restore needs neither KMS nor a
 * password.
 */
export function kmsKeyResolver(io: Io, catalog?: Catalog): KeyResolver {
  let resolver: Promise<KmsKeyResolver> | undefined;
  const make = (): Promise<KmsKeyResolver> => withSettings(io, catalog, async (settings) => {
    const endpoint = settings?.endpoint;
    return new KmsKeyResolver({
      clientFor: awsKmsClientFactory({ ...(endpoint === undefined ? {} : { endpoint }), env: io.env }),
      ...(settings === undefined ? {} : { trustedKeyArns: settings.trustedKeyArns ?? [settings.keyArn] }),
      onFailure: ({ series, error }) => io.err(`warning: AWS KMS was not used for backup "${series}": ${error.message}\n`),
    });
  });
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
    if (target === undefined || (await target.findPasswordHash(found.salt)) !== undefined) return;
    await target.createPassword({
      name: `kms-${toHex(found.salt).slice(0, 12)}`,
      purpose: 'backup',
      description: `recovered from AWS KMS for backup "${found.series}"`,
      version: { version: 1, createdAt: new Date().toISOString(), kdf: found.kdf, salt: found.salt, hash: found.hash },
    });
  } catch (error) {
    if (!(error instanceof BunkerError)) throw error;
    io.err(`warning: the password hash from AWS KMS was not saved in the product database: ${error.message}\n`);
  } finally {
    own?.close();
  }
}
