/**
 * The product catalog (DESIGN.md "Product database"): named passwords, repositories, jobs,
 * the points bunker wrote, settings and API tokens, in an SQLite database reached through
 * an injected SqlDatabase (core/host/sqlite.ts on Node and Deno). Secrets — password hashes
 * and token hashes — are sealed under the local master key (secret-box.ts); nothing else in
 * the database is secret.
 *
 * Every change is one write transaction (BEGIN IMMEDIATE), so two processes (a CLI and a
 * server) never lose each other's updates. Transactions are synchronous blocks: the async
 * work (Argon2id, sealing, opening) is done before or after them, never inside.
 */
import { checkKdfParams, DEFAULT_KDF_PARAMS, derivePasswordHash, type KdfParams, SALT_BYTES } from '../crypto/kdf.ts';
import { BunkerError } from '../errors.ts';
import { bytesEqual, constantTimeEqual, fromBase64, randomBytes, toHex, utf8 } from '../format/bytes.ts';
import {
  type CatalogJob, type CatalogPoint, type CatalogRepository, type CatalogSetting, type CatalogSnapshot, type CatalogToken,
  checkCatalogName, isPasswordPurpose, type PasswordInfo, passwordInfo, type PasswordPurpose, type PasswordVersion, type StoredPassword,
  isTokenScope, TOKEN_SCOPES, type TokenScope,
} from './records.ts';
import { migrate } from './schema.ts';
import type { PointKms } from '../kms/kms-wrap.ts';
import { SecretBox } from './secret-box.ts';
import { type SqlDatabase, type SqlRow, transaction } from './sql.ts';

/** Where the master key comes from: the host keeps it in a file (core/host/master-key-file.ts). */
export interface MasterKeyStore {
  /** Where the key lives, for messages. */
  readonly location: string;
  /** The key, or undefined when there is none yet. */
  read(): Promise<Uint8Array | undefined>;
  /** Stores a new random key and returns it (or the one another process stored first). */
  create(): Promise<Uint8Array>;
}

/** A password hash found for a salt (restore step 1), with what it belongs to. */
export interface FoundPasswordHash {
  readonly name: string;
  readonly purpose: PasswordPurpose;
  readonly version: number;
  readonly salt: Uint8Array;
  readonly kdf: KdfParams;
  readonly hash: Uint8Array;
}

/** Jobs and recorded points that use a named password (any of its versions). */
export interface PasswordUsage {
  readonly jobs: readonly string[];
  readonly points: readonly CatalogPoint[];
}

export interface ImportSummary {
  readonly replaced: boolean;
  /** Items written, per kind. Items already present and identical are skipped, not counted. */
  readonly added: { readonly passwords: number; readonly repositories: number; readonly jobs: number; readonly points: number; readonly settings: number; readonly tokens: number };
}

/** A new password version: random salt, H = Argon2id(password, salt, kdf). */
export async function derivePasswordVersion(password: string, kdf: KdfParams = DEFAULT_KDF_PARAMS, version = 1, createdAt = now()): Promise<PasswordVersion> {
  if (password.length === 0) throw new BunkerError('USAGE', 'the password is empty');
  const salt = randomBytes(SALT_BYTES);
  return { version, createdAt, kdf: checkKdfParams(kdf), salt, hash: await derivePasswordHash(password, salt, kdf) };
}

function now(): string {
  return new Date().toISOString();
}

const text = (row: SqlRow, column: string): string => row[column] as string;
const optionalText = (row: SqlRow, column: string): string | null => (row[column] ?? null) as string | null;
const integer = (row: SqlRow, column: string): number => Number(row[column]);
const bytes = (row: SqlRow, column: string): Uint8Array => row[column] as Uint8Array;

function kdfOf(row: SqlRow): KdfParams {
  return { algorithm: 'argon2id', memoryKiB: integer(row, 'kdf_memory_kib'), iterations: integer(row, 'kdf_iterations'), parallelism: integer(row, 'kdf_parallelism') };
}

function jobOf(row: SqlRow): CatalogJob {
  return {
    name: text(row, 'name'),
    repository: text(row, 'repository'),
    series: text(row, 'series'),
    sources: JSON.parse(text(row, 'sources')) as string[],
    excludes: JSON.parse(text(row, 'excludes')) as string[],
    password: optionalText(row, 'password'),
    encrypt: integer(row, 'encrypt') === 1,
    compression: text(row, 'compression'),
    createdAt: text(row, 'created_at'),
    lastRunAt: optionalText(row, 'last_run_at'),
    lastPointId: optionalText(row, 'last_point_id'),
  };
}

function pointOf(row: SqlRow): CatalogPoint {
  return {
    repository: text(row, 'repository'),
    pointId: text(row, 'point_id'),
    series: text(row, 'series'),
    createdAt: text(row, 'created_at'),
    salt: (row.salt ?? null) as Uint8Array | null,
    job: optionalText(row, 'job'),
  };
}

/** Never echoes the name: someone may have typed a password where a name belongs. */
function noSuchPassword(): BunkerError {
  return new BunkerError('NOT_FOUND', 'no stored password has that name (bunker password list shows them)');
}

export class Catalog {
  readonly db: SqlDatabase;
  private readonly box: SecretBox;

  private constructor(db: SqlDatabase, box: SecretBox) {
    this.db = db;
    this.box = box;
  }

  /**
   * Opens the catalog in `db`: migrates the schema, then loads the master key and checks it
   * against the database's key check. A database whose key file is missing or is another
   * database's is CATALOG_FAILED: making a new key would silently orphan every stored hash.
   */
  static async open(db: SqlDatabase, keys: MasterKeyStore): Promise<Catalog> {
    migrate(db);
    const keyCheck = (): Uint8Array | undefined => db.get("SELECT value FROM meta WHERE key = 'key_check'")?.value as Uint8Array | undefined;
    const stored = keyCheck();
    if (stored !== undefined) {
      const key = await keys.read();
      if (key === undefined) {
        throw new BunkerError('CATALOG_FAILED', `the master key file ${keys.location} is missing, so the secrets in ${db.location} cannot be read: ` +
          'put the file back (from a copy of the data directory), or move the database aside to start afresh');
      }
      const box = await SecretBox.fromKey(key);
      if (!(await box.isKeyCheckValid(stored))) {
        throw new BunkerError('CATALOG_FAILED', `${keys.location} is not the master key of ${db.location} (the key check does not open)`);
      }
      return new Catalog(db, box);
    }
    const box = await SecretBox.fromKey((await keys.read()) ?? (await keys.create()));
    const check = await box.newKeyCheck();
    transaction(db, () => db.run("INSERT OR IGNORE INTO meta (key, value) VALUES ('key_check', ?)", check));
    // Another process may have stored its check first; it must be for the same key.
    if (!(await box.isKeyCheckValid(keyCheck()!))) {
      throw new BunkerError('CATALOG_FAILED', `${keys.location} is not the master key of ${db.location} (the key check does not open)`);
    }
    return new Catalog(db, box);
  }

  close(): void {
    this.db.close();
  }

  // -------------------------------------------------------------------------------------
  // Named passwords

  /** Stores a new named password; ALREADY_EXISTS when the name is taken. */
  async createPassword(input: { name: string; purpose: PasswordPurpose; description?: string; version: PasswordVersion; kms?: PointKms }): Promise<PasswordInfo> {
    checkCatalogName('password', input.name);
    if (!isPasswordPurpose(input.purpose)) throw new BunkerError('USAGE', `password purpose must be one of backup, bundle, fsi`);
    const sealed = await this.box.seal('password-hash', input.version.salt, input.version.hash);
    transaction(this.db, () => {
      if (this.db.get('SELECT 1 AS found FROM passwords WHERE name = ?', input.name)) {
        throw new BunkerError('ALREADY_EXISTS', `a password named "${input.name}" already exists (rotate it with "bunker password rotate")`);
      }
      this.db.run('INSERT INTO passwords (name, purpose, description, created_at, current_version) VALUES (?, ?, ?, ?, ?)',
        input.name, input.purpose, input.description ?? '', input.version.createdAt, input.version.version);
      this.insertVersion(input.name, input.version, sealed);
      if (input.kms !== undefined) this.insertKms(input.version.salt, input.kms);
    });
    return passwordInfo(this.passwordWithoutHashes(input.name));
  }

  /**
   * Adds a new version to a named password and makes it current: future points use it, and
   * the old versions stay, so the points they protect still restore without a prompt.
   */
  async rotatePassword(name: string, password: string, kdf?: KdfParams): Promise<PasswordInfo> {
    const before = this.passwordWithoutHashes(name);
    const current = before.versions.find((v) => v.version === before.currentVersion)!;
    return this.addPasswordVersion(name, await derivePasswordVersion(password, kdf ?? current.kdf));
  }

  /**
   * Stores a hash already derived (salt, parameters, H) as the newest version of a named
   * password and makes it current; `version.version` is ignored (the next number is used).
   * ALREADY_EXISTS when the salt is stored already.
   */
  async addPasswordVersion(name: string, version: PasswordVersion, kms?: PointKms): Promise<PasswordInfo> {
    const sealed = await this.box.seal('password-hash', version.salt, version.hash);
    transaction(this.db, () => {
      const row = this.db.get('SELECT id, (SELECT max(version) FROM password_versions WHERE password_id = passwords.id) AS last FROM passwords WHERE name = ?', name);
      if (row === undefined) throw noSuchPassword();
      if (this.db.get('SELECT 1 AS found FROM password_versions WHERE salt = ?', version.salt)) throw new BunkerError('ALREADY_EXISTS', 'this password hash is stored already');
      const next = integer(row, 'last') + 1;
      this.insertVersion(name, { ...version, version: next }, sealed);
      if (kms !== undefined) this.insertKms(version.salt, kms);
      this.db.run('UPDATE passwords SET current_version = ? WHERE name = ?', next, name);
    });
    return passwordInfo(this.passwordWithoutHashes(name));
  }

  /**
   * Removes a named password and every version of its hash. Refuses (IN_USE) while a job
   * uses it, unless `force`. Returns what depended on it: those points can then be restored
   * only by typing the password.
   */
  removePassword(name: string, force = false): { info: PasswordInfo; usage: PasswordUsage } {
    return transaction(this.db, () => {
      const info = passwordInfo(this.passwordWithoutHashes(name));
      const usage = this.passwordUsage(name);
      if (usage.jobs.length > 0 && !force) {
        throw new BunkerError('IN_USE', `password "${name}" is used by job${usage.jobs.length > 1 ? 's' : ''} ${usage.jobs.map((j) => `"${j}"`).join(', ')}: ` +
          'remove those jobs first, or use --force');
      }
      this.db.run('DELETE FROM passwords WHERE name = ?', name);
      return { info, usage };
    });
  }

  hasPassword(name: string): boolean {
    return this.db.get('SELECT 1 AS found FROM passwords WHERE name = ?', name) !== undefined;
  }

  listPasswords(): PasswordInfo[] {
    return transaction(this.db, () => this.db.all('SELECT name FROM passwords ORDER BY name').map((row) => passwordInfo(this.passwordWithoutHashes(text(row, 'name')))), 'read');
  }

  describePassword(name: string): { info: PasswordInfo; usage: PasswordUsage } {
    return transaction(this.db, () => {
      const info = passwordInfo(this.passwordWithoutHashes(name));
      const wrapped = new Set(this.db.all('SELECT k.version FROM password_version_kms k JOIN passwords p ON p.id = k.password_id WHERE p.name = ?', name).map((r) => integer(r, 'version')));
      return { info: { ...info, versions: info.versions.map((v) => ({ ...v, kms: wrapped.has(v.version) })) }, usage: this.passwordUsage(name) };
    }, 'read');
  }

  /** Every stored password version with no KMS-encrypted copy yet, hash included (for wrapping). */
  async passwordVersionsWithoutKms(): Promise<{ name: string; version: number; salt: Uint8Array; hash: Uint8Array }[]> {
    const rows = transaction(this.db, () => this.db.all(
      'SELECT p.name, v.* FROM password_versions v JOIN passwords p ON p.id = v.password_id ' +
        'WHERE NOT EXISTS (SELECT 1 FROM password_version_kms k WHERE k.password_id = v.password_id AND k.version = v.version) ORDER BY p.name, v.version',
    ), 'read');
    const found = [];
    for (const row of rows) {
      const opened = await this.openVersion(text(row, 'name'), row);
      found.push({ name: text(row, 'name'), version: opened.version, salt: opened.salt, hash: opened.hash });
    }
    return found;
  }

  /**
   * Stores the KMS-encrypted copy of the version with `salt` (never H itself). False when the
   * version is gone or already has a copy (another process was first).
   */
  storePasswordKms(salt: Uint8Array, kms: PointKms): boolean {
    return transaction(this.db, () => this.insertKms(salt, kms) > 0);
  }

  private insertKms(salt: Uint8Array, kms: PointKms): number {
    return Number(this.db.run(
      'INSERT OR IGNORE INTO password_version_kms (password_id, version, key_arn, ciphertext, context, created_at) ' +
        'SELECT password_id, version, ?, ?, ?, ? FROM password_versions WHERE salt = ?',
      kms.keyArn, fromBase64(kms.ciphertext), JSON.stringify(kms.context), now(), salt,
    ).changes);
  }

  /**
   * The current version of a named password, hash included, for a backup or a bundle.
   * NOT_FOUND when there is none; USAGE when it is for another purpose.
   */
  async currentPassword(name: string, purpose: PasswordPurpose): Promise<PasswordVersion> {
    const stored = transaction(this.db, () => this.storedPasswordRows(name), 'read');
    if (stored.password.purpose !== purpose) {
      throw new BunkerError('USAGE', `password "${name}" is a ${stored.password.purpose} password; this needs a ${purpose} password`);
    }
    const row = stored.versions.find((v) => integer(v, 'version') === stored.password.currentVersion)!;
    return this.openVersion(name, row);
  }

  /**
   * Restore step 1: the password hash stored for `salt`, whichever named password and
   * version it belongs to; undefined when the catalog has none. The caller checks it against
   * the point's verifier before use (FORMAT.md §3.3).
   */
  async findPasswordHash(salt: Uint8Array): Promise<FoundPasswordHash | undefined> {
    const row = this.db.get('SELECT p.name, p.purpose, v.* FROM password_versions v JOIN passwords p ON p.id = v.password_id WHERE v.salt = ?', salt);
    if (row === undefined) return undefined;
    const version = await this.openVersion(text(row, 'name'), row);
    return { name: text(row, 'name'), purpose: text(row, 'purpose') as PasswordPurpose, version: version.version, salt: version.salt, kdf: version.kdf, hash: version.hash };
  }

  private insertVersion(name: string, version: PasswordVersion, sealedHash: Uint8Array): void {
    const kdf = version.kdf;
    this.db.run(
      'INSERT INTO password_versions (password_id, version, salt, kdf_memory_kib, kdf_iterations, kdf_parallelism, sealed_hash, created_at) ' +
        'SELECT id, ?, ?, ?, ?, ?, ?, ? FROM passwords WHERE name = ?',
      version.version, version.salt, kdf.memoryKiB, kdf.iterations, kdf.parallelism, sealedHash, version.createdAt, name,
    );
  }

  private storedPasswordRows(name: string): { password: Omit<StoredPassword, 'versions'>; versions: SqlRow[] } {
    const row = this.db.get('SELECT * FROM passwords WHERE name = ?', name);
    if (row === undefined) throw noSuchPassword();
    return {
      password: {
        name: text(row, 'name'),
        purpose: text(row, 'purpose') as PasswordPurpose,
        description: text(row, 'description'),
        createdAt: text(row, 'created_at'),
        currentVersion: integer(row, 'current_version'),
      },
      versions: this.db.all('SELECT * FROM password_versions WHERE password_id = ? ORDER BY version', row.id!),
    };
  }

  /** A stored password with empty hashes: for showing, never for use. */
  private passwordWithoutHashes(name: string): StoredPassword {
    const { password, versions } = this.storedPasswordRows(name);
    return {
      ...password,
      versions: versions.map((v) => ({ version: integer(v, 'version'), createdAt: text(v, 'created_at'), kdf: kdfOf(v), salt: bytes(v, 'salt'), hash: new Uint8Array(0) })),
    };
  }

  private async openVersion(name: string, row: SqlRow): Promise<PasswordVersion> {
    const salt = bytes(row, 'salt');
    const hash = await this.box.openOrFail('password-hash', salt, bytes(row, 'sealed_hash'), `the stored hash of password "${name}" (version ${integer(row, 'version')})`);
    return { version: integer(row, 'version'), createdAt: text(row, 'created_at'), kdf: kdfOf(row), salt, hash };
  }

  private passwordUsage(name: string): PasswordUsage {
    const jobs = this.db.all('SELECT name FROM jobs WHERE password = ? ORDER BY name', name).map((r) => text(r, 'name'));
    const points = this.db.all(
      'SELECT pt.* FROM points pt JOIN password_versions v ON v.salt = pt.salt JOIN passwords p ON p.id = v.password_id WHERE p.name = ? ORDER BY pt.created_at, pt.point_id',
      name,
    ).map(pointOf);
    return { jobs, points };
  }

  // -------------------------------------------------------------------------------------
  // Repositories, jobs and points

  listRepositories(): CatalogRepository[] {
    return this.db.all('SELECT * FROM repositories ORDER BY location').map((r) => ({ location: text(r, 'location'), repositoryId: optionalText(r, 'repository_id'), addedAt: text(r, 'added_at') }));
  }

  private ensureRepository(location: string, repositoryId: string | null, at: string): void {
    this.db.run('INSERT OR IGNORE INTO repositories (location, repository_id, added_at) VALUES (?, ?, ?)', location, repositoryId, at);
    if (repositoryId !== null) this.db.run('UPDATE repositories SET repository_id = ? WHERE location = ? AND repository_id IS NULL', repositoryId, location);
  }

  /** Stores a job; ALREADY_EXISTS when the name is taken, NOT_FOUND / USAGE for a bad password. */
  createJob(job: Omit<CatalogJob, 'createdAt' | 'lastRunAt' | 'lastPointId'>): CatalogJob {
    checkCatalogName('job', job.name);
    if (job.sources.length === 0) throw new BunkerError('USAGE', 'a job needs at least one source path');
    const createdAt = now();
    transaction(this.db, () => {
      if (this.db.get('SELECT 1 AS found FROM jobs WHERE name = ?', job.name)) throw new BunkerError('ALREADY_EXISTS', `a job named "${job.name}" already exists`);
      if (job.password !== null) {
        const password = this.storedPasswordRows(job.password).password;
        if (password.purpose !== 'backup') throw new BunkerError('USAGE', `password "${job.password}" is a ${password.purpose} password; a job needs a backup password`);
      }
      this.ensureRepository(job.repository, null, createdAt);
      this.insertJob({ ...job, createdAt, lastRunAt: null, lastPointId: null });
    });
    return this.getJob(job.name);
  }

  private insertJob(job: CatalogJob): void {
    this.db.run(
      'INSERT INTO jobs (name, repository, series, sources, excludes, password, encrypt, compression, created_at, last_run_at, last_point_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      job.name, job.repository, job.series, JSON.stringify(job.sources), JSON.stringify(job.excludes), job.password, job.encrypt ? 1 : 0, job.compression,
      job.createdAt, job.lastRunAt, job.lastPointId,
    );
  }

  getJob(name: string): CatalogJob {
    const row = this.db.get('SELECT * FROM jobs WHERE name = ?', name);
    if (row === undefined) throw new BunkerError('NOT_FOUND', `no job named "${name}" (bunker job list shows them)`);
    return jobOf(row);
  }

  listJobs(): CatalogJob[] {
    return this.db.all('SELECT * FROM jobs ORDER BY name').map(jobOf);
  }

  removeJob(name: string): CatalogJob {
    return transaction(this.db, () => {
      const job = this.getJob(name);
      this.db.run('DELETE FROM jobs WHERE name = ?', name);
      return job;
    });
  }

  /** Records a point bunker wrote (and, for a job, the job's last run), in one transaction. */
  recordPoint(point: CatalogPoint, repositoryId: string): void {
    transaction(this.db, () => {
      this.ensureRepository(point.repository, repositoryId, point.createdAt);
      this.db.run('INSERT OR IGNORE INTO points (repository, point_id, series, created_at, salt, job) VALUES (?, ?, ?, ?, ?, ?)',
        point.repository, point.pointId, point.series, point.createdAt, point.salt, point.job);
      if (point.job !== null) this.db.run('UPDATE jobs SET last_run_at = ?, last_point_id = ? WHERE name = ?', point.createdAt, point.pointId, point.job);
    });
  }

  listPoints(): CatalogPoint[] {
    return this.db.all('SELECT * FROM points ORDER BY created_at, point_id').map(pointOf);
  }

  // -------------------------------------------------------------------------------------
  // Settings and tokens

  getSetting(key: string): string | undefined {
    return this.db.get('SELECT value FROM settings WHERE key = ?', key)?.value as string | undefined;
  }

  setSetting(key: string, value: string): void {
    transaction(this.db, () => this.db.run('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', key, value));
  }

  /** Read-modify-write of a setting in one transaction: concurrent updates are never lost. */
  updateSetting(key: string, update: (value: string | undefined) => string): string {
    return transaction(this.db, () => {
      const value = update(this.getSetting(key));
      this.db.run('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', key, value);
      return value;
    });
  }

  listSettings(): CatalogSetting[] {
    return this.db.all('SELECT key, value FROM settings ORDER BY key').map((r) => ({ key: text(r, 'key'), value: text(r, 'value') }));
  }

  /** Creates an API token; returns it once (only its SHA-256 is kept, sealed with its scope). */
  async createToken(name: string, scope: TokenScope = 'read'): Promise<string> {
    checkCatalogName('token', name);
    if (!isTokenScope(scope)) throw new BunkerError('USAGE', `token scope must be one of ${TOKEN_SCOPES.join(', ')}`);
    const token = `bunker_${toHex(randomBytes(32))}`;
    const sealed = await this.box.seal('token', tokenContext(name, scope), await sha256(utf8(token)));
    transaction(this.db, () => {
      if (this.db.get('SELECT 1 AS found FROM tokens WHERE name = ?', name)) throw new BunkerError('ALREADY_EXISTS', `a token named "${name}" already exists`);
      this.db.run('INSERT INTO tokens (name, scope, sealed_hash, created_at) VALUES (?, ?, ?, ?)', name, scope, sealed, now());
    });
    return token;
  }

  /**
   * The token `token` is, or undefined. Every stored hash is compared, in constant time; a
   * scope edited in the database no longer opens its sealed hash, so it matches nothing.
   */
  async verifyToken(token: string): Promise<{ name: string; scope: TokenScope } | undefined> {
    const presented = await sha256(utf8(token));
    let match: { name: string; scope: TokenScope } | undefined;
    for (const row of this.db.all('SELECT name, scope, sealed_hash FROM tokens')) {
      const name = text(row, 'name');
      const scope = text(row, 'scope');
      if (!isTokenScope(scope)) continue;
      const stored = await this.box.open('token', tokenContext(name, scope), bytes(row, 'sealed_hash'));
      if (stored !== undefined && constantTimeEqual(stored, presented)) match ??= { name, scope };
    }
    return match;
  }

  listTokens(): { name: string; scope: TokenScope; createdAt: string }[] {
    return this.db.all('SELECT name, scope, created_at FROM tokens ORDER BY name')
      .map((r) => ({ name: text(r, 'name'), scope: text(r, 'scope') as TokenScope, createdAt: text(r, 'created_at') }));
  }

  removeToken(name: string): void {
    transaction(this.db, () => {
      if (this.db.run('DELETE FROM tokens WHERE name = ?', name).changes === 0) throw new BunkerError('NOT_FOUND', `no token named "${name}"`);
    });
  }

  // -------------------------------------------------------------------------------------
  // Export and import (the configuration bundle's content)

  /** Everything in the catalog, hashes opened: for a configuration bundle only. */
  async exportSnapshot(): Promise<CatalogSnapshot> {
    const rows = transaction(this.db, () => ({
      passwords: this.db.all('SELECT name FROM passwords ORDER BY name').map((r) => this.storedPasswordRows(text(r, 'name'))),
      repositories: this.listRepositories(),
      jobs: this.listJobs(),
      points: this.listPoints(),
      settings: this.listSettings(),
      tokens: this.db.all('SELECT * FROM tokens ORDER BY name'),
    }), 'read');
    const passwords: StoredPassword[] = [];
    for (const { password, versions } of rows.passwords) {
      const opened: PasswordVersion[] = [];
      for (const row of versions) opened.push(await this.openVersion(password.name, row));
      passwords.push({ ...password, versions: opened });
    }
    const tokens: CatalogToken[] = [];
    for (const row of rows.tokens) {
      const scope = text(row, 'scope') as TokenScope;
      const hash = await this.box.openOrFail('token', tokenContext(text(row, 'name'), scope), bytes(row, 'sealed_hash'), `the stored hash of token "${text(row, 'name')}"`);
      tokens.push({ name: text(row, 'name'), scope, hash, createdAt: text(row, 'created_at') });
    }
    return { passwords, repositories: rows.repositories, jobs: rows.jobs, points: rows.points, settings: rows.settings, tokens };
  }

  /**
   * Imports a snapshot in one transaction: all of it or nothing. By default it merges: items
   * already present and identical are skipped, and an item that exists with different content
   * is a conflict (ALREADY_EXISTS, naming them; nothing is written). `replace` first deletes
   * everything the catalog holds.
   */
  async importSnapshot(snapshot: CatalogSnapshot, options: { replace?: boolean } = {}): Promise<ImportSummary> {
    const replace = options.replace === true;
    // Seal before the transaction (async); compare local token hashes, opened beforehand.
    const sealedVersions = new Map<string, Uint8Array>();
    for (const password of snapshot.passwords) {
      for (const v of password.versions) sealedVersions.set(`${password.name}\u0000${v.version}`, await this.box.seal('password-hash', v.salt, v.hash));
    }
    const sealedTokens = new Map<string, Uint8Array>();
    for (const token of snapshot.tokens) sealedTokens.set(token.name, await this.box.seal('token', tokenContext(token.name, token.scope), token.hash));
    const localTokens = new Map<string, { sealed: Uint8Array; scope: string; hash: Uint8Array | undefined }>();
    if (!replace) {
      for (const row of this.db.all('SELECT name, scope, sealed_hash FROM tokens')) {
        const sealed = bytes(row, 'sealed_hash');
        const scope = text(row, 'scope');
        localTokens.set(text(row, 'name'), { sealed, scope, hash: await this.box.open('token', tokenContext(text(row, 'name'), scope), sealed) });
      }
    }
    const added = { passwords: 0, repositories: 0, jobs: 0, points: 0, settings: 0, tokens: 0 };
    transaction(this.db, () => {
      if (replace) {
        for (const table of ['tokens', 'settings', 'points', 'jobs', 'password_versions', 'passwords', 'repositories']) this.db.run(`DELETE FROM ${table}`);
      }
      const conflicts: string[] = [];
      for (const password of snapshot.passwords) {
        const local = this.db.get('SELECT * FROM passwords WHERE name = ?', password.name);
        if (local !== undefined) {
          const versions = this.db.all('SELECT * FROM password_versions WHERE password_id = ? ORDER BY version', local.id!);
          const isSame = text(local, 'purpose') === password.purpose && integer(local, 'current_version') === password.currentVersion &&
            versions.length === password.versions.length &&
            versions.every((row, i) => integer(row, 'version') === password.versions[i]!.version && bytesEqual(bytes(row, 'salt'), password.versions[i]!.salt));
          if (!isSame) conflicts.push(`password "${password.name}"`);
          continue;
        }
        if (password.versions.some((v) => this.db.get('SELECT 1 AS found FROM password_versions WHERE salt = ?', v.salt))) {
          conflicts.push(`password "${password.name}" (one of its hashes is stored under another name)`);
          continue;
        }
        this.db.run('INSERT INTO passwords (name, purpose, description, created_at, current_version) VALUES (?, ?, ?, ?, ?)',
          password.name, password.purpose, password.description, password.createdAt, password.currentVersion);
        for (const v of password.versions) this.insertVersion(password.name, v, sealedVersions.get(`${password.name}\u0000${v.version}`)!);
        added.passwords++;
      }
      for (const repository of snapshot.repositories) {
        const local = this.db.get('SELECT * FROM repositories WHERE location = ?', repository.location);
        if (local === undefined) {
          this.db.run('INSERT INTO repositories (location, repository_id, added_at) VALUES (?, ?, ?)', repository.location, repository.repositoryId, repository.addedAt);
          added.repositories++;
        } else if (repository.repositoryId !== null && local.repository_id !== null && local.repository_id !== repository.repositoryId) {
          conflicts.push(`repository ${repository.location} (another repository id)`);
        } else if (repository.repositoryId !== null && local.repository_id === null) {
          this.db.run('UPDATE repositories SET repository_id = ? WHERE location = ?', repository.repositoryId, repository.location);
        }
      }
      for (const job of snapshot.jobs) {
        const local = this.db.get('SELECT * FROM jobs WHERE name = ?', job.name);
        if (local === undefined) {
          this.insertJob(job);
          added.jobs++;
        } else if (!sameJob(jobOf(local), job)) {
          conflicts.push(`job "${job.name}"`);
        }
      }
      for (const point of snapshot.points) {
        const written = this.db.run('INSERT OR IGNORE INTO points (repository, point_id, series, created_at, salt, job) VALUES (?, ?, ?, ?, ?, ?)',
          point.repository, point.pointId, point.series, point.createdAt, point.salt, point.job);
        added.points += written.changes;
      }
      for (const setting of snapshot.settings) {
        const local = this.getSetting(setting.key);
        if (local === undefined) {
          this.db.run('INSERT INTO settings (key, value) VALUES (?, ?)', setting.key, setting.value);
          added.settings++;
        } else if (local !== setting.value) {
          conflicts.push(`setting "${setting.key}"`);
        }
      }
      for (const token of snapshot.tokens) {
        const row = this.db.get('SELECT sealed_hash FROM tokens WHERE name = ?', token.name);
        if (row === undefined) {
          this.db.run('INSERT INTO tokens (name, scope, sealed_hash, created_at) VALUES (?, ?, ?, ?)', token.name, token.scope, sealedTokens.get(token.name)!, token.createdAt);
          added.tokens++;
          continue;
        }
        const opened = localTokens.get(token.name);
        if (opened === undefined || !bytesEqual(opened.sealed, bytes(row, 'sealed_hash'))) {
          throw new BunkerError('CATALOG_FAILED', 'the catalog changed while the bundle was being imported; nothing was imported, try again');
        }
        if (opened.hash === undefined || opened.scope !== token.scope || !constantTimeEqual(opened.hash, token.hash)) conflicts.push(`token "${token.name}"`);
      }
      if (conflicts.length > 0) {
        const shown = conflicts.slice(0, 10).join(', ') + (conflicts.length > 10 ? `, and ${conflicts.length - 10} more` : '');
        throw new BunkerError('ALREADY_EXISTS', `the bundle conflicts with this configuration: ${shown} exist${conflicts.length === 1 ? 's' : ''} here with other content. ` +
          'Nothing was imported; use --replace to replace this configuration with the bundle\'s');
      }
    });
    return { replaced: replace, added };
  }
}

function sameJob(a: CatalogJob, b: CatalogJob): boolean {
  return a.repository === b.repository && a.series === b.series && a.password === b.password && a.encrypt === b.encrypt &&
    a.compression === b.compression && JSON.stringify(a.sources) === JSON.stringify(b.sources) && JSON.stringify(a.excludes) === JSON.stringify(b.excludes);
}

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data as BufferSource));
}

/** The sealed token hash's context: its name and scope, so neither can be edited alone. */
function tokenContext(name: string, scope: string): Uint8Array {
  return utf8(`${name}\u0000${scope}`);
}
