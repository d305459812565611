/**
 * Bad input through the real CLI (a child process on the current runtime, stdin closed, no
 * terminal): each refusal has its documented exit code and message, and a refused restore
 * leaves the target exactly as it was.
 *
 *   wrong password 4 · password required 5 · tampered 6 · corrupted point 7 ·
 *   unsupported version 8 · KDF out of range 9 · unsafe path 10 · not found 3 · check 15
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, lstatSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Repository } from '../core/mod.ts';
import { sealStream } from '../core/crypto/stream.ts';
import { encodeDocument } from '../core/format/document.ts';
import { DirectoryStorage } from '../core/host/directory-storage.ts';
import { CONFIG_MAGIC } from '../core/repo/config.ts';
import { POINT_MAGIC } from '../core/repo/recovery-point.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';
import { fixedResolver, pseudoRandomBytes, ROOT, RUNTIME, runCli, tempDir, TEST_KDF_FLAG } from './helpers.ts';
import { documentBody, flipByte, snapshotTree } from './bad-input-kit.ts';

const PASSWORD = 'the right password';
const DATA = pseudoRandomBytes(50_000, 31);

// Shared by every test (uvu runs them after this module has finished loading), removed after the last.
const work = await tempDir('bunker-cli-errors-');
test.after(() => work[Symbol.asyncDispose]());
await loadWasmFromPackages();

/** The environment of every run: no password, repository or home inherited from the caller. */
const cleanEnv = (extra: Record<string, string> = {}) => ({
  BUNKER_PASSWORD: undefined,
  BUNKER_PASSWORD_FILE: undefined,
  BUNKER_REPO: undefined,
  BUNKER_HOME: join(work.path, 'home'),
  ...extra,
});

/** One repository made by the CLI; each test damages its own copy. */
const baseRepo = join(work.path, 'base-repo');
const source = join(work.path, 'src');
await mkdir(join(source, 'docs'), { recursive: true });
await writeFile(join(source, 'docs', 'data.bin'), DATA);
await writeFile(join(source, 'notes.txt'), 'notes\n'.repeat(100));
const made = await runCli(['backup', source, '--repo', baseRepo, '--kdf', TEST_KDF_FLAG, '--json'], { env: cleanEnv({ BUNKER_PASSWORD: PASSWORD }) });
if (made.code !== 0) throw new Error(`fixture backup failed: ${made.stderr}`);
const pointId = (JSON.parse(made.stdout) as { pointId: string }).pointId;
const pointFile = (repo: string) => join(repo, 'points', pointId);

let copies = 0;
async function copyRepo(): Promise<string> {
  const path = join(work.path, `repo-${copies++}`);
  await cp(baseRepo, path, { recursive: true });
  return path;
}

/** An empty restore target in a directory of its own; `snapshot` covers both. */
async function emptyTarget(): Promise<{ dir: string; target: string }> {
  const dir = join(work.path, `restore-${copies++}`);
  const target = join(dir, 'target');
  await mkdir(target, { recursive: true });
  return { dir, target };
}

async function restoreRefused(repo: string, env: Record<string, string>, expectedCode: number, extraArgs: string[] = []) {
  const { dir, target } = await emptyTarget();
  const result = await runCli(['restore', pointId, '--repo', repo, '--target', target, ...extraArgs], { env: cleanEnv(env) });
  assert.is(result.code, expectedCode, `exit code; stderr: ${result.stderr}`);
  assert.equal(await readdir(target), [], 'the target has no entries');
  assert.equal(Object.keys(await snapshotTree(dir)), ['target'], 'nothing written next to it');
  return result;
}

/** Rewrites the point's body with a correct checksum and no MAC. */
async function rewritePoint(repo: string, mutate: (body: Record<string, any>) => void): Promise<void> {
  const body = await documentBody(new Uint8Array(await readFile(pointFile(repo))), POINT_MAGIC, `points/${pointId}`);
  mutate(body);
  await writeFile(pointFile(repo), await encodeDocument(POINT_MAGIC, 1, body));
}

test('control: the right password restores (exit 0)', async () => {
  const { target } = await emptyTarget();
  const result = await runCli(['restore', pointId, '--repo', baseRepo, '--target', target], { env: cleanEnv({ BUNKER_PASSWORD: PASSWORD }) });
  assert.is(result.code, 0, result.stderr);
  assert.equal(new Uint8Array(await readFile(join(target, 'src', 'docs', 'data.bin'))), DATA);
});

test('wrong password in BUNKER_PASSWORD: exit 4, "wrong password", nothing written', async () => {
  const result = await restoreRefused(baseRepo, { BUNKER_PASSWORD: 'not it' }, 4);
  assert.match(result.stderr, 'wrong password');
  assert.not.match(result.stderr, 'not it', 'the password is never echoed');
});

test('wrong password in --password-file and in BUNKER_PASSWORD_FILE: exit 4, "wrong password", nothing written', async () => {
  const file = join(work.path, 'wrong-password.txt');
  await writeFile(file, 'also not it\n');
  const viaFlag = await restoreRefused(baseRepo, {}, 4, ['--password-file', file]);
  assert.match(viaFlag.stderr, 'wrong password');
  const viaEnv = await restoreRefused(baseRepo, { BUNKER_PASSWORD_FILE: file }, 4);
  assert.match(viaEnv.stderr, 'wrong password');
  // --password-file wins over a right BUNKER_PASSWORD.
  await restoreRefused(baseRepo, { BUNKER_PASSWORD: PASSWORD }, 4, ['--password-file', file]);
});

test('wrong password with --json: the error object on stdout', async () => {
  const result = await restoreRefused(baseRepo, { BUNKER_PASSWORD: 'nope' }, 4, ['--json']);
  assert.is(JSON.parse(result.stdout).error.code, 'WRONG_PASSWORD');
});

test('a target below a file: exit 24 TARGET_FAILED with the reason, as JSON too, not an internal error', async () => {
  const { dir } = await emptyTarget();
  await writeFile(join(dir, 'a-file'), 'x');
  const target = join(dir, 'a-file', 'sub');
  const result = await runCli(['restore', pointId, '--repo', baseRepo, '--target', target, '--json'], { env: cleanEnv({ BUNKER_PASSWORD: PASSWORD }) });
  assert.is(result.code, 24, result.stderr);
  const error = JSON.parse(result.stdout).error;
  assert.is(error.code, 'TARGET_FAILED');
  assert.match(error.message, `cannot restore into ${target}: ENOTDIR`);
  assert.not.match(result.stderr, 'internal error');
  assert.not.match(result.stderr, /\n\s+at /, 'no stack trace');
});

test('a repository whose config is gone: backup and init refuse (exit 3) instead of making a new one over its points', async () => {
  const repo = await copyRepo();
  await rm(join(repo, 'config'));
  const before = await snapshotTree(repo);
  for (const args of [['backup', source, '--repo', repo, '--kdf', TEST_KDF_FLAG], ['init', '--repo', repo]]) {
    const result = await runCli([...args, '--json'], { env: cleanEnv({ BUNKER_PASSWORD: PASSWORD }) });
    assert.is(result.code, 3, `${args[0]}: ${result.stderr}`);
    assert.is(JSON.parse(result.stdout).error.code, 'NOT_FOUND');
    assert.match(result.stderr, "holds a repository's objects (points/…) but no config");
    assert.not.match(result.stderr, 'created a new repository');
    assert.equal(await snapshotTree(repo), before, `${args[0]}: nothing written`);
  }
  // A repository whole and well: init says it exists.
  const again = await runCli(['init', '--repo', baseRepo, '--json'], { env: cleanEnv() });
  assert.is(again.code, 11, again.stderr);
  assert.is(JSON.parse(again.stdout).error.code, 'ALREADY_EXISTS');
});

test('no password, stdin closed and no terminal: exit 5 PASSWORD_REQUIRED, nothing written', async () => {
  const result = await restoreRefused(baseRepo, {}, 5, ['--json']);
  assert.is(JSON.parse(result.stdout).error.code, 'PASSWORD_REQUIRED');
  assert.match(result.stderr, 'password');
  // Also for a new encrypted backup: nothing is created.
  const repo = join(work.path, 'never-created');
  const backup = await runCli(['backup', source, '--repo', repo, '--kdf', TEST_KDF_FLAG, '--name', 'x'], { env: cleanEnv() });
  assert.is(backup.code, 5, backup.stderr);
  assert.equal(await readdir(repo).catch(() => []).then((names) => names.filter((n) => n !== 'config' && n !== 'tmp')), []);
});

test('a password file that does not exist: exit 3 NOT_FOUND, nothing written', async () => {
  const result = await restoreRefused(baseRepo, { BUNKER_PASSWORD: PASSWORD }, 3, ['--password-file', join(work.path, 'missing.txt')]);
  assert.match(result.stderr, 'password file');
});

test('a point whose salt was removed: exit 7 CORRUPTED_POINT with the right and a wrong password, never 4', async () => {
  const repo = await copyRepo();
  await rewritePoint(repo, (b) => delete b.encryption.salt);
  for (const password of [PASSWORD, 'wrong']) {
    const result = await restoreRefused(repo, { BUNKER_PASSWORD: password }, 7, ['--json']);
    assert.equal(JSON.parse(result.stdout).error, { code: 'CORRUPTED_POINT', message: JSON.parse(result.stdout).error.message, object: `points/${pointId}` });
    assert.match(result.stderr, 'salt');
    assert.not.match(result.stderr, 'wrong password');
  }
});

test('a flipped byte inside the salt (old checksum): exit 6 TAMPERED, not 4', async () => {
  const repo = await copyRepo();
  const bytes = new Uint8Array(await readFile(pointFile(repo)));
  const at = new TextDecoder().decode(bytes).indexOf('"salt":"') + '"salt":"'.length + 2;
  await writeFile(pointFile(repo), flipByte(bytes, at, /[A-Za-z]/.test(String.fromCharCode(bytes[at]!)) ? 0x20 : 0x01));
  const result = await restoreRefused(repo, { BUNKER_PASSWORD: PASSWORD }, 6);
  assert.not.match(result.stderr, 'wrong password');
});

test('hostile KDF parameters in the point (16 GiB): exit 9 KDF_PARAMS_OUT_OF_RANGE', async () => {
  const repo = await copyRepo();
  await rewritePoint(repo, (b) => (b.encryption.kdf.memoryKiB = 16 * 1024 * 1024));
  const result = await restoreRefused(repo, { BUNKER_PASSWORD: PASSWORD }, 9, ['--json']);
  assert.is(JSON.parse(result.stdout).error.object, `points/${pointId}`);
});

test('a hostile --kdf for a new backup: exit 9, before anything is written', async () => {
  const repo = join(work.path, 'kdf-flag-repo');
  const result = await runCli(['backup', source, '--repo', repo, '--kdf', 'm=16777216,t=1,p=1'], { env: cleanEnv({ BUNKER_PASSWORD: PASSWORD }) });
  assert.is(result.code, 9, result.stderr);
  assert.equal(await readdir(repo).catch(() => []), []);
});

test('a repository config of a future version: exit 8, saying to upgrade', async () => {
  const repo = await copyRepo();
  const body = await documentBody(new Uint8Array(await readFile(join(repo, 'config'))), CONFIG_MAGIC, 'config');
  await writeFile(join(repo, 'config'), await encodeDocument(CONFIG_MAGIC, 2, { ...body, version: 2 }));
  const result = await restoreRefused(repo, { BUNKER_PASSWORD: PASSWORD }, 8);
  assert.match(result.stderr, /upgrade bunker/i);
  const points = await runCli(['points', '--repo', repo], { env: cleanEnv({ BUNKER_PASSWORD: PASSWORD }) });
  assert.is(points.code, 8, points.stderr);
});

test('a manifest with ../escape, sealed with the point\'s key: exit 10 UNSAFE_PATH, nothing written anywhere', async () => {
  const repo = await copyRepo();
  const storage = new DirectoryStorage(repo);
  const opened = await Repository.open(storage);
  const point = await opened.unlock(await opened.resolvePoint(pointId), fixedResolver(PASSWORD));
  const lines = [{ version: 1, sources: [], host: 'h' }, { path: '../escape', type: 'file', mode: 0o644, mtimeMs: 0, size: 0, chunks: [] }];
  const plaintext = new TextEncoder().encode(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  await storage.delete(`trees/${pointId}`);
  assert.ok(await storage.put(`trees/${pointId}`, await sealStream(point.cipher, 'manifest', pointId, opened.zstd.compress(plaintext, 3), 1)));
  const result = await restoreRefused(repo, { BUNKER_PASSWORD: PASSWORD }, 10, ['--json']);
  assert.equal(JSON.parse(result.stdout).error.object, `trees/${pointId}`);
});

test('a tampered pack: exit 6 naming the pack, no staging directory left; check: exit 15 naming it', async () => {
  const repo = await copyRepo();
  const packs = (await new DirectoryStorage(repo).list('packs/'));
  assert.ok(packs.length >= 1);
  const path = join(repo, ...packs[0]!.split('/'));
  const bytes = new Uint8Array(await readFile(path));
  await writeFile(path, flipByte(bytes, bytes.length - 5));
  const result = await restoreRefused(repo, { BUNKER_PASSWORD: PASSWORD }, 6, ['--json']);
  assert.is(JSON.parse(result.stdout).error.object, packs[0]);
  const check = await runCli(['check', '--read-data', '--repo', repo, '--json'], { env: cleanEnv({ BUNKER_PASSWORD: PASSWORD }) });
  assert.is(check.code, 15, check.stderr);
  const report = JSON.parse(check.stdout) as { isOk: boolean; problems: { code: string; object: string }[] };
  assert.is(report.isOk, false);
  assert.ok(report.problems.length > 0 && report.problems.every((p) => p.code === 'TAMPERED' && p.object === packs[0]), JSON.stringify(report.problems));
});

test('check with a point whose index is damaged: its packs are not called harmless leftovers', async () => {
  const repo = await copyRepo();
  const [index] = await new DirectoryStorage(repo).list('index/');
  const path = join(repo, ...index!.split('/'));
  const bytes = new Uint8Array(await readFile(path));
  await writeFile(path, flipByte(bytes, 40));
  const check = await runCli(['check', '--repo', repo], { env: cleanEnv({ BUNKER_PASSWORD: PASSWORD }) });
  assert.is(check.code, 15, check.stderr);
  assert.match(check.stdout, `TAMPERED: ${index}`);
  assert.match(check.stdout, /objects no readable point references; 1 point could not be read and may use them: keep them/);
  assert.match(check.stdout, /packs\//);
  assert.not.match(check.stdout, 'harmless');
});

test('check --name: a repository whose backups have different passwords is checked one backup at a time', async () => {
  const repo = await copyRepo();
  const other = await runCli(['backup', join(source, 'docs'), '--repo', repo, '--name', 'other', '--kdf', TEST_KDF_FLAG], { env: cleanEnv({ BUNKER_PASSWORD: 'another password' }) });
  assert.is(other.code, 0, other.stderr);
  const whole = await runCli(['check', '--repo', repo], { env: cleanEnv({ BUNKER_PASSWORD: PASSWORD }) });
  assert.is(whole.code, 4, 'one password cannot open both');
  for (const [name, password] of [['default', PASSWORD], ['other', 'another password']] as const) {
    const one = await runCli(['check', '--read-data', '--repo', repo, '--name', name, '--json'], { env: cleanEnv({ BUNKER_PASSWORD: password }) });
    assert.is(one.code, 0, `${name}: ${one.stderr}`);
    const report = JSON.parse(one.stdout);
    assert.equal([report.points, report.problems, report.unreferenced], [1, [], []], name);
    assert.ok(report.chunksChecked > 0, `${name}: its data read`);
  }
  const unknown = await runCli(['check', '--repo', repo, '--name', 'nope'], { env: cleanEnv({ BUNKER_PASSWORD: PASSWORD }) });
  assert.is(unknown.code, 3, unknown.stderr);
  assert.match(unknown.stderr, 'no backup named "nope"');
});

test('owners the system refuses (a user namespace that maps no uid 4321): the restore completes, says so, and drops set-id bits', async () => {
  // Needs root to give the source files away, and unshare(1) for a namespace where root cannot.
  assert.is(process.geteuid?.(), 0, 'this test runs as root (CI does)');
  const probe = spawnSync('unshare', ['--user', '--map-root-user', 'true']);
  assert.is(probe.status, 0, `unshare --user is needed: ${String(probe.stderr)}`);
  const src = join(work.path, 'owned-src');
  await mkdir(join(src, 'd'), { recursive: true });
  await writeFile(join(src, 'd', 'tool'), 'x');
  chownSync(join(src, 'd', 'tool'), 4321, 4321);
  chmodSync(join(src, 'd', 'tool'), 0o4755);
  chownSync(join(src, 'd'), 4321, 4321);
  const repo = join(work.path, 'owned-repo');
  const made = await runCli(['backup', src, '--repo', repo, '--no-encrypt'], { env: cleanEnv() });
  assert.is(made.code, 0, made.stderr);
  const target = join(work.path, 'owned-target');
  const bin = join(ROOT, 'node_modules', '.bin', RUNTIME);
  const cli = join(ROOT, 'cli', 'main.ts');
  const run = spawnSync('unshare', ['--user', '--map-root-user', bin, ...(RUNTIME === 'deno' ? ['run', '-A', '--quiet'] : []), cli, 'restore', 'latest', '--repo', repo, '--target', target, '--json'], { env: { ...process.env, BUNKER_HOME: join(work.path, 'home') }, encoding: 'utf8' });
  assert.is(run.status, 0, run.stderr);
  const answer = JSON.parse(run.stdout);
  assert.is(answer.warnings.length, 1, run.stderr);
  assert.match(answer.warnings[0], /^2 entries could not be given the recorded owner \(EINVAL: /);
  const tool = lstatSync(join(target, 'owned-src', 'd', 'tool'));
  assert.is(tool.mode & 0o7777, 0o755, 'no set-user-id bit on a file left to root');
  assert.equal(readFileSync(join(target, 'owned-src', 'd', 'tool'), 'utf8'), 'x');
});

test('a deleted manifest: exit 3 NOT_FOUND naming it; an unknown point: exit 3; a malformed point ref: exit 2', async () => {
  const repo = await copyRepo();
  await new DirectoryStorage(repo).delete(`trees/${pointId}`);
  const result = await restoreRefused(repo, { BUNKER_PASSWORD: PASSWORD }, 3, ['--json']);
  assert.is(JSON.parse(result.stdout).error.object, `trees/${pointId}`);
  const { target } = await emptyTarget();
  const unknown = await runCli(['restore', 'abcdef12', '--repo', baseRepo, '--target', target], { env: cleanEnv({ BUNKER_PASSWORD: PASSWORD }) });
  assert.is(unknown.code, 3, unknown.stderr);
  const malformed = await runCli(['restore', '../x', '--repo', baseRepo, '--target', target], { env: cleanEnv({ BUNKER_PASSWORD: PASSWORD }) });
  assert.is(malformed.code, 2, malformed.stderr);
  assert.equal(await readdir(target), []);
});

test.run();
