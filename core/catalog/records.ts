/**
 * What the product catalog remembers, as plain values: named passwords (each version's salt,
 * KDF parameters and password hash H — never the plaintext), repositories, jobs, the recovery
 * points bunker wrote, settings and API tokens' hashes. The database (catalog.ts) and the
 * configuration bundle's content (snapshot.ts) both speak these types.
 */
import type { KdfParams } from '../crypto/kdf.ts';
import { BunkerError } from '../errors.ts';

/** What a named password is for (FORMAT.md §15.3). */
export const PASSWORD_PURPOSES = Object.freeze(['backup', 'bundle', 'fsi'] as const);
export type PasswordPurpose = (typeof PASSWORD_PURPOSES)[number];

/** One version of a named password, with its hash: in memory only, sealed at rest. */
export interface PasswordVersion {
  readonly version: number;
  readonly createdAt: string;
  readonly kdf: KdfParams;
  readonly salt: Uint8Array;
  /** H = Argon2id(password, salt, kdf), 32 bytes. */
  readonly hash: Uint8Array;
}

export interface StoredPassword {
  readonly name: string;
  readonly purpose: PasswordPurpose;
  readonly description: string;
  readonly createdAt: string;
  readonly currentVersion: number;
  /** Oldest first; old versions stay so the points they protect restore without a prompt. */
  readonly versions: readonly PasswordVersion[];
}

/** A named password as it is shown: no salt, no hash. */
export interface PasswordInfo {
  readonly name: string;
  readonly purpose: PasswordPurpose;
  readonly description: string;
  readonly createdAt: string;
  readonly currentVersion: number;
  /** When the current version was made, if it is not the first (the last rotation). */
  readonly rotatedAt: string | null;
  readonly versions: readonly { readonly version: number; readonly createdAt: string; readonly kdf: KdfParams; readonly kms?: boolean }[];
}

export interface CatalogRepository {
  /** The repository's location as the CLI resolved it (an absolute directory path). */
  readonly location: string;
  /** The id in its config, once known. */
  readonly repositoryId: string | null;
  readonly addedAt: string;
}

export interface CatalogJob {
  readonly name: string;
  /** A repository location. */
  readonly repository: string;
  /** The backup name (series) the job writes. */
  readonly series: string;
  readonly sources: readonly string[];
  readonly excludes: readonly string[];
  /** A named password (purpose backup), or null: the password comes from the usual sources. */
  readonly password: string | null;
  readonly encrypt: boolean;
  /** As `--compression` takes it: zstd, zstd:LEVEL or none. */
  readonly compression: string;
  readonly createdAt: string;
  readonly lastRunAt: string | null;
  readonly lastPointId: string | null;
}

/** A recovery point bunker wrote while the catalog was in use. */
export interface CatalogPoint {
  readonly repository: string;
  readonly pointId: string;
  readonly series: string;
  readonly createdAt: string;
  /** The point's salt (public: it is in the point), null for an unencrypted point. */
  readonly salt: Uint8Array | null;
  readonly job: string | null;
}

export interface CatalogSetting {
  readonly key: string;
  readonly value: string;
}

/** An API token: only SHA-256 of the token is kept (and sealed at rest). */
/** What an API token may do: read < backup < admin (each includes the ones before it). */
export const TOKEN_SCOPES = ['read', 'backup', 'admin'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

export function isTokenScope(value: unknown): value is TokenScope {
  return typeof value === 'string' && (TOKEN_SCOPES as readonly string[]).includes(value);
}

export interface CatalogToken {
  readonly name: string;
  readonly scope: TokenScope;
  readonly hash: Uint8Array;
  readonly createdAt: string;
}

/** Everything the catalog holds: the content of a configuration bundle (FORMAT.md §14.3). */
export interface CatalogSnapshot {
  readonly passwords: readonly StoredPassword[];
  readonly repositories: readonly CatalogRepository[];
  readonly jobs: readonly CatalogJob[];
  readonly points: readonly CatalogPoint[];
  readonly settings: readonly CatalogSetting[];
  readonly tokens: readonly CatalogToken[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,63}$/;

/** Password, job and token names: 1-64 letters, digits and . _ @ : + -, starting with a letter or digit. */
export function isCatalogName(name: unknown): name is string {
  return typeof name === 'string' && NAME.test(name);
}

export function checkCatalogName(kind: 'password' | 'job' | 'token', name: string): string {
  if (!isCatalogName(name)) {
    throw new BunkerError('USAGE', `${kind} name ${JSON.stringify(name)} is invalid: use 1-64 letters, digits and . _ @ : + -, starting with a letter or digit`);
  }
  return name;
}

export function isPasswordPurpose(value: unknown): value is PasswordPurpose {
  return (PASSWORD_PURPOSES as readonly unknown[]).includes(value);
}

export function passwordInfo(password: StoredPassword): PasswordInfo {
  const current = password.versions.find((v) => v.version === password.currentVersion);
  return {
    name: password.name,
    purpose: password.purpose,
    description: password.description,
    createdAt: password.createdAt,
    currentVersion: password.currentVersion,
    rotatedAt: current !== undefined && password.versions.length > 1 && current !== password.versions[0] ? current.createdAt : null,
    versions: password.versions.map((v) => ({ version: v.version, createdAt: v.createdAt, kdf: v.kdf })),
  };
}
