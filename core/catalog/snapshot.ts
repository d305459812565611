/**
 * The content of a configuration bundle (FORMAT.md §14.3): the whole catalog as one JSON
 * object, password hashes and token hashes in base64. It only ever exists in memory or
 * inside a bundle's authenticated encryption (core/bundle.ts).
 *
 * The content is authenticated before it is parsed, so a parse failure means a bundle made
 * by something other than bunker with the right password: it is refused as TAMPERED, whole.
 */
import { checkKdfParams, checkSalt, type KdfParams, PASSWORD_HASH_BYTES } from '../crypto/kdf.ts';
import { BunkerError, isBunkerError } from '../errors.ts';
import { fromBase64, fromUtf8, toBase64, utf8 } from '../format/bytes.ts';
import {
  type CatalogJob, type CatalogPoint, type CatalogRepository, type CatalogSetting, type CatalogSnapshot, type CatalogToken,
  isCatalogName, isPasswordPurpose, type PasswordVersion, type StoredPassword,
  isTokenScope,
} from './records.ts';

/** A decoded bundle content: when it was exported, and the catalog. */
export interface BundleContent {
  readonly exportedAt: string;
  readonly catalog: CatalogSnapshot;
}

const HEX64 = /^[0-9a-f]{64}$/;
const TOKEN_HASH_BYTES = 32;

/** JSON members in writer order (FORMAT.md §14.3). */
export function encodeSnapshot(content: BundleContent): Uint8Array {
  const c = content.catalog;
  return utf8(JSON.stringify({
    exportedAt: content.exportedAt,
    passwords: c.passwords.map((p) => ({
      name: p.name,
      purpose: p.purpose,
      description: p.description,
      createdAt: p.createdAt,
      currentVersion: p.currentVersion,
      versions: p.versions.map((v) => ({ version: v.version, createdAt: v.createdAt, kdf: kdfJson(v.kdf), salt: toBase64(v.salt), hash: toBase64(v.hash) })),
    })),
    repositories: c.repositories.map((r) => ({ location: r.location, repositoryId: r.repositoryId, addedAt: r.addedAt })),
    jobs: c.jobs.map((j) => ({
      name: j.name, repository: j.repository, series: j.series, sources: j.sources, excludes: j.excludes, password: j.password,
      encrypt: j.encrypt, compression: j.compression, createdAt: j.createdAt, lastRunAt: j.lastRunAt, lastPointId: j.lastPointId,
    })),
    points: c.points.map((p) => ({ repository: p.repository, pointId: p.pointId, series: p.series, createdAt: p.createdAt, salt: p.salt === null ? null : toBase64(p.salt), job: p.job })),
    settings: c.settings.map((s) => ({ key: s.key, value: s.value })),
    tokens: c.tokens.map((t) => ({ name: t.name, scope: t.scope, hash: toBase64(t.hash), createdAt: t.createdAt })),
  }));
}

function kdfJson(kdf: KdfParams): KdfParams {
  return { algorithm: kdf.algorithm, memoryKiB: kdf.memoryKiB, iterations: kdf.iterations, parallelism: kdf.parallelism };
}

/** Parses and validates a bundle's content; anything malformed is TAMPERED naming `objectName`. */
export function parseSnapshot(bytes: Uint8Array, objectName: string): BundleContent {
  const invalid = (why: string): never => {
    throw new BunkerError('TAMPERED', `${objectName}: the bundle's content is invalid (${why})`, { object: objectName });
  };
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(bytes));
  } catch {
    return invalid('not UTF-8 JSON');
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const isString = (v: unknown): v is string => typeof v === 'string';
  const isNullableString = (v: unknown): v is string | null => v === null || typeof v === 'string';
  const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
  const array = (v: unknown, what: string): Record<string, unknown>[] => {
    if (!Array.isArray(v) || !v.every(isObject)) return invalid(`${what} is not an array of objects`);
    return v;
  };
  const base64 = (v: unknown, what: string): Uint8Array => {
    if (!isString(v) || v.length === 0) return invalid(`${what} is not base64`);
    try {
      return fromBase64(v);
    } catch {
      return invalid(`${what} is not base64`);
    }
  };
  const unique = (values: string[], what: string): void => {
    if (new Set(values).size !== values.length) invalid(`two ${what} share a name`);
  };
  if (!isObject(json)) return invalid('not a JSON object');
  if (!isString(json.exportedAt)) invalid('exportedAt is missing');

  const passwords: StoredPassword[] = array(json.passwords, 'passwords').map((p) => {
    if (!isCatalogName(p.name) || !isPasswordPurpose(p.purpose) || !isString(p.description) || !isString(p.createdAt)) return invalid('a password has bad fields');
    const versions: PasswordVersion[] = array(p.versions, `password "${p.name}" versions`).map((v) => {
      if (!Number.isSafeInteger(v.version) || (v.version as number) < 1 || !isString(v.createdAt)) return invalid(`password "${p.name}" has a bad version`);
      const salt = base64(v.salt, 'a salt');
      const hash = base64(v.hash, 'a password hash');
      if (hash.length !== PASSWORD_HASH_BYTES) invalid('a password hash is not 32 bytes');
      let kdf: KdfParams;
      try {
        checkSalt(salt);
        kdf = checkKdfParams(v.kdf);
      } catch (error) {
        if (isBunkerError(error, 'KDF_PARAMS_OUT_OF_RANGE')) return invalid(`password "${p.name}": ${error.message}`);
        throw error;
      }
      return { version: v.version as number, createdAt: v.createdAt, kdf, salt, hash };
    });
    if (versions.length === 0) invalid(`password "${p.name}" has no versions`);
    unique(versions.map((v) => String(v.version)), `versions of password "${p.name}"`);
    if (!versions.some((v) => v.version === p.currentVersion)) invalid(`password "${p.name}" has no current version`);
    return { name: p.name, purpose: p.purpose, description: p.description, createdAt: p.createdAt, currentVersion: p.currentVersion as number, versions };
  });
  unique(passwords.map((p) => p.name), 'passwords');
  unique(passwords.flatMap((p) => p.versions.map((v) => toBase64(v.salt))), 'password versions (salts)');

  const repositories: CatalogRepository[] = array(json.repositories, 'repositories').map((r) => {
    if (!isString(r.location) || r.location === '' || !isNullableString(r.repositoryId) || (r.repositoryId !== null && !HEX64.test(r.repositoryId)) || !isString(r.addedAt)) {
      return invalid('a repository has bad fields');
    }
    return { location: r.location, repositoryId: r.repositoryId, addedAt: r.addedAt };
  });
  unique(repositories.map((r) => r.location), 'repositories');
  const locations = new Set(repositories.map((r) => r.location));

  const jobs: CatalogJob[] = array(json.jobs, 'jobs').map((j) => {
    if (!isCatalogName(j.name) || !isString(j.repository) || !locations.has(j.repository) || !isString(j.series) || !isStrings(j.sources) || j.sources.length === 0 ||
      !isStrings(j.excludes) || !isNullableString(j.password) || typeof j.encrypt !== 'boolean' || !isString(j.compression) || !isString(j.createdAt) ||
      !isNullableString(j.lastRunAt) || !isNullableString(j.lastPointId)) {
      return invalid('a job has bad fields');
    }
    return {
      name: j.name, repository: j.repository, series: j.series, sources: j.sources, excludes: j.excludes, password: j.password, encrypt: j.encrypt,
      compression: j.compression, createdAt: j.createdAt, lastRunAt: j.lastRunAt, lastPointId: j.lastPointId,
    };
  });
  unique(jobs.map((j) => j.name), 'jobs');

  const points: CatalogPoint[] = array(json.points, 'points').map((p) => {
    if (!isString(p.repository) || !isString(p.pointId) || !HEX64.test(p.pointId) || !isString(p.series) || !isString(p.createdAt) || !isNullableString(p.job)) {
      return invalid('a point has bad fields');
    }
    return { repository: p.repository, pointId: p.pointId, series: p.series, createdAt: p.createdAt, salt: p.salt === null ? null : base64(p.salt, 'a point salt'), job: p.job };
  });
  unique(points.map((p) => `${p.repository}\u0000${p.pointId}`), 'points');

  const settings: CatalogSetting[] = array(json.settings, 'settings').map((s) => {
    if (!isString(s.key) || !isString(s.value)) return invalid('a setting has bad fields');
    return { key: s.key, value: s.value };
  });
  unique(settings.map((s) => s.key), 'settings');

  const tokens: CatalogToken[] = array(json.tokens, 'tokens').map((t) => {
    if (!isCatalogName(t.name) || !isString(t.createdAt) || !isTokenScope(t.scope)) return invalid('a token has bad fields');
    const hash = base64(t.hash, 'a token hash');
    if (hash.length !== TOKEN_HASH_BYTES) invalid('a token hash is not 32 bytes');
    return { name: t.name, scope: t.scope, hash, createdAt: t.createdAt };
  });
  unique(tokens.map((t) => t.name), 'tokens');

  return { exportedAt: json.exportedAt as string, catalog: { passwords, repositories, jobs, points, settings, tokens } };
}
