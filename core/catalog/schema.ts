/**
 * The catalog's schema and its migrations (FORMAT.md §15.3). The schema version is SQLite's
 * `user_version`; migration i takes the database from version i to i + 1, inside one write
 * transaction, so a crash or a second process mid-migration sees the old schema or the new one.
 * A migration, once released, is never edited: a change is a new migration.
 */
import { BunkerError } from '../errors.ts';
import { type SqlDatabase, transaction } from './sql.ts';

export const MIGRATIONS: readonly string[] = Object.freeze([
  // 0 → 1
  `
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
  ) STRICT;
  CREATE TABLE passwords (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    purpose TEXT NOT NULL CHECK (purpose IN ('backup', 'bundle', 'fsi')),
    description TEXT NOT NULL,
    created_at TEXT NOT NULL,
    current_version INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE password_versions (
    password_id INTEGER NOT NULL REFERENCES passwords (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    salt BLOB NOT NULL UNIQUE,
    kdf_memory_kib INTEGER NOT NULL,
    kdf_iterations INTEGER NOT NULL,
    kdf_parallelism INTEGER NOT NULL,
    sealed_hash BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (password_id, version)
  ) STRICT;
  CREATE TABLE repositories (
    location TEXT PRIMARY KEY,
    repository_id TEXT,
    added_at TEXT NOT NULL
  ) STRICT;
  CREATE TABLE jobs (
    name TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    series TEXT NOT NULL,
    sources TEXT NOT NULL,
    excludes TEXT NOT NULL,
    password TEXT,
    encrypt INTEGER NOT NULL,
    compression TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_run_at TEXT,
    last_point_id TEXT
  ) STRICT;
  CREATE TABLE points (
    repository TEXT NOT NULL,
    point_id TEXT NOT NULL,
    series TEXT NOT NULL,
    created_at TEXT NOT NULL,
    salt BLOB,
    job TEXT,
    PRIMARY KEY (repository, point_id)
  ) STRICT;
  CREATE INDEX points_by_salt ON points (salt);
  CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;
  CREATE TABLE tokens (
    name TEXT PRIMARY KEY,
    sealed_hash BLOB NOT NULL,
    created_at TEXT NOT NULL
  ) STRICT;
  `,
  // 1 → 2: a KMS-encrypted copy of a password version's hash (FORMAT.md §6.4, §15.3). Never H
  // itself: key_arn, the KMS ciphertext blob and the EncryptionContext (JSON) it was made with.
  `
  CREATE TABLE password_version_kms (
    password_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    key_arn TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    context TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (password_id, version),
    FOREIGN KEY (password_id, version) REFERENCES password_versions (password_id, version) ON DELETE CASCADE
  ) STRICT;
  `,
  // 2 → 3: API token scopes (FORMAT.md §15.3). No release created tokens before this version
  // (no command did), so none needs a scope guessed; the sealed hash's context binds the scope.
  `
  DELETE FROM tokens;
  ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'read' CHECK (scope IN ('read', 'backup', 'admin'));
  `,
]);

/** The schema version this bunker writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export function schemaVersion(db: SqlDatabase): number {
  return Number(db.get('PRAGMA user_version')?.user_version ?? 0);
}

function checkNotNewer(db: SqlDatabase, version: number, known: number): void {
  if (version > known) {
    throw new BunkerError('UNSUPPORTED_VERSION', `the product database ${db.location} was written by a newer bunker (schema version ${version}; this bunker knows up to ${known}). Upgrade bunker.`);
  }
}

/** Brings the database to the last migration's version; UNSUPPORTED_VERSION when it is newer. */
export function migrate(db: SqlDatabase, migrations: readonly string[] = MIGRATIONS): void {
  const target = migrations.length;
  const seen = schemaVersion(db);
  checkNotNewer(db, seen, target);
  if (seen === target) return;
  transaction(db, () => {
    // Read again under the write lock: another process may have migrated meanwhile.
    const current = schemaVersion(db);
    checkNotNewer(db, current, target);
    for (let version = current; version < target; version++) db.exec(migrations[version]!);
    db.exec(`PRAGMA user_version = ${target}`);
  });
}
