/**
 * The product catalog on a real SQLite file (core/catalog/ through core/host/): named
 * passwords and their versions, jobs, points, tokens, the master key file, at-rest
 * encryption (the database files alone reveal no hash), schema migrations, and import:
 * merge, conflicts, replace, and all-or-nothing under a failing write at every step.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmod, copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BunkerError, type ErrorCode } from '../core/mod.ts';
import { Catalog, derivePasswordVersion } from '../core/catalog/catalog.ts';
import type { CatalogSnapshot } from '../core/catalog/records.ts';
import { migrate, MIGRATIONS, SCHEMA_VERSION, schemaVersion } from '../core/catalog/schema.ts';
import { encodeSnapshot } from '../core/catalog/snapshot.ts';
import type { SqlDatabase } from '../core/catalog/sql.ts';
import { toBase64, toHex, utf8 } from '../core/format/bytes.ts';
import { catalogPath, openCatalog } from '../core/host/catalog-home.ts';
import { masterKeyFile } from '../core/host/master-key-file.ts';
import { openSqliteDatabase } from '../core/host/sqlite.ts';
import { tempDir, TEST_KDF } from './helpers.ts';

async function expectCode(code: ErrorCode, run: () => unknown, message?: string | RegExp): Promise<BunkerError> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof BunkerError)) throw error;
    assert.is(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
    if (message !== undefined) assert.match(error.message, message);
    return error;
  }
  return assert.unreachable(`expected ${code}, but it succeeded`) as never;
}

async function create(home: string): Promise<Catalog> {
  return (await openCatalog(home, { create: true }))!;
}

async function isMissing(path: string): Promise<boolean> {
  try {
    await stat(path);
    return false;
  } catch (error) {
    return (error as { code?: string }).code === 'ENOENT';
  }
}

/** Whether `needle` occurs in `haystack`. */
function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** The catalog's state as bytes (hashes included), to compare before and after. */
async function state(catalog: Catalog): Promise<string> {
  return new TextDecoder().decode(encodeSnapshot({ exportedAt: 'fixed', catalog: await catalog.exportSnapshot() }));
}

test('a named password: created, listed, shown, rotated (old versions kept), found by salt, removed', async () => {
  await using dir = await tempDir();
  const catalog = await create(dir.path);
  const v1 = await derivePasswordVersion('first', TEST_KDF);
  const created = await catalog.createPassword({ name: 'main', purpose: 'backup', description: 'laptop', version: v1 });
  assert.equal([created.name, created.purpose, created.description, created.currentVersion, created.rotatedAt], ['main', 'backup', 'laptop', 1, null]);
  assert.equal(created.versions.map((v) => [v.version, v.kdf]), [[1, TEST_KDF]]);
  await expectCode('ALREADY_EXISTS', () => catalog.createPassword({ name: 'main', purpose: 'backup', version: v1 }), 'a password named "main" already exists');
  await expectCode('USAGE', () => catalog.createPassword({ name: 'bad name', purpose: 'backup', version: v1 }));
  await expectCode('USAGE', () => catalog.createPassword({ name: 'x', purpose: 'other' as never, version: v1 }));

  const rotated = await catalog.rotatePassword('main', 'second');
  assert.is(rotated.currentVersion, 2);
  assert.is(rotated.rotatedAt, rotated.versions[1]!.createdAt);
  const current = await catalog.currentPassword('main', 'backup');
  assert.is(current.version, 2);
  assert.not.equal(current.salt, v1.salt);
  assert.equal((await catalog.findPasswordHash(v1.salt))?.hash, v1.hash, 'the old version stays findable by its salt');
  assert.equal((await catalog.findPasswordHash(current.salt))?.hash, current.hash);
  assert.is(await catalog.findPasswordHash(new Uint8Array(16)), undefined);
  await expectCode('USAGE', () => catalog.currentPassword('main', 'bundle'), 'is a backup password; this needs a bundle password');
  await expectCode('NOT_FOUND', () => catalog.currentPassword('nope', 'backup'), 'no stored password has that name');

  catalog.createJob({ name: 'nightly', repository: '/r', series: 'nightly', sources: ['/src'], excludes: [], password: 'main', encrypt: true, compression: 'zstd' });
  catalog.recordPoint({ repository: '/r', pointId: 'a'.repeat(64), series: 'nightly', createdAt: '2024-01-01T00:00:00.000Z', salt: v1.salt, job: 'nightly' }, 'c'.repeat(64));
  catalog.recordPoint({ repository: '/r', pointId: 'b'.repeat(64), series: 'other', createdAt: '2024-01-02T00:00:00.000Z', salt: new Uint8Array(16), job: null }, 'c'.repeat(64));
  const shown = catalog.describePassword('main');
  assert.equal(shown.usage.jobs, ['nightly']);
  assert.equal(shown.usage.points.map((p) => p.pointId), ['a'.repeat(64)], 'points of any version of the password, no others');
  assert.equal(catalog.getJob('nightly').lastPointId, 'a'.repeat(64));

  await expectCode('IN_USE', () => catalog.removePassword('main'), 'password "main" is used by job "nightly": remove those jobs first, or use --force');
  assert.ok(catalog.hasPassword('main'), 'a refused removal changes nothing');
  const removed = catalog.removePassword('main', true);
  assert.equal(removed.usage.jobs, ['nightly']);
  assert.is(removed.usage.points.length, 1);
  assert.not.ok(catalog.hasPassword('main'));
  assert.is(await catalog.findPasswordHash(v1.salt), undefined, 'every version went');
  assert.is(catalog.db.get('SELECT count(*) AS n FROM password_versions')!.n, 0);
  catalog.close();
});

test('a hash derived elsewhere is stored as a new version (addPasswordVersion); the same salt twice is refused', async () => {
  await using dir = await tempDir();
  const catalog = await create(dir.path);
  const v1 = await derivePasswordVersion('one', TEST_KDF);
  await catalog.createPassword({ name: 'main', purpose: 'backup', version: v1 });
  const v2 = await derivePasswordVersion('two', TEST_KDF, 99);
  const info = await catalog.addPasswordVersion('main', v2);
  assert.equal([info.currentVersion, info.versions.map((v) => v.version)], [2, [1, 2]]);
  assert.equal((await catalog.currentPassword('main', 'backup')).hash, v2.hash);
  await expectCode('ALREADY_EXISTS', () => catalog.addPasswordVersion('main', v1), 'this password hash is stored already');
  await expectCode('NOT_FOUND', async () => catalog.addPasswordVersion('other', await derivePasswordVersion('x', TEST_KDF)));
  assert.is(catalog.listPasswords()[0]!.currentVersion, 2);
  catalog.close();
});

test('files: data directory 0700, database 0600 (and its WAL), master key file 0600 with magic and 32 bytes', async () => {
  await using dir = await tempDir();
  const home = join(dir.path, 'home');
  assert.is(await openCatalog(home, { create: false }), undefined, 'reading creates nothing');
  assert.ok(await isMissing(home));
  const catalog = await create(home);
  await catalog.createPassword({ name: 'p', purpose: 'backup', version: await derivePasswordVersion('pw', TEST_KDF) });
  const mode = async (name: string) => (await stat(join(home, name))).mode & 0o777;
  assert.is(await mode('.'), 0o700);
  assert.is(await mode('catalog.db'), 0o600);
  assert.is(await mode('catalog.db-wal'), 0o600);
  assert.is(await mode('master.key'), 0o600);
  const key = await readFile(join(home, 'master.key'));
  assert.is(key.length, 40);
  assert.is(new TextDecoder().decode(key.subarray(0, 8)), 'BNKMKEY1');
  assert.equal((await readdir(home)).filter((n) => n.endsWith('.tmp')), [], 'no temporary file is left');
  assert.is(catalog.db.get('PRAGMA journal_mode')!.journal_mode, 'wal');
  catalog.close();
});

test('the database files alone reveal no password hash, token hash or password', async () => {
  await using dir = await tempDir();
  const catalog = await create(dir.path);
  const version = await derivePasswordVersion('a memorable password', TEST_KDF);
  await catalog.createPassword({ name: 'main', purpose: 'backup', version });
  const token = await catalog.createToken('api');
  const tokenHash = new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(token) as BufferSource));
  // Both while the WAL holds the writes and after a checkpoint moved them into the database.
  for (const phase of ['wal', 'checkpointed']) {
    if (phase === 'checkpointed') catalog.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    const files = (await readdir(dir.path)).filter((n) => n.startsWith('catalog.db'));
    assert.ok(files.includes('catalog.db'));
    for (const name of files) {
      const bytes = new Uint8Array(await readFile(join(dir.path, name)));
      for (const [what, needle] of [
        ['H', version.hash], ['H in hex', utf8(toHex(version.hash))], ['H in base64', utf8(toBase64(version.hash))],
        ['the token hash', tokenHash], ['the token', utf8(token)], ['the password', utf8('a memorable password')],
      ] as const) {
        assert.not.ok(contains(bytes, needle), `${phase}: ${name} holds ${what}`);
      }
    }
  }
  // With the key file, it is there.
  assert.equal((await catalog.findPasswordHash(version.salt))!.hash, version.hash);
  assert.equal(await catalog.verifyToken(token), { name: 'api', scope: 'read' });
  assert.is(await catalog.verifyToken(token.slice(0, -1) + (token.endsWith('0') ? '1' : '0')), undefined);
  catalog.close();
});

test('master key file: missing, replaced or readable by others is CATALOG_FAILED; never silently replaced', async () => {
  await using dir = await tempDir();
  const catalog = await create(dir.path);
  await catalog.createPassword({ name: 'p', purpose: 'backup', version: await derivePasswordVersion('pw', TEST_KDF) });
  catalog.close();
  const keyPath = join(dir.path, 'master.key');
  const original = await readFile(keyPath);

  await chmod(keyPath, 0o644);
  await expectCode('CATALOG_FAILED', () => create(dir.path), 'is accessible to other users (mode 644): run chmod 600 on it');
  await chmod(keyPath, 0o600);

  await rm(keyPath);
  await expectCode('CATALOG_FAILED', () => create(dir.path), /the master key file .*master\.key is missing, so the secrets in .*catalog\.db cannot be read/);
  await expectCode('CATALOG_FAILED', () => openCatalog(dir.path, { create: false }), 'is missing');
  assert.ok(await isMissing(keyPath), 'no new key was made');

  const other = new Uint8Array(original);
  other[20]! ^= 0xff;
  await writeFile(keyPath, other, { mode: 0o600 });
  await expectCode('CATALOG_FAILED', () => create(dir.path), 'is not the master key of');

  await writeFile(keyPath, utf8('not a key'), { mode: 0o600 });
  await expectCode('CATALOG_FAILED', () => create(dir.path), 'is not a bunker master key file');

  await writeFile(keyPath, original, { mode: 0o600 });
  const again = await create(dir.path);
  assert.ok(again.hasPassword('p'));
  again.close();
});

test('a sealed hash moved to another row, or damaged, does not open: CATALOG_FAILED, never a wrong hash', async () => {
  await using dir = await tempDir();
  const catalog = await create(dir.path);
  const a = await derivePasswordVersion('a', TEST_KDF);
  const b = await derivePasswordVersion('b', TEST_KDF);
  await catalog.createPassword({ name: 'a', purpose: 'backup', version: a });
  await catalog.createPassword({ name: 'b', purpose: 'backup', version: b });
  const sealedA = catalog.db.get('SELECT sealed_hash FROM password_versions WHERE salt = ?', a.salt)!.sealed_hash as Uint8Array;
  catalog.db.run('UPDATE password_versions SET sealed_hash = ? WHERE salt = ?', sealedA, b.salt);
  await expectCode('CATALOG_FAILED', () => catalog.findPasswordHash(b.salt), 'the stored hash of password "b" (version 1) does not open: the database is damaged');
  const damaged = sealedA.slice();
  damaged[20]! ^= 1;
  catalog.db.run('UPDATE password_versions SET sealed_hash = ? WHERE salt = ?', damaged, a.salt);
  await expectCode('CATALOG_FAILED', () => catalog.currentPassword('a', 'backup'), 'does not open');
  catalog.close();
});

test('schema: migrations bring an empty database to the current version; a newer one is UNSUPPORTED_VERSION', async () => {
  await using dir = await tempDir();
  const path = join(dir.path, 'catalog.db');
  const db = openSqliteDatabase(path);
  assert.is(schemaVersion(db), 0);
  migrate(db);
  assert.is(schemaVersion(db), SCHEMA_VERSION);
  assert.is(SCHEMA_VERSION, MIGRATIONS.length);
  migrate(db);
  // A later migration runs once, on top of the existing schema and data.
  db.run("INSERT INTO settings (key, value) VALUES ('kept', 'yes')");
  const next = [...MIGRATIONS, "ALTER TABLE settings ADD COLUMN note TEXT NOT NULL DEFAULT ''"];
  migrate(db, next);
  assert.is(schemaVersion(db), SCHEMA_VERSION + 1);
  assert.equal({ ...db.get("SELECT value, note FROM settings WHERE key = 'kept'") }, { value: 'yes', note: '' });
  migrate(db, next);
  await expectCode('UNSUPPORTED_VERSION', () => migrate(db), `written by a newer bunker (schema version ${SCHEMA_VERSION + 1}; this bunker knows up to ${SCHEMA_VERSION}). Upgrade bunker.`);
  db.close();
  await expectCode('UNSUPPORTED_VERSION', () => openCatalog(dir.path, { create: false }), 'Upgrade bunker');
  // A failing migration leaves the version where it was.
  const fresh = openSqliteDatabase(join(dir.path, 'other.db'));
  await expectCode('CATALOG_FAILED', () => migrate(fresh, [MIGRATIONS[0]!, 'CREATE TABLE broken (']));
  assert.is(schemaVersion(fresh), 0);
  assert.is(fresh.get("SELECT count(*) AS n FROM sqlite_master WHERE name = 'passwords'")!.n, 0, 'the first migration was rolled back with the second');
  fresh.close();
});

/** A catalog with a bit of everything. */
async function populated(home: string, prefix: string): Promise<Catalog> {
  const catalog = await create(home);
  const v = await derivePasswordVersion(`${prefix} password`, TEST_KDF);
  await catalog.createPassword({ name: `${prefix}-main`, purpose: 'backup', description: 'for jobs', version: v });
  await catalog.rotatePassword(`${prefix}-main`, `${prefix} password 2`);
  await catalog.createPassword({ name: `${prefix}-bundle`, purpose: 'bundle', version: await derivePasswordVersion('b', TEST_KDF) });
  catalog.createJob({ name: `${prefix}-job`, repository: `/repos/${prefix}`, series: `${prefix}-job`, sources: ['/a', '/b'], excludes: ['*.tmp'], password: `${prefix}-main`, encrypt: true, compression: 'zstd:5' });
  catalog.recordPoint({ repository: `/repos/${prefix}`, pointId: toHex(utf8(prefix.padEnd(32, '.'))), series: `${prefix}-job`, createdAt: '2024-01-01T00:00:00.000Z', salt: v.salt, job: `${prefix}-job` }, 'd'.repeat(64));
  catalog.setSetting(`${prefix}.retention`, '30d');
  await catalog.createToken(`${prefix}-token`);
  return catalog;
}

test('export → import into an empty catalog gives the same catalog, hashes and all; importing again changes nothing', async () => {
  await using dir = await tempDir();
  const source = await populated(join(dir.path, 'a'), 'a');
  const snapshot = await source.exportSnapshot();
  const target = await create(join(dir.path, 'b'));
  const summary = await target.importSnapshot(snapshot);
  assert.equal(summary, { replaced: false, added: { passwords: 2, repositories: 1, jobs: 1, points: 1, settings: 1, tokens: 1 } });
  assert.is(await state(target), await state(source));
  const hash = snapshot.passwords[0]!.versions[0]!;
  assert.equal((await target.findPasswordHash(hash.salt))!.hash, hash.hash);
  const again = await target.importSnapshot(snapshot);
  assert.equal(again.added, { passwords: 0, repositories: 0, jobs: 0, points: 0, settings: 0, tokens: 0 });
  assert.is(await state(target), await state(source));
  source.close();
  target.close();
});

test('import merges; a conflict refuses the whole import, naming it; --replace replaces', async () => {
  await using dir = await tempDir();
  const local = await populated(join(dir.path, 'local'), 'x');
  const other = await populated(join(dir.path, 'other'), 'y');
  const before = await state(local);
  // Same names, other content: the other catalog's password "x-main" is a different password.
  const clash = await populated(join(dir.path, 'clash'), 'x');
  const conflicting = await clash.exportSnapshot();
  await expectCode('ALREADY_EXISTS', () => local.importSnapshot(conflicting),
    'the bundle conflicts with this configuration: password "x-bundle", password "x-main", token "x-token" exist here with other content. Nothing was imported; use --replace');
  assert.is(await state(local), before, 'nothing changed');
  const setting: CatalogSnapshot = { ...(await other.exportSnapshot()), settings: [{ key: 'x.retention', value: '7d' }] };
  await expectCode('ALREADY_EXISTS', () => local.importSnapshot(setting), 'setting "x.retention" exists here with other content');
  assert.is(await state(local), before, 'nothing changed, not even the non-conflicting passwords');

  await local.importSnapshot(await other.exportSnapshot());
  assert.equal(local.listPasswords().map((p) => p.name), ['x-bundle', 'x-main', 'y-bundle', 'y-main']);
  assert.equal(local.listJobs().map((j) => j.name), ['x-job', 'y-job']);

  const replaced = await local.importSnapshot(conflicting, { replace: true });
  assert.is(replaced.replaced, true);
  assert.is(await state(local), await state(clash));
  for (const c of [local, other, clash]) c.close();
});

/** The SqlDatabase, failing its `failAt`-th write (a run, or the COMMIT) with CATALOG_FAILED. */
function failingDb(db: SqlDatabase, failAt: number): SqlDatabase & { writes: number } {
  const wrapped = {
    writes: 0,
    location: db.location,
    exec(sql: string) {
      if (sql === 'COMMIT' && ++wrapped.writes === failAt) throw new BunkerError('CATALOG_FAILED', 'injected failure at COMMIT');
      db.exec(sql);
    },
    run(sql: string, ...params: Parameters<SqlDatabase['run']>[1][]) {
      if (++wrapped.writes === failAt) throw new BunkerError('CATALOG_FAILED', `injected failure at write ${failAt}`);
      return db.run(sql, ...params);
    },
    get: db.get.bind(db),
    all: db.all.bind(db),
    close: db.close.bind(db),
  };
  return wrapped;
}

test('import is all or nothing: a write failing at each step in turn leaves the catalog exactly as it was', async () => {
  await using dir = await tempDir();
  const base = join(dir.path, 'base');
  const local = await populated(base, 'x');
  const before = await state(local);
  local.close();
  const other = await populated(join(dir.path, 'other'), 'y');
  const bundle = await other.exportSnapshot();
  other.close();

  const copyOfBase = async (name: string): Promise<string> => {
    const home = join(dir.path, name);
    await rm(home, { recursive: true, force: true });
    await mkdir(home, { mode: 0o700 });
    for (const file of ['catalog.db', 'master.key']) await copyFile(join(base, file), join(home, file));
    return home;
  };
  const open = async (home: string, failAt: number) => {
    const db = failingDb(openSqliteDatabase(catalogPath(home)), failAt);
    return { db, catalog: await Catalog.open(db, masterKeyFile(home)) };
  };

  // Count the writes of a successful import (the open itself writes nothing: the key check is there).
  const counting = await open(await copyOfBase('count'), 0);
  const summary = await counting.catalog.importSnapshot(bundle);
  assert.equal(summary.added, { passwords: 2, repositories: 1, jobs: 1, points: 1, settings: 1, tokens: 1 });
  const writes = counting.db.writes;
  counting.catalog.close();
  assert.ok(writes >= 10, `a merge import of this bundle makes ${writes} writes`);

  for (let failAt = 1; failAt <= writes; failAt++) {
    const home = await copyOfBase(`fail-${failAt}`);
    const { catalog } = await open(home, failAt);
    await expectCode('CATALOG_FAILED', () => catalog.importSnapshot(bundle), 'injected failure');
    catalog.close();
    const reopened = await create(home);
    assert.is(await state(reopened), before, `failure at write ${failAt} of ${writes} left a change`);
    reopened.close();
    await rm(home, { recursive: true, force: true });
  }

  // The same for a --replace import, which deletes first.
  const replaceCount = await open(await copyOfBase('count-replace'), 0);
  await replaceCount.catalog.importSnapshot(bundle, { replace: true });
  const replaceWrites = replaceCount.db.writes;
  replaceCount.catalog.close();
  for (let failAt = 1; failAt <= replaceWrites; failAt++) {
    const home = await copyOfBase(`fail-replace-${failAt}`);
    const { catalog } = await open(home, failAt);
    await expectCode('CATALOG_FAILED', () => catalog.importSnapshot(bundle, { replace: true }), 'injected failure');
    catalog.close();
    const reopened = await create(home);
    assert.is(await state(reopened), before, `replace: failure at write ${failAt} of ${replaceWrites} left a change`);
    reopened.close();
    await rm(home, { recursive: true, force: true });
  }
});

test('tokens: shown once, stored as a sealed SHA-256 with their scope, verified in constant time, listed and removed by name', async () => {
  await using dir = await tempDir();
  const catalog = await create(dir.path);
  const token = await catalog.createToken('ci', 'backup');
  assert.match(token, /^bunker_[0-9a-f]{64}$/);
  await expectCode('ALREADY_EXISTS', () => catalog.createToken('ci'));
  await expectCode('USAGE', () => catalog.createToken('other', 'root' as 'admin'));
  assert.equal(await catalog.verifyToken(token), { name: 'ci', scope: 'backup' });
  assert.is(await catalog.verifyToken('bunker_' + '0'.repeat(64)), undefined);
  assert.equal(catalog.listTokens().map((t) => [t.name, t.scope]), [['ci', 'backup']]);
  // A scope raised in the database alone no longer opens the sealed hash: the token is refused.
  catalog.db.run("UPDATE tokens SET scope = 'admin' WHERE name = 'ci'");
  assert.is(await catalog.verifyToken(token), undefined);
  catalog.db.run("UPDATE tokens SET scope = 'backup' WHERE name = 'ci'");
  assert.equal(await catalog.verifyToken(token), { name: 'ci', scope: 'backup' });
  catalog.removeToken('ci');
  assert.is(await catalog.verifyToken(token), undefined);
  await expectCode('NOT_FOUND', () => catalog.removeToken('ci'));
  catalog.close();
});

test.run();
