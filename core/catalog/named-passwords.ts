/**
 * Named passwords as `bunker password` and the /v1/passwords routes use them: create and
 * rotate (deriving H, with its KMS copy while KMS is enabled: if KMS cannot be used, nothing is
 * stored), describe, list and remove, and the current hash for a backup. Nothing returned
 * here holds a secret: no password, no salt, no hash.
 */
import { BunkerError } from '../errors.ts';
import type { KdfParams } from '../crypto/kdf.ts';
import type { KeySource } from '../key-resolver.ts';
import type { KmsCatalogWrap } from '../kms/kms-settings.ts';
import { type Catalog, derivePasswordVersion, type PasswordUsage } from './catalog.ts';
import { checkCatalogName, isCatalogName, isPasswordPurpose, PASSWORD_PURPOSES, type PasswordInfo, type PasswordPurpose } from './records.ts';

/** A point that used a password, as shown (no salt). */
export interface PointUse {
  readonly repository: string;
  readonly pointId: string;
  readonly series: string;
  readonly createdAt: string;
  readonly job: string | null;
}

export type PasswordListing = PasswordInfo & { readonly jobs: readonly string[] };
export type PasswordDescription = PasswordListing & { readonly points: readonly PointUse[] };

export interface RemovedPassword {
  readonly name: string;
  readonly versions: number;
  readonly jobs: readonly string[];
  readonly points: readonly PointUse[];
}

export interface NewPasswordRequest {
  readonly name: string;
  readonly purpose?: string;
  readonly description?: string;
  readonly kdf?: KdfParams;
}

function pointUses(usage: PasswordUsage): PointUse[] {
  return usage.points.map((p) => ({ repository: p.repository, pointId: p.pointId, series: p.series, createdAt: p.createdAt, job: p.job }));
}

/**
 * Stores a new named password. The name and purpose are checked (and a taken name refused)
 * before `password` is asked for; `wrap` keeps a KMS copy of H while KMS is enabled.
 */
export async function createNamedPassword(catalog: Catalog, request: NewPasswordRequest, password: () => Promise<string>, wrap?: KmsCatalogWrap): Promise<PasswordInfo> {
  const name = checkCatalogName('password', request.name);
  const purpose = request.purpose ?? 'backup';
  if (!isPasswordPurpose(purpose)) throw new BunkerError('USAGE', `the purpose must be one of ${PASSWORD_PURPOSES.join(', ')}`);
  if (catalog.hasPassword(name)) throw new BunkerError('ALREADY_EXISTS', `a password named "${name}" already exists (rotate it with "bunker password rotate")`);
  const version = await derivePasswordVersion(await password(), request.kdf);
  const kms = wrap === undefined ? undefined : await wrap(version);
  return catalog.createPassword({ name, purpose: purpose as PasswordPurpose, description: request.description ?? '', version, ...(kms === undefined ? {} : { kms }) });
}

/** A new current version for future points; the KDF parameters stay unless `kdf` is given. */
export async function rotateNamedPassword(catalog: Catalog, name: string, password: () => Promise<string>, options: { kdf?: KdfParams; wrap?: (name: string) => KmsCatalogWrap | undefined } = {}): Promise<PasswordInfo> {
  const before = catalog.describePassword(name).info;
  const current = before.versions.find((v) => v.version === before.currentVersion)!;
  const version = await derivePasswordVersion(await password(), options.kdf ?? current.kdf);
  const wrap = options.wrap?.(before.name);
  return catalog.addPasswordVersion(name, version, wrap === undefined ? undefined : await wrap(version));
}

export function listNamedPasswords(catalog: Catalog | undefined): PasswordListing[] {
  if (catalog === undefined) return [];
  return catalog.listPasswords().map((info) => ({ ...info, jobs: catalog.describePassword(info.name).usage.jobs }));
}

export function describeNamedPassword(catalog: Catalog, name: string): PasswordDescription {
  const { info, usage } = catalog.describePassword(name);
  return { ...info, jobs: usage.jobs, points: pointUses(usage) };
}

/** Forgets a named password (IN_USE while a job names it, unless `force`); says what depended on it. */
export function removeNamedPassword(catalog: Catalog, name: string, force: boolean): RemovedPassword {
  const { info, usage } = catalog.removePassword(name, force);
  return { name: info.name, versions: info.versions.length, jobs: usage.jobs, points: pointUses(usage) };
}

/** The current version of a named backup password, as backup takes it (`passwordHash`). */
export async function namedBackupPassword(catalog: Catalog | undefined, name: string): Promise<{ hash: Uint8Array; salt: Uint8Array; kdf: KdfParams; source: KeySource }> {
  // Never echo the name: someone may have typed a password where a name belongs.
  if (catalog === undefined || !isCatalogName(name)) throw new BunkerError('NOT_FOUND', 'no stored password has that name (bunker password create NAME stores one)');
  const version = await catalog.currentPassword(name, 'backup');
  return { hash: version.hash, salt: version.salt, kdf: version.kdf, source: 'catalog' };
}
