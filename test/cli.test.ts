/** The CLI as a person uses it: real processes, the default repository under BUNKER_HOME, exit codes. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pseudoRandomBytes, ROOT, runCli, RUNTIME, tempDir, TEST_KDF_FLAG } from './helpers.ts';
import { snapshotTree, writeTree } from './tree.ts';

test('backup with no set-up creates the default repository, then points/ls/find/restore/dump/check work', async () => {
  await using dir = await tempDir();
  const env = { BUNKER_HOME: join(dir.path, 'home'), BUNKER_PASSWORD: 'pw one' };
  const src = join(dir.path, 'docs');
  await writeTree(src, { 'a.txt': 'alpha\n', 'sub/b.conf': 'beta\n', 'big.bin': pseudoRandomBytes(200_000, 3) });

  const first = await runCli(['backup', src, '--kdf', TEST_KDF_FLAG, '--json'], { env });
  assert.is(first.code, 0, first.stderr);
  assert.match(first.stderr, 'created a new repository');
  const result = JSON.parse(first.stdout);
  assert.is(result.stats.filesNew, 3);
  assert.ok((await stat(join(dir.path, 'home', 'repository', 'config'))).isFile());

  const points = await runCli(['points', '--json'], { env });
  assert.is(points.code, 0, points.stderr);
  const list = JSON.parse(points.stdout);
  assert.is(list.length, 1);
  assert.is(list[0].id, result.pointId);
  assert.is(list[0].encrypted, true);

  const ls = await runCli(['ls', result.pointId.slice(0, 8), 'docs', '--json'], { env });
  assert.is(ls.code, 0, ls.stderr);
  assert.equal(JSON.parse(ls.stdout).map((e: { path: string }) => e.path), ['docs/a.txt', 'docs/big.bin', 'docs/sub']);

  const find = await runCli(['find', '*.conf'], { env });
  assert.is(find.code, 0, find.stderr);
  assert.match(find.stdout, 'docs/sub/b.conf');

  const dump = await runCli(['dump', 'latest', 'docs/big.bin'], { env });
  assert.is(dump.code, 0, dump.stderr);
  assert.equal(dump.stdoutBytes, pseudoRandomBytes(200_000, 3));

  const target = join(dir.path, 'restored');
  const restored = await runCli(['restore', 'latest', '--target', target, '--json'], { env });
  assert.is(restored.code, 0, restored.stderr);
  assert.is(JSON.parse(restored.stdout).keySource, 'password');
  assert.equal(await snapshotTree(join(target, 'docs')), await snapshotTree(src));

  const check = await runCli(['check', '--read-data', '--json'], { env });
  assert.is(check.code, 0, check.stderr);
  assert.is(JSON.parse(check.stdout).isOk, true);
});

test('--password-file, --stdin backup, --no-encrypt, and point selection errors', async () => {
  await using dir = await tempDir();
  const repo = join(dir.path, 'repo');
  const pwFile = join(dir.path, 'pw');
  await writeFile(pwFile, 'from a file\n', { mode: 0o600 });
  const init = await runCli(['init', '--repo', repo]);
  assert.is(init.code, 0, init.stderr);
  const again = await runCli(['init', '--repo', repo]);
  assert.is(again.code, 11, 'ALREADY_EXISTS');

  const data = pseudoRandomBytes(70_000, 9);
  const viaStdin = await runCli(['backup', '--stdin', '--stdin-name', 'db.sql', '--repo', repo, '--password-file', pwFile, '--kdf', TEST_KDF_FLAG, '--name', 'db', '--json'], { input: data });
  assert.is(viaStdin.code, 0, viaStdin.stderr);
  assert.not.match(viaStdin.stderr, 'warning', 'standard input has no size to have changed from');
  assert.equal(JSON.parse(viaStdin.stdout).warnings, []);
  const dumped = await runCli(['dump', 'latest', 'db.sql', '--name', 'db', '--repo', repo, '--password-file', pwFile]);
  assert.equal(dumped.stdoutBytes, data);

  // The trailing newline of the password file is not part of the password; the same password without it works.
  const viaEnv = await runCli(['dump', 'latest', 'db.sql', '--name', 'db', '--repo', repo], { env: { BUNKER_PASSWORD: 'from a file' } });
  assert.is(viaEnv.code, 0, viaEnv.stderr);

  const plain = join(dir.path, 'plain');
  await writeTree(plain, { 'f': 'unencrypted' });
  const noEncrypt = await runCli(['backup', plain, '--repo', repo, '--no-encrypt', '--name', 'plain', '--json']);
  assert.is(noEncrypt.code, 0, noEncrypt.stderr);
  const plainDump = await runCli(['dump', 'latest', 'plain/f', '--name', 'plain', '--repo', repo]);
  assert.is(plainDump.stdout, 'unencrypted');

  const switched = await runCli(['backup', plain, '--repo', repo, '--name', 'plain'], { env: { BUNKER_PASSWORD: 'x' } });
  assert.is(switched.code, 2, 'switching an unencrypted backup to encrypted is a usage error');

  const missing = await runCli(['restore', 'abcdef12', '--target', join(dir.path, 't'), '--repo', repo]);
  assert.is(missing.code, 3, missing.stderr);
  assert.match(missing.stderr, 'no recovery point abcdef12');
  const bad = await runCli(['restore', 'not-an-id', '--target', join(dir.path, 't'), '--repo', repo]);
  assert.is(bad.code, 2);
  const noRepo = await runCli(['points', '--repo', join(dir.path, 'nowhere')]);
  assert.is(noRepo.code, 3);
  assert.match(noRepo.stderr, 'no repository at');
  const unknown = await runCli(['frobnicate']);
  assert.is(unknown.code, 2);
  const noPassword = await runCli(['dump', 'latest', 'db.sql', '--name', 'db', '--repo', repo]);
  assert.is(noPassword.code, 5, 'PASSWORD_REQUIRED with stdin closed and no password source');
  const wrong = await runCli(['dump', 'latest', 'db.sql', '--name', 'db', '--repo', repo], { env: { BUNKER_PASSWORD: 'nope' } });
  assert.is(wrong.code, 4);
  assert.match(wrong.stderr, 'wrong password');
  assert.is(wrong.stdout, '');
});

test('--json errors carry the code; a failed restore leaves the target empty', async () => {
  await using dir = await tempDir();
  const repo = join(dir.path, 'repo');
  const src = join(dir.path, 'src');
  await writeTree(src, { 'x': 'x' });
  assert.is((await runCli(['backup', src, '--repo', repo, '--kdf', TEST_KDF_FLAG], { env: { BUNKER_PASSWORD: 'right' } })).code, 0);
  const target = join(dir.path, 'target');
  const failed = await runCli(['restore', 'latest', '--target', target, '--repo', repo, '--json'], { env: { BUNKER_PASSWORD: 'wrong' } });
  assert.is(failed.code, 4);
  assert.equal(JSON.parse(failed.stdout), { error: { code: 'WRONG_PASSWORD', message: 'wrong password for backup "default"' } });
  assert.equal(await readdir(target).catch(() => []), []);
  assert.not.match(failed.stderr + failed.stdout, 'right');
});

test('the README tour: --help lists every command and the exit codes', async () => {
  const help = await runCli(['--help']);
  assert.is(help.code, 0);
  for (const command of ['init', 'backup', 'points', 'ls', 'find', 'restore', 'dump', 'check']) assert.match(help.stdout, `bunker ${command}`);
  assert.match(help.stdout, '4 WRONG_PASSWORD');
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8').catch(() => '');
  assert.match(readme, 'npm ci && npm test');
});

test('`npx bunker` runs the entry itself: it is executable, and as a shell script it starts the project\'s Node with flags it accepts', async () => {
  const entry = join(ROOT, 'cli', 'main.ts');
  assert.ok(((await stat(entry)).mode & 0o111) !== 0, 'cli/main.ts is not executable');
  const [shebang, exec] = (await readFile(entry, 'utf8')).split('\n', 2);
  assert.is(shebang, '#!/bin/sh');
  assert.is(exec, '":" //; GLIBC_TUNABLES="glibc.malloc.mmap_threshold=16777216${GLIBC_TUNABLES:+:$GLIBC_TUNABLES}" exec node --max-semi-space-size=16 --no-allocation-site-pretenuring "$0" "$@"');
  // What the line hands Node: a `node` first on PATH that reports its environment and arguments.
  await using fake = await tempDir('bunker-fake-node-');
  await writeFile(join(fake.path, 'node'), '#!/bin/sh\necho "$GLIBC_TUNABLES"\nfor a in "$@"; do echo "$a"; done\n', { mode: 0o755 });
  for (const [own, expected] of [[undefined, 'glibc.malloc.mmap_threshold=16777216'], ['glibc.malloc.mmap_threshold=1048576', 'glibc.malloc.mmap_threshold=16777216:glibc.malloc.mmap_threshold=1048576']] as const) {
    const shown = spawnSync(entry, ['a b', '$HOME'], { encoding: 'utf8', env: { ...process.env, GLIBC_TUNABLES: own, PATH: `${fake.path}:${process.env.PATH ?? ''}` } });
    assert.is(shown.status, 0, shown.stderr);
    assert.equal(shown.stdout.split('\n'), [expected, '--max-semi-space-size=16', '--no-allocation-site-pretenuring', entry, 'a b', '$HOME', '']);
  }
  // As npx and npm run do: the project's node_modules/.bin first on PATH.
  const run = spawnSync(entry, ['--version'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` } });
  assert.is(run.status, 0, run.stderr);
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
  assert.is(run.stdout.trim(), version);
  // Arguments reach the command as given, spaces and quotes included.
  const missing = join(ROOT, 'no such dir "x" $HOME');
  const points = spawnSync(entry, ['points', '--repo', missing, '--json'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` } });
  assert.is(points.status, 3, points.stderr);
  assert.is(JSON.parse(points.stdout).error.message.startsWith(`no repository at ${missing} `), true, points.stdout);
});

test('Node caches compiled modules under $XDG_CACHE_HOME/bunker, not in the shared temporary directory; Deno keeps its own', async () => {
  await using dir = await tempDir('bunker-compile-cache-');
  const run = await runCli(['--version'], { env: { XDG_CACHE_HOME: dir.path, NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined } });
  assert.is(run.code, 0, run.stderr);
  const cache = join(dir.path, 'bunker', 'node-compile-cache');
  assert.is(existsSync(cache) && readdirSync(cache).length > 0, RUNTIME === 'node');
});

test('Node worker threads use the same compile cache (a backup caches its codec thread\'s module)', async () => {
  await using dir = await tempDir('bunker-compile-cache-');
  const src = join(dir.path, 'src');
  await writeTree(src, { 'a.txt': 'cached' });
  const env = { XDG_CACHE_HOME: dir.path, NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined, BUNKER_PASSWORD: 'compile cache' };
  const run = await runCli(['backup', src, '--repo', join(dir.path, 'repo'), '--kdf', TEST_KDF_FLAG, '--json'], { env });
  assert.is(run.code, 0, run.stderr);
  // The cache keeps each module's source: only the codec thread loads core/host/codec-worker.ts.
  const marker = (await readFile(join(ROOT, 'core', 'host', 'codec-worker.ts'), 'utf8')).split('\n')[1]!;
  const cache = join(dir.path, 'bunker', 'node-compile-cache');
  const cached = existsSync(cache)
    ? readdirSync(cache, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).some((e) => readFileSync(join(e.parentPath, e.name), 'latin1').includes(marker))
    : false;
  assert.is(cached, RUNTIME === 'node');
});

test('a backup reports what its walk skipped (a FIFO) once, after the password step, and backs up the rest', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  await writeTree(src, { 'a.txt': 'kept', 'sub/b.txt': 'kept too' });
  const made = spawnSync('mkfifo', [join(src, 'sub', 'pipe')]);
  assert.is(made.status, 0, 'mkfifo');
  const repo = join(dir.path, 'repo');
  const run = await runCli(['backup', src, '--repo', repo, '--kdf', TEST_KDF_FLAG, '--json'], { env: { BUNKER_PASSWORD: 'walk warnings' } });
  assert.is(run.code, 0, run.stderr);
  const warnings = run.stderr.split('\n').filter((line) => line.startsWith('warning: '));
  assert.equal(warnings, [`warning: ${join(src, 'sub', 'pipe')} is not a file, directory or symbolic link; skipped`]);
  const answer = JSON.parse(run.stdout);
  assert.is(answer.stats.files, 2);
  assert.equal(answer.warnings, [`${join(src, 'sub', 'pipe')} is not a file, directory or symbolic link; skipped`], 'in the JSON answer too');
});

test.run();
