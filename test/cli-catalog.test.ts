/**
 * The product database through the real CLI (child processes, stdin closed, no terminal):
 * the restore order — (1) the catalog, no prompt; (3) the password; (4) a missing salt is
 * CORRUPTED_POINT — each with its exact exit code and message; a fresh BUNKER_HOME; export →
 * import on a fresh home; rotation; removal while in use; jobs; self-backup; what the
 * database file alone reveals; a refused import changes nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { derivePasswordHash } from '../core/crypto/kdf.ts';
import { fromBase64, toHex, utf8 } from '../core/format/bytes.ts';
import { encodeDocument } from '../core/format/document.ts';
import { POINT_MAGIC } from '../core/repo/recovery-point.ts';
import { openSqliteDatabase } from '../core/host/sqlite.ts';
import { documentBody } from './bad-input-kit.ts';
import { runCli, tempDir, TEST_KDF, TEST_KDF_FLAG } from './helpers.ts';
import { snapshotTree, writeTree } from './tree.ts';

const work = await tempDir('bunker-cli-catalog-');
test.after(() => work[Symbol.asyncDispose]());
let serial = 0;
const fresh = (what: string): string => join(work.path, `${what}-${serial++}`);

/** Nothing inherited from the caller: the home, repository and password sources are the test's. */
function env(home: string, extra: Record<string, string> = {}): Record<string, string | undefined> {
  return { BUNKER_PASSWORD: undefined, BUNKER_PASSWORD_FILE: undefined, BUNKER_REPO: undefined, BUNKER_HOME: home, ...extra };
}

async function cli(args: string[], home: string, extra: Record<string, string> = {}) {
  return runCli(args, { env: env(home, extra) });
}

async function ok(args: string[], home: string, extra: Record<string, string> = {}) {
  const result = await cli(args, home, extra);
  assert.is(result.code, 0, `bunker ${args.join(' ')}: ${result.stderr}`);
  return result;
}

async function isMissing(path: string): Promise<boolean> {
  return stat(path).then(() => false, (error: { code?: string }) => error.code === 'ENOENT');
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** A home with named password "main" (password "main secret") and one backup of a small tree made with it. */
async function homeWithBackup(): Promise<{ home: string; repo: string; src: string; pointId: string }> {
  const home = fresh('home');
  const repo = fresh('repo');
  const src = fresh('src');
  await writeTree(src, { 'a.txt': 'alpha\n', 'sub/b.txt': 'beta\n' });
  await ok(['password', 'create', 'main', '--kdf', TEST_KDF_FLAG], home, { BUNKER_PASSWORD: 'main secret' });
  const made = await ok(['backup', src, '--repo', repo, '--name', 'docs', '--password', 'main', '--json'], home);
  const result = JSON.parse(made.stdout) as { pointId: string; keySource: string };
  assert.is(result.keySource, 'catalog');
  return { home, repo, src, pointId: result.pointId };
}

test('restore step 1: the hash for the point\'s salt is in the database → no prompt, "key: password hash from the product database"', async () => {
  const { home, repo, src, pointId } = await homeWithBackup();
  const target = fresh('target');
  const restored = await ok(['restore', pointId, '--repo', repo, '--target', target], home);
  assert.match(restored.stdout, '\n  key: password hash from the product database\n');
  assert.equal(await snapshotTree(join(target, src.split('/').pop()!)), await snapshotTree(src));
  const json = await ok(['restore', 'latest', '--name', 'docs', '--repo', repo, '--target', fresh('target'), '--json'], home);
  assert.is(JSON.parse(json.stdout).keySource, 'catalog');
  // A wrong password in the environment is never consulted: the catalog comes first.
  const withWrong = await ok(['restore', pointId, '--repo', repo, '--target', fresh('target'), '--json'], home, { BUNKER_PASSWORD: 'wrong' });
  assert.is(JSON.parse(withWrong.stdout).keySource, 'catalog');
  // ls and dump use the same order.
  const dumped = await ok(['dump', pointId, `${src.split('/').pop()}/a.txt`, '--repo', repo], home);
  assert.is(dumped.stdout, 'alpha\n');
});

test('restore step 3: a fresh BUNKER_HOME after a backup made elsewhere asks for the password; exact codes and messages', async () => {
  const { repo, pointId } = await homeWithBackup();
  const elsewhere = fresh('fresh-home');
  const target = fresh('target');
  const none = await cli(['restore', pointId, '--repo', repo, '--target', target], elsewhere);
  assert.is(none.code, 5);
  assert.is(none.stderr, 'bunker: backup "docs" is encrypted: give its password (--password-file, BUNKER_PASSWORD_FILE, BUNKER_PASSWORD or the prompt)\n');
  const wrong = await cli(['restore', pointId, '--repo', repo, '--target', target, '--json'], elsewhere, { BUNKER_PASSWORD: 'not it' });
  assert.is(wrong.code, 4);
  assert.is(wrong.stderr, 'bunker: wrong password for backup "docs"\n');
  assert.equal(JSON.parse(wrong.stdout), { error: { code: 'WRONG_PASSWORD', message: 'wrong password for backup "docs"' } });
  const right = await ok(['restore', pointId, '--repo', repo, '--target', target, '--json'], elsewhere, { BUNKER_PASSWORD: 'main secret' });
  assert.is(JSON.parse(right.stdout).keySource, 'password');
  const human = await ok(['restore', pointId, '--repo', repo, '--target', fresh('target')], elsewhere, { BUNKER_PASSWORD: 'main secret' });
  assert.match(human.stdout, '\n  key: derived from the password and the point\'s salt\n');
  assert.ok(await isMissing(elsewhere), 'restoring created no data directory, no database');
});

test('restore step 4: a point without its salt is CORRUPTED_POINT (exit 7), catalog or not, never "wrong password"', async () => {
  const { home, repo, pointId } = await homeWithBackup();
  const pointFile = join(repo, 'points', pointId);
  const body = await documentBody(new Uint8Array(await readFile(pointFile)), POINT_MAGIC, `points/${pointId}`);
  delete (body.encryption as Record<string, unknown>).salt;
  await writeFile(pointFile, await encodeDocument(POINT_MAGIC, 1, body));
  const message = `bunker: recovery point ${pointId.slice(0, 12)} is corrupted: its salt is missing, so no password can open it\n`;
  for (const extra of [{}, { BUNKER_PASSWORD: 'main secret' }, { BUNKER_PASSWORD: 'wrong' }] as Record<string, string>[]) {
    const target = fresh('target');
    const result = await cli(['restore', pointId, '--repo', repo, '--target', target], home, extra);
    assert.is(result.code, 7, result.stderr);
    assert.is(result.stderr, message);
    assert.equal(await readdir(target).catch(() => []), []);
  }
});

test('export → import on a fresh home → restore without a prompt; a refused import changes nothing and creates nothing', async () => {
  const { home, repo, pointId } = await homeWithBackup();
  const bundle = join(fresh('out'), 'config.bundle');
  await mkdir(join(bundle, '..'));
  const exported = await ok(['config', 'export', '--out', bundle, '--kdf', TEST_KDF_FLAG, '--json'], home, { BUNKER_PASSWORD: 'bundle secret' });
  assert.equal(JSON.parse(exported.stdout), { path: bundle, sizeBytes: (await stat(bundle)).size, keySource: 'password', passwords: 1, repositories: 1, jobs: 0, points: 1, settings: 0, tokens: 0 });
  assert.is((await stat(bundle)).mode & 0o777, 0o600);
  const again = await cli(['config', 'export', '--out', bundle, '--kdf', TEST_KDF_FLAG], home, { BUNKER_PASSWORD: 'bundle secret' });
  assert.is(again.code, 11);
  assert.is(again.stderr, `bunker: ${bundle} exists (use --force to replace it)\n`);

  const newHome = fresh('new-home');
  const noPassword = await cli(['config', 'import', bundle], newHome);
  assert.is(noPassword.code, 5);
  assert.is(noPassword.stderr, 'bunker: the configuration bundle is encrypted: give its password (--password-file, BUNKER_PASSWORD_FILE, BUNKER_PASSWORD or the prompt)\n');
  const wrong = await cli(['config', 'import', bundle], newHome, { BUNKER_PASSWORD: 'main secret' });
  assert.is(wrong.code, 4);
  assert.is(wrong.stderr, 'bunker: wrong password for the configuration bundle\n');
  const bytes = new Uint8Array(await readFile(bundle));
  const truncated = join(work.path, `truncated-${serial++}.bundle`);
  await writeFile(truncated, bytes.subarray(0, bytes.length - 1), { mode: 0o600 });
  const cut = await cli(['config', 'import', truncated], newHome, { BUNKER_PASSWORD: 'bundle secret' });
  assert.is(cut.code, 6);
  assert.is(cut.stderr, `bunker: ${truncated} failed authentication (modified, truncated or misplaced)\n`);
  assert.ok(await isMissing(newHome), 'no refused import created the data directory');

  const passwordFile = join(work.path, `bundle-password-${serial++}`);
  await writeFile(passwordFile, 'bundle secret\n', { mode: 0o600 });
  const imported = await ok(['config', 'import', bundle, '--password-file', passwordFile, '--json'], newHome);
  assert.equal(JSON.parse(imported.stdout), { replaced: false, added: { passwords: 1, repositories: 1, jobs: 0, points: 1, settings: 0, tokens: 0 }, keySource: 'password' });
  const restored = await ok(['restore', pointId, '--repo', repo, '--target', fresh('target'), '--json'], newHome);
  assert.is(JSON.parse(restored.stdout).keySource, 'catalog');

  // A conflicting import into a home with its own "main" is refused whole; the home is unchanged.
  const otherHome = fresh('other-home');
  await ok(['password', 'create', 'main', '--kdf', TEST_KDF_FLAG], otherHome, { BUNKER_PASSWORD: 'another' });
  await ok(['password', 'create', 'spare', '--kdf', TEST_KDF_FLAG], otherHome, { BUNKER_PASSWORD: 'spare' });
  const before = (await ok(['password', 'list', '--json'], otherHome)).stdout;
  const conflict = await cli(['config', 'import', bundle, '--password-file', passwordFile], otherHome);
  assert.is(conflict.code, 11);
  assert.is(conflict.stderr, 'bunker: the bundle conflicts with this configuration: password "main" exists here with other content. Nothing was imported; use --replace to replace this configuration with the bundle\'s\n');
  assert.is((await ok(['password', 'list', '--json'], otherHome)).stdout, before);
  const replaced = await ok(['config', 'import', bundle, '--password-file', passwordFile, '--replace', '--json'], otherHome);
  assert.is(JSON.parse(replaced.stdout).replaced, true);
  assert.equal(JSON.parse((await ok(['password', 'list', '--json'], otherHome)).stdout).map((p: { name: string }) => p.name), ['main']);
  assert.is(JSON.parse((await ok(['restore', pointId, '--repo', repo, '--target', fresh('target'), '--json'], otherHome)).stdout).keySource, 'catalog');
});

test('rotation from the CLI: both points restore without a prompt; with an empty database each needs its own password', async () => {
  const { home, repo, src, pointId: before } = await homeWithBackup();
  const rotated = await ok(['password', 'rotate', 'main'], home, { BUNKER_PASSWORD: 'rotated secret' });
  assert.match(rotated.stdout, 'password "main" is now at version 2');
  await writeFile(join(src, 'c.txt'), 'gamma\n');
  const after = JSON.parse((await ok(['backup', src, '--repo', repo, '--name', 'docs', '--password', 'main', '--json'], home)).stdout).pointId as string;
  for (const id of [before, after]) {
    assert.is(JSON.parse((await ok(['restore', id, '--repo', repo, '--target', fresh('target'), '--json'], home)).stdout).keySource, 'catalog');
  }
  const empty = fresh('empty-home');
  assert.is((await cli(['restore', before, '--repo', repo, '--target', fresh('target')], empty, { BUNKER_PASSWORD: 'rotated secret' })).code, 4);
  assert.is((await cli(['restore', after, '--repo', repo, '--target', fresh('target')], empty, { BUNKER_PASSWORD: 'main secret' })).code, 4);
  await ok(['restore', before, '--repo', repo, '--target', fresh('target')], empty, { BUNKER_PASSWORD: 'main secret' });
  await ok(['restore', after, '--repo', repo, '--target', fresh('target')], empty, { BUNKER_PASSWORD: 'rotated secret' });
  const shown = JSON.parse((await ok(['password', 'show', 'main', '--json'], home)).stdout);
  assert.is(shown.currentVersion, 2);
  assert.equal(shown.points.map((p: { pointId: string }) => p.pointId), [before, after]);
  assert.not.match(JSON.stringify(shown), /salt|hash/);
});

test('jobs: create, list, run without a password; removal of its password refused (exit 16), then forced, saying what it affects', async () => {
  const { home, repo, src } = await homeWithBackup();
  const created = JSON.parse((await ok(['job', 'create', 'nightly', '--source', src, '--repo', repo, '--password', 'main', '--exclude', '*.tmp', '--json'], home)).stdout);
  assert.equal([created.name, created.repository, created.series, created.sources, created.excludes, created.password, created.encrypt], ['nightly', repo, 'nightly', [src], ['*.tmp'], 'main', true]);
  assert.is((await cli(['job', 'create', 'nightly', '--source', src], home)).code, 11);
  const elsewhere = await cli(['job', 'run', 'nightly', '--repo', `${repo}-elsewhere`], home);
  assert.is(elsewhere.code, 2, 'a --repo that is not the job\'s is refused, not ignored');
  assert.match(elsewhere.stderr, `job "nightly" backs up to ${repo}; --repo does not apply`);
  const run = JSON.parse((await ok(['job', 'run', 'nightly', '--json'], home)).stdout);
  assert.is(run.keySource, 'catalog');
  assert.is(run.series, 'nightly');
  const listed = JSON.parse((await ok(['job', 'list', '--json'], home)).stdout);
  assert.equal(listed.map((j: { name: string; lastPointId: string }) => [j.name, j.lastPointId]), [['nightly', run.pointId]]);

  const refused = await cli(['password', 'remove', 'main'], home);
  assert.is(refused.code, 16);
  assert.is(refused.stderr, 'bunker: password "main" is used by job "nightly": remove those jobs first, or use --force\n');
  assert.is(JSON.parse((await ok(['password', 'list', '--json'], home)).stdout).length, 1, 'still there');
  const forced = await ok(['password', 'remove', 'main', '--force'], home);
  assert.match(forced.stdout, 'removed password "main" (1 version)\n2 recorded points were made with it and can now be restored only by typing its password:\n');
  assert.match(forced.stdout, 'job "nightly" still names it and will fail until recreated with another password\n');
  const orphan = await cli(['job', 'run', 'nightly'], home);
  assert.is(orphan.code, 3);
  assert.is(orphan.stderr, 'bunker: job "nightly" uses password "main", which was removed: create it again, or recreate the job\n');
  const unknown = await cli(['backup', src, '--repo', repo, '--password', 'hunter2'], home);
  assert.is(unknown.code, 3);
  assert.is(unknown.stderr, 'bunker: no stored password has that name (bunker password list shows them)\n', 'the name (maybe a password typed by mistake) is not echoed');
});

test('the database file alone reveals no hash and opens nothing; the master key file is 0600', async () => {
  const { home, repo, pointId } = await homeWithBackup();
  const point = await documentBody(new Uint8Array(await readFile(join(repo, 'points', pointId))), POINT_MAGIC, 'point');
  const salt = fromBase64((point.encryption as { salt: string }).salt);
  const hash = await derivePasswordHash('main secret', salt, TEST_KDF);
  for (const name of (await readdir(home)).filter((n) => n.startsWith('catalog.db'))) {
    const bytes = new Uint8Array(await readFile(join(home, name)));
    assert.not.ok(contains(bytes, hash), `${name} holds H`);
    assert.not.ok(contains(bytes, utf8(toHex(hash))), `${name} holds H in hex`);
    assert.not.ok(contains(bytes, utf8('main secret')), `${name} holds the password`);
  }
  assert.is((await stat(join(home, 'master.key'))).mode & 0o777, 0o600);
  assert.is((await stat(join(home, 'catalog.db'))).mode & 0o777, 0o600);
  // A copy of the database without its key file: restore warns and falls back to the password.
  const stolen = fresh('stolen');
  await mkdir(stolen, { mode: 0o700 });
  await ok(['password', 'list'], home); // closes cleanly: the WAL is checkpointed into catalog.db
  await copyFile(join(home, 'catalog.db'), join(stolen, 'catalog.db'));
  const result = await cli(['restore', pointId, '--repo', repo, '--target', fresh('target')], stolen);
  assert.is(result.code, 5);
  assert.match(result.stderr, `warning: the product database was not used: the master key file ${join(stolen, 'master.key')} is missing, so the secrets in ${join(stolen, 'catalog.db')} cannot be read`);
  assert.ok(await isMissing(join(stolen, 'master.key')), 'no key was made up');
  // A sealed hash damaged in place: a warning naming it, then the password path.
  const db = openSqliteDatabase(join(home, 'catalog.db'));
  const sealed = (db.get('SELECT sealed_hash FROM password_versions')!.sealed_hash as Uint8Array).slice();
  sealed[sealed.length - 1]! ^= 1;
  db.run('UPDATE password_versions SET sealed_hash = ?', sealed);
  db.close();
  const damaged = await cli(['restore', pointId, '--repo', repo, '--target', fresh('target')], home);
  assert.is(damaged.code, 5);
  assert.is(damaged.stderr, 'warning: the product database was not used: the stored hash of password "main" (version 1) does not open: the database is damaged\n' +
    'bunker: backup "docs" is encrypted: give its password (--password-file, BUNKER_PASSWORD_FILE, BUNKER_PASSWORD or the prompt)\n');
  await ok(['restore', pointId, '--repo', repo, '--target', fresh('target')], home, { BUNKER_PASSWORD: 'main secret' });
});

test('config self-backup stores the bundle as a point; restored and imported on a fresh home, it restores without a prompt', async () => {
  const { home, repo, pointId } = await homeWithBackup();
  await ok(['password', 'create', 'conf', '--purpose', 'bundle', '--kdf', TEST_KDF_FLAG], home, { BUNKER_PASSWORD: 'conf secret' });
  const selfRepo = fresh('self-repo');
  const saved = JSON.parse((await ok(['config', 'self-backup', '--repo', selfRepo, '--password', 'conf', '--json'], home)).stdout);
  assert.equal([saved.series, saved.file, saved.keySource], ['bunker-config', 'bunker-config.bundle', 'catalog']);
  const points = JSON.parse((await ok(['points', '--repo', selfRepo, '--json'], home)).stdout);
  assert.equal(points.map((p: { id: string; encrypted: boolean }) => [p.id, p.encrypted]), [[saved.pointId, false]]);
  // A backup password is not a bundle password.
  assert.is((await cli(['config', 'self-backup', '--repo', selfRepo, '--password', 'main'], home)).code, 2);

  const newHome = fresh('new-home');
  const target = fresh('target');
  await ok(['restore', saved.pointId, '--repo', selfRepo, '--target', target], newHome);
  await ok(['config', 'import', join(target, 'bunker-config.bundle')], newHome, { BUNKER_PASSWORD: 'conf secret' });
  assert.is(JSON.parse((await ok(['restore', pointId, '--repo', repo, '--target', fresh('target'), '--json'], newHome)).stdout).keySource, 'catalog');
  // The installation that holds the bundle password opens its bundles without asking.
  const byCatalog = JSON.parse((await ok(['config', 'import', join(target, 'bunker-config.bundle'), '--json'], home)).stdout);
  assert.is(byCatalog.keySource, 'catalog');
});

test('--help lists the new commands; config says KMS never applies to bundles', async () => {
  const help = await ok(['--help'], fresh('home'));
  for (const command of ['password', 'job', 'config']) assert.match(help.stdout, `bunker ${command}`);
  assert.match(help.stdout, '16 IN_USE');
  assert.match(help.stdout, '17 CATALOG_FAILED');
  const password = await ok(['password', '--help'], fresh('home'));
  for (const sub of ['create', 'list', 'show', 'rotate', 'remove']) assert.match(password.stdout, `bunker password ${sub}`);
  const config = await ok(['config', '--help'], fresh('home'));
  assert.match(config.stdout, 'KMS never applies to bundles');
  const missing = await cli(['password'], fresh('home'));
  assert.is(missing.code, 2);
});

test.run();
