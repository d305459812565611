/**
 * The AWS KMS settings an installation keeps in its catalog (`bunker kms enable`, PUT /v1/kms)
 * and what follows from them: the `kms` option of encrypted backups, the KMS copies of named
 * passwords' hashes, the keys restore trusts, and keeping a hash KMS gave back. The host says
 * how to make a KMS client (core/host/aws-kms-client.ts on Node and Deno): the CLI with the
 * user's environment, the server with its own.
 */
import type { Catalog } from '../catalog/catalog.ts';
import { BunkerError } from '../errors.ts';
import { toHex } from '../format/bytes.ts';
import type { KdfParams } from '../crypto/kdf.ts';
import type { KmsClient, KmsKeyDescription } from './kms-client.ts';
import { parseKmsArn } from './kms-client.ts';
import { KmsError } from './kms-errors.ts';
import { type KmsFailure, KmsKeyResolver } from './kms-key-resolver.ts';
import { checkKmsKey, type PointKms, wrapCatalogPasswordHash } from './kms-wrap.ts';

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
  /** A KMS-compatible endpoint given at enable time. */
  readonly endpoint?: string;
  /** When DescribeKey last found the key usable (ISO 8601). */
  readonly checkedAt: string;
  /** Every key ARN ever enabled here, the current one included: restore trusts these. */
  readonly trustedKeyArns?: readonly string[];
}

/** Makes a KMS client for a region (undefined: the host's default) and endpoint (undefined: AWS's). */
export type KmsClientMaker = (options: { readonly region?: string; readonly endpoint?: string }) => KmsClient;

/** Encrypts a password version's H under the configured key, for the catalog (FORMAT.md §6.4). */
export type KmsCatalogWrap = (version: { salt: Uint8Array; hash: Uint8Array }) => Promise<PointKms>;

export interface KmsKeyRequest {
  readonly keyId: string;
  readonly region?: string;
  readonly endpoint?: string;
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

function withEndpoint(endpoint: string | undefined): { endpoint?: string } {
  return endpoint === undefined ? {} : { endpoint };
}

/** DescribeKey, checked: exists, Enabled, SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT (a KmsError otherwise). */
export function describeKmsKey(request: KmsKeyRequest, clients: KmsClientMaker): Promise<KmsKeyDescription> {
  const region = request.region ?? parseKmsArn(request.keyId)?.region;
  return checkKmsKey(clients({ ...(region === undefined ? {} : { region }), ...withEndpoint(request.endpoint) }), request.keyId);
}

/**
 * Saves `key` (checked by describeKmsKey) as the key of every encrypted backup from now on.
 * Keys enabled before stay trusted for restore. With `wrapExisting`, every stored password
 * version without a KMS copy gets one; `wrapped` counts them.
 */
export async function enableKms(catalog: Catalog, request: KmsKeyRequest & { readonly wrapExisting?: boolean }, key: KmsKeyDescription, clients: KmsClientMaker): Promise<KmsSettings & { wrapped?: number }> {
  // Points written under an earlier key keep naming it: restore must go on trusting it.
  const earlier = readKmsSettings(catalog);
  const trusted = [...new Set([...(earlier?.trustedKeyArns ?? (earlier === undefined ? [] : [earlier.keyArn])), key.keyArn])];
  const settings: KmsSettings = {
    enabled: true,
    keyId: request.keyId,
    keyArn: key.keyArn,
    region: parseKmsArn(key.keyArn)?.region ?? request.region ?? 'unknown',
    ...(key.accountId === undefined ? {} : { accountId: key.accountId }),
    ...withEndpoint(request.endpoint),
    checkedAt: new Date().toISOString(),
    trustedKeyArns: trusted,
  };
  writeKmsSettings(catalog, settings);
  if (!request.wrapExisting) return settings;
  // After the key check: every stored password version with no KMS copy yet gets one.
  const wrap = kmsCatalogWrapper(settings, clients, 'KMS is enabled, but the hashes of existing passwords were not all encrypted under it')!;
  let wrapped = 0;
  for (const version of await catalog.passwordVersionsWithoutKms()) {
    if (catalog.storePasswordKms(version.salt, await wrap(version))) wrapped++;
  }
  return { ...settings, wrapped };
}

/** Checks the enabled key with KMS again and records when. */
export async function recheckKms(catalog: Catalog, settings: KmsSettings, clients: KmsClientMaker): Promise<KmsSettings> {
  await describeKmsKey({ keyId: settings.keyArn, region: settings.region, ...withEndpoint(settings.endpoint) }, clients);
  const checked = { ...settings, checkedAt: new Date().toISOString() };
  writeKmsSettings(catalog, checked);
  return checked;
}

/** Stops KMS for new points (keys stay trusted for restore); NOT_FOUND when it is not enabled. */
export function disableKms(catalog: Catalog | undefined): KmsSettings {
  const settings = readKmsSettings(catalog);
  if (catalog === undefined || settings === undefined || !settings.enabled) throw new BunkerError('NOT_FOUND', 'KMS is not enabled');
  const disabled = { ...settings, enabled: false };
  writeKmsSettings(catalog, disabled);
  return disabled;
}

/** The `kms` option of an encrypted backup while KMS is enabled; undefined otherwise. */
export function kmsBackupOptionFor(settings: KmsSettings | undefined, clients: KmsClientMaker): { client: KmsClient; keyId: string } | undefined {
  if (settings === undefined || !settings.enabled) return undefined;
  return { client: clients({ region: settings.region, ...withEndpoint(settings.endpoint) }), keyId: settings.keyArn };
}

/**
 * While KMS is enabled: a function encrypting a password version's H under the configured key
 * for the catalog. A failure is the KmsError of the call, its message prefixed with `failing`
 * (what did not happen). Undefined when KMS is not enabled.
 */
export function kmsCatalogWrapper(settings: KmsSettings | undefined, clients: KmsClientMaker, failing: string): KmsCatalogWrap | undefined {
  const option = kmsBackupOptionFor(settings, clients);
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
 * Restore step 2. With settings, only the keys enabled here are trusted (docs/SECURITY.md);
 * without (a fresh install), the point's own key ARN is used.
 */
export function kmsResolverFor(settings: KmsSettings | undefined, clients: KmsClientMaker, onFailure: (failure: KmsFailure) => void): KmsKeyResolver {
  const endpoint = settings?.endpoint;
  return new KmsKeyResolver({
    clientFor: (region) => clients({ ...(region === undefined ? {} : { region }), ...withEndpoint(endpoint) }),
    ...(settings === undefined ? {} : { trustedKeyArns: settings.trustedKeyArns ?? [settings.keyArn] }),
    onFailure,
  });
}

/**
 * Keeps a hash KMS gave back as a named password `kms-<first 12 hex of the salt>`, so the next
 * restore needs neither KMS nor a password. Nothing when the catalog has the salt already.
 */
export async function keepKmsHash(catalog: Catalog, found: { series: string; salt: Uint8Array; kdf: KdfParams; hash: Uint8Array }): Promise<void> {
  if ((await catalog.findPasswordHash(found.salt)) !== undefined) return;
  await catalog.createPassword({
    name: `kms-${toHex(found.salt).slice(0, 12)}`,
    purpose: 'backup',
    description: `recovered from AWS KMS for backup "${found.series}"`,
    version: { version: 1, createdAt: new Date().toISOString(), kdf: found.kdf, salt: found.salt, hash: found.hash },
  });
}
