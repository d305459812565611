/**
 * Encrypt on target (FORMAT.md §16.3) between two transporters on 127.0.0.1: a client that
 * holds no key (its BUNKER_HOME empty and left empty, no password anywhere, key use probed)
 * backs up through `bunker backup --target URL --encrypt-on target`, and the server side
 * restores it byte for byte with its own catalog; real `tar | curl` uploads; a client that goes
 * away mid-upload commits nothing; a 300 MiB upload streams through the server without the
 * server's memory growing with it.
 */
import { test } from 'uvu';
import { createHash } from 'node:crypto';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createTarPacker } from 'modern-tar';
import { openCatalog } from '../core/host/catalog-home.ts';
import { type CliRun, ROOT, RUNTIME, runCli, tempDir, TEST_KDF_FLAG } from './helpers.ts';
import { serveProcess } from './server-kit.ts';
import { streamUpload } from '../cli/upload.ts';
import { snapshotTree, writeTree } from './tree.ts';

const T0 = Date.UTC(2024, 2, 3, 4, 5, 6, 0);
const MiB = 1024 * 1024;

/** A server home with the named backup password "vault" (made by the CLI) and tokens. */
async function serverHome(dir: string): Promise<{ home: string; backupToken: string; readToken: string }> {
  const home = join(dir, 'server-home');
  const passwordFile = join(dir, 'server-password');
  await writeFile(passwordFile, 'the server keeps this password\n', { mode: 0o600 });
  const created = await runCli(['password', 'create', 'vault', '--password-file', passwordFile, '--kdf', TEST_KDF_FLAG], { env: { BUNKER_HOME: home } });
  assert.is(created.code, 0, created.stderr);
  const catalog = (await openCatalog(home, { create: false }))!;
  try {
    return { home, backupToken: await catalog.createToken('laptop', 'backup'), readToken: await catalog.createToken('viewer', 'read') };
  } finally {
    catalog.close();
  }
}

/** Only what a client needs: PATH and the like, never a password or a home of the test's. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^BUNKER_/.test(k) && !/PASSWORD|TOKEN/i.test(k)) env[k] = v;
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

/** The CLI with test/key-use-probe.ts preloaded (node --import, deno --preload). */
function probedCli(args: string[], env: Record<string, string>, runtime = RUNTIME): Promise<CliRun> {
  const probe = join(ROOT, 'test', 'key-use-probe.ts');
  const cli = join(ROOT, 'cli', 'main.ts');
  const argv = runtime === 'deno' ? ['run', '-A', '--quiet', '--preload', probe, cli, ...args] : ['--import', probe, cli, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(join(ROOT, 'node_modules', '.bin', runtime), argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr, stdoutBytes: new TextEncoder().encode(stdout) }));
  });
}

async function probeLines(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
}

async function pointsIn(repoDir: string): Promise<string[]> {
  return (await readdir(join(repoDir, 'points')).catch(() => [])).sort();
}

/** `curl` uploading `body` from its stdin; the token goes in a header file, never in argv. */
function curlUpload(url: string, headerFile: string, body: ReadableStream<Uint8Array>, extra: string[] = []) {
  const child = spawn('curl', ['-sS', '-T', '-', '-H', `@${headerFile}`, ...extra, url], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdin!.on('error', () => undefined);
  const source = Readable.fromWeb(body as never);
  source.on('error', () => undefined);
  source.pipe(child.stdin!);
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr })));
  return { child, source, done };
}

/** A tar of one file of `size` random bytes, made as it is read (never held). */
function randomTar(name: string, size: number, onWritten?: (bytes: number) => void, onPiece?: (piece: Uint8Array) => void): ReadableStream<Uint8Array> {
  const { readable, controller } = createTarPacker();
  (async () => {
    const body = controller.add({ name, size, mtime: new Date(T0) }).getWriter();
    for (let written = 0; written < size;) {
      const piece = new Uint8Array(Math.min(MiB, size - written));
      for (let i = 0; i < piece.length; i += 65536) crypto.getRandomValues(piece.subarray(i, i + 65536));
      onPiece?.(piece);
      await body.write(piece);
      written += piece.length;
      onWritten?.(written);
    }
    await body.close();
    controller.finalize();
  })().catch((error) => controller.error(error));
  return readable;
}

/**
 * A tar whose first file is whole and whose second (declared 512 MiB) stops after 1 MiB and
 * stays open: an upload the server is surely in the middle of, on any machine.
 */
function stalledTar(): ReadableStream<Uint8Array> {
  const { readable, controller } = createTarPacker();
  (async () => {
    const first = new TextEncoder().encode('the first file, whole\n');
    const small = controller.add({ name: 'first.txt', size: first.length, mtime: new Date(T0) }).getWriter();
    await small.write(first);
    await small.close();
    const big = controller.add({ name: 'big.bin', size: 512 * MiB, mtime: new Date(T0) }).getWriter();
    const piece = new Uint8Array(MiB);
    for (let i = 0; i < piece.length; i += 65536) crypto.getRandomValues(piece.subarray(i, i + 65536));
    await big.write(piece);
  })().catch((error) => controller.error(error));
  return readable;
}

/** Waits until the job has ended (its event stream closes then), and returns the server's jobs. */
async function afterJobEnds(url: string, token: string, id: string): Promise<JobView[]> {
  const res = await fetch(`${url}/v1/jobs/${id}/events`, { headers: { authorization: `Bearer ${token}` } });
  assert.is(res.status, 200);
  for await (const _ of res.body! as unknown as AsyncIterable<Uint8Array>);
  return jobsOf(url, token);
}

type JobView = { id: string; kind: string; status: string; progress: { files?: number } | null; error: { code: string } | null };

async function jobsOf(url: string, token: string): Promise<JobView[]> {
  const res = await fetch(`${url}/v1/jobs`, { headers: { authorization: `Bearer ${token}` } });
  return ((await res.json()) as { jobs: JobView[] }).jobs;
}

function peakRssMiB(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((status) => Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024);
}

test('a client with no key backs up to the target; the target restores it byte for byte with its own catalog; the client derived and imported no key', async () => {
  await using tmp = await tempDir('bunker-target-');
  const server = await serverHome(tmp.path);
  await using serve = await serveProcess(server.home);
  const clientHome = join(tmp.path, 'client-home');
  await mkdir(clientHome);
  const tokenFile = join(tmp.path, 'token');
  await writeFile(tokenFile, server.backupToken, { mode: 0o600 });
  const src = join(tmp.path, 'photos');
  await writeTree(src, {
    'a.txt': { data: 'alpha', mtimeMs: T0 },
    'sub/b.bin': { data: new Uint8Array(3 * MiB).map((_, i) => (i * 7919) >> 5), mode: 0o600, mtimeMs: T0 + 1234 },
    'sub/link': { link: '../a.txt' },
    'cache/skip-me.tmp': { data: 'excluded', mtimeMs: T0 },
    'empty': { dir: true },
  });
  const probe = join(tmp.path, 'client-probe');
  const env = cleanEnv({ BUNKER_HOME: clientHome, BUNKER_TOKEN_FILE: tokenFile, BUNKER_KEY_PROBE: probe });
  const run = await probedCli(['backup', src, '--target', serve.url, '--encrypt-on', 'target', '--password', 'vault', '--repo-name', 'home', '--name', 'laptop', '--exclude', '*.tmp', '--json'], env);
  assert.is(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout) as { jobId: string; pointId: string; repository: string; series: string; keySource: string; warnings: string[] };
  assert.equal([result.repository, result.series, result.keySource, result.warnings], ['home', 'laptop', 'catalog', []]);

  // The client: nothing written to its home, no key derived or imported, no WebAssembly (Argon2id, zstd) compiled.
  assert.equal(await readdir(clientHome), [], 'the client home stays empty (no catalog)');
  assert.equal(await probeLines(probe), ['loaded'], 'the client used no key API');

  // The target restores with its own catalog: no password given.
  const out = join(tmp.path, 'restored');
  const restored = await runCli(['restore', 'latest', '--name', 'laptop', '--target', out, '--repo', join(server.home, 'repos', 'home')], { env: { BUNKER_HOME: server.home } });
  assert.is(restored.code, 0, restored.stderr);
  const expected = await snapshotTree(src);
  delete expected['cache/skip-me.tmp'];
  assert.equal(await snapshotTree(join(out, 'photos')), expected);
  assert.equal(await pointsIn(join(server.home, 'repos', 'home')), [result.pointId]);
  const job = (await jobsOf(serve.url, server.backupToken)).find((j) => j.id === result.jobId);
  assert.equal([job?.kind, job?.status], ['backup', 'succeeded']);
});

test('the key-use probe sees a local encrypted backup (it would catch a client that encrypts)', async () => {
  await using tmp = await tempDir('bunker-target-');
  await writeTree(join(tmp.path, 'src'), { 'a.txt': 'alpha' });
  const passwordFile = join(tmp.path, 'pw');
  await writeFile(passwordFile, 'local password\n', { mode: 0o600 });
  const probe = join(tmp.path, 'probe');
  const run = await probedCli(['backup', join(tmp.path, 'src'), '--repo', join(tmp.path, 'repo'), '--password-file', passwordFile, '--kdf', TEST_KDF_FLAG],
    cleanEnv({ BUNKER_HOME: join(tmp.path, 'home'), BUNKER_KEY_PROBE: probe, BUNKER_WORKERS: '0' }));
  assert.is(run.code, 0, run.stderr);
  const lines = await probeLines(probe);
  assert.is(lines[0], 'loaded');
  for (const use of ['subtle.importKey', 'subtle.deriveBits', 'subtle.encrypt', 'wasm.compile']) assert.ok(lines.includes(use), `${use} in ${lines.join(',')}`);
  // The password is hashed by Node's native Argon2id; Deno has none and uses the WebAssembly one.
  assert.is(lines.includes('crypto.argon2'), RUNTIME === 'node', `crypto.argon2 in ${lines.join(',')}`);
});

test('--encrypt-on source with --target is --repo URL/v1/repos/R: encrypted on the client, stored on the target', async () => {
  await using tmp = await tempDir('bunker-target-');
  const server = await serverHome(tmp.path);
  await using serve = await serveProcess(server.home);
  await writeTree(join(tmp.path, 'src'), { 'a.txt': { data: 'alpha', mtimeMs: T0 } });
  const tokenFile = join(tmp.path, 'token');
  await writeFile(tokenFile, server.backupToken, { mode: 0o600 });
  const passwordFile = join(tmp.path, 'client-password');
  await writeFile(passwordFile, 'the client keeps this one\n', { mode: 0o600 });
  const env = { BUNKER_HOME: join(tmp.path, 'client-home'), BUNKER_TOKEN_FILE: tokenFile };
  const run = await runCli(['backup', join(tmp.path, 'src'), '--target', serve.url, '--repo-name', 'remote', '--password-file', passwordFile, '--kdf', TEST_KDF_FLAG, '--json'], { env });
  assert.is(run.code, 0, run.stderr);
  const { pointId } = JSON.parse(run.stdout) as { pointId: string };
  assert.equal(await pointsIn(join(server.home, 'repos', 'remote')), [pointId]);
  // The server's catalog has no hash for it: only the client's password opens it.
  const denied = await runCli(['restore', 'latest', '--target', join(tmp.path, 'out1'), '--repo', join(server.home, 'repos', 'remote')], { env: { BUNKER_HOME: server.home } });
  assert.is(denied.code !== 0, true);
  assert.match(denied.stderr, /password/i);
  const restored = await runCli(['restore', 'latest', '--target', join(tmp.path, 'out'), '--repo', `${serve.url}/v1/repos/remote`, '--password-file', passwordFile], { env });
  assert.is(restored.code, 0, restored.stderr);
  assert.is(await readFile(join(tmp.path, 'out', 'src', 'a.txt'), 'utf8'), 'alpha');

  // The same tree encrypted on the target instead, with the human summary.
  const onTarget = await runCli(['backup', join(tmp.path, 'src'), '--target', serve.url, '--encrypt-on', 'target', '--password', 'vault', '--repo-name', 'remote', '--name', 'other'], { env });
  assert.is(onTarget.code, 0, onTarget.stderr);
  assert.match(onTarget.stdout, /saved on 127\.0\.0\.1:\d+, repository "remote" \(backup "other"/);
  assert.match(onTarget.stdout, /encrypted on the target with its password "vault"/);

  // Refused before the body is read: the client hears it while still sending, and stops.
  await writeFile(join(tmp.path, 'src', 'large.bin'), new Uint8Array(48 * MiB));
  const before = await pointsIn(join(server.home, 'repos', 'remote'));
  assert.is(before.length, 2);
  const unknown = await runCli(['backup', join(tmp.path, 'src'), '--target', serve.url, '--encrypt-on', 'target', '--password', 'nope', '--repo-name', 'remote'], { env });
  assert.is(unknown.code, 3, unknown.stderr);
  assert.match(unknown.stderr, /no stored password has that name/);
  assert.equal(await pointsIn(join(server.home, 'repos', 'remote')), before);
});

test('--encrypt-on target refuses what would need a key here, and a missing --target or --password', async () => {
  await using tmp = await tempDir('bunker-target-');
  const env = { BUNKER_HOME: join(tmp.path, 'home'), BUNKER_TOKEN: 'bunker_unused' };
  const cases: [string[], RegExp][] = [
    [['--encrypt-on', 'target', '--password', 'vault'], /--encrypt-on target needs --target/],
    [['--target', 'http://127.0.0.1:9', '--encrypt-on', 'target'], /needs --password NAME/],
    [['--target', 'http://127.0.0.1:9', '--encrypt-on', 'target', '--password', 'vault', '--password-file', join(tmp.path, 'pw')], /does not take --password-file/],
    [['--target', 'http://127.0.0.1:9', '--encrypt-on', 'target', '--password', 'vault', '--no-encrypt'], /does not take --no-encrypt/],
    [['--target', 'http://127.0.0.1:9', '--repo', join(tmp.path, 'r')], /--target and --repo exclude each other/],
    [['--repo-name', 'x'], /--repo-name goes with --target/],
    [['--target', 'ftp://example', '--encrypt-on', 'target', '--password', 'vault'], /http\(s\):\/\/HOST:PORT/],
    [['--target', 'http://u:p@127.0.0.1:9', '--encrypt-on', 'target', '--password', 'vault'], /must not hold credentials/],
    [['--target', 'http://127.0.0.1:9', '--encrypt-on', 'target', '--password', 'my secret!'], /names a password stored on the target/],
  ];
  for (const [args, pattern] of cases) {
    const run = await runCli(['backup', tmp.path, ...args], { env });
    assert.is(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, pattern, args.join(' '));
    assert.not.match(run.stderr, /my secret/, 'a password-like name is never echoed');
  }
  // An unreachable target is REMOTE_FAILED, and still nothing is written here.
  const down = await runCli(['backup', tmp.path, '--target', 'http://127.0.0.1:9', '--encrypt-on', 'target', '--password', 'vault'], { env });
  assert.match(down.stderr, /the upload to http:\/\/127\.0\.0\.1:9 failed \(ECONNREFUSED\)/);
  assert.equal(await readdir(tmp.path), []);
});

test('tar c DIR | curl -T - works (PUT), a read token is refused, and a hostile tar commits nothing', async () => {
  await using tmp = await tempDir('bunker-target-');
  const server = await serverHome(tmp.path);
  await using serve = await serveProcess(server.home);
  await writeTree(join(tmp.path, 'work'), { 'notes.md': { data: '# notes\n', mtimeMs: T0 }, 'deep/er/file': { data: 'deep', mtimeMs: T0 } });
  const headers = join(tmp.path, 'headers');
  await writeFile(headers, `Authorization: Bearer ${server.backupToken}\n`, { mode: 0o600 });
  const url = `${serve.url}/v1/repos/shared/backups?series=work&password=vault`;
  const tar = spawn('tar', ['-c', '-C', tmp.path, 'work'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const sent = curlUpload(url, headers, Readable.toWeb(tar.stdout!) as ReadableStream<Uint8Array>);
  const answer = await sent.done;
  assert.is(answer.code, 0, answer.stderr);
  const result = JSON.parse(answer.stdout) as { pointId: string; stats: { files: number; dirs: number } };
  assert.equal([result.stats.files, result.stats.dirs], [2, 3]);

  const out = join(tmp.path, 'restored');
  const restored = await runCli(['restore', result.pointId, '--target', out, '--repo', join(server.home, 'repos', 'shared')], { env: { BUNKER_HOME: server.home } });
  assert.is(restored.code, 0, restored.stderr);
  assert.equal(await snapshotTree(join(out, 'work')), await snapshotTree(join(tmp.path, 'work')));

  const readHeaders = join(tmp.path, 'read-headers');
  await writeFile(readHeaders, `Authorization: Bearer ${server.readToken}\n`, { mode: 0o600 });
  const forbidden = await curlUpload(url, readHeaders, Readable.toWeb(spawn('tar', ['-c', '-C', tmp.path, 'work']).stdout!) as ReadableStream<Uint8Array>).done;
  assert.is(JSON.parse(forbidden.stdout).error.code, 'FORBIDDEN');

  // tar -P keeps the leading "/": refused whole.
  const absolute = await curlUpload(url, headers, Readable.toWeb(spawn('tar', ['-P', '-c', join(tmp.path, 'work')], { stdio: ['ignore', 'pipe', 'ignore'] }).stdout!) as ReadableStream<Uint8Array>).done;
  assert.is(JSON.parse(absolute.stdout).error.code, 'UNSAFE_PATH');
  assert.equal(await pointsIn(join(server.home, 'repos', 'shared')), [result.pointId]);
});

test('a client that goes away mid-upload commits nothing: the job fails as a truncated stream', async () => {
  await using tmp = await tempDir('bunker-target-');
  const server = await serverHome(tmp.path);
  await using serve = await serveProcess(server.home);
  const headers = join(tmp.path, 'headers');
  await writeFile(headers, `Authorization: Bearer ${server.backupToken}\n`, { mode: 0o600 });
  const upload = curlUpload(`${serve.url}/v1/repos/r/backups?series=s&password=vault`, headers, stalledTar());
  let exited = false;
  void upload.done.then(() => (exited = true));
  // Gone once the server has backed up the first file and is reading the second, which never
  // ends: the job waits there, so this wait ends with it (or with curl's failure).
  let running: JobView | undefined;
  while (running === undefined) {
    if (exited) assert.unreachable(`curl ended before the server was at work: ${(await upload.done).stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    running = (await jobsOf(serve.url, server.backupToken)).find((j) => j.status === 'running' && j.progress?.files === 1);
  }
  upload.child.kill('SIGKILL');
  await upload.done;
  upload.source.destroy();
  const jobs = await afterJobEnds(serve.url, server.backupToken, running.id);
  assert.equal(jobs.map((j) => [j.kind, j.status, j.error?.code]), [['backup', 'failed', 'TAMPERED']]);
  assert.equal(await pointsIn(join(server.home, 'repos', 'r')), []);
});

// A server that held the body (or one file of it) whole would grow by the upload's size. The
// pipeline's own buffers and garbage are reached by a warm-up upload first, so what the big upload
// adds on top is what the bound is about: well under its 300 MiB.
const WARM_UP_BYTES = 64 * MiB;
const STREAM_BYTES = 300 * MiB;
const GROWTH_BOUND_MIB = 200;

test(`a ${STREAM_BYTES / MiB} MiB upload and download stream through the server: its peak RSS grows by less than ${GROWTH_BOUND_MIB} MiB each`, async () => {
  await using tmp = await tempDir('bunker-target-');
  const server = await serverHome(tmp.path);
  await using serve = await serveProcess(server.home);
  const uploadOf = async (bytes: number, onPiece?: (piece: Uint8Array) => void) => {
    const answer = await streamUpload({
      url: new URL(`${serve.url}/v1/repos/big/backups?series=s&password=vault&compression=none`), method: 'POST',
      token: server.backupToken, contentType: 'application/x-tar', body: randomTar('big.bin', bytes, undefined, onPiece),
    });
    assert.is(answer.status, 201, JSON.stringify(answer.json));
    const result = answer.json as { pointId: string; stats: { bytesRead: number } };
    assert.is(result.stats.bytesRead, bytes);
    return result.pointId;
  };
  const started = Date.now();
  const first = await uploadOf(WARM_UP_BYTES);
  const warm = await peakRssMiB(serve.child.pid!);
  const sent = createHash('sha256');
  const second = await uploadOf(STREAM_BYTES, (piece) => sent.update(piece));
  const peak = await peakRssMiB(serve.child.pid!);
  console.log(`\n  ${RUNTIME} server: peak RSS ${warm.toFixed(0)} MiB after ${WARM_UP_BYTES / MiB} MiB, ${peak.toFixed(0)} MiB after ${STREAM_BYTES / MiB} MiB more (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  assert.ok(peak - warm < GROWTH_BOUND_MIB, `peak RSS grew by ${(peak - warm).toFixed(0)} MiB`);
  assert.equal(await pointsIn(join(server.home, 'repos', 'big')), [first, second].sort());

  // Back down: the file route streams the 300 MiB file; the bytes are the ones sent. The download
  // pipeline has its own buffers and transient allocations (the point's key derivation among
  // them): a warm-up download of the first point reaches them first.
  const download = async (pointId: string) => {
    const response = await fetch(`${serve.url}/v1/repos/big/points/${pointId}/file?path=big.bin`, { headers: { authorization: `Bearer ${server.backupToken}` } });
    assert.is(response.status, 200);
    const received = createHash('sha256');
    let bytes = 0;
    for await (const piece of response.body! as unknown as AsyncIterable<Uint8Array>) {
      received.update(piece);
      bytes += piece.length;
    }
    return { bytes, digest: received.digest('hex') };
  };
  assert.is((await download(first)).bytes, WARM_UP_BYTES);
  const warmDownload = await peakRssMiB(serve.child.pid!);
  const downloadStarted = Date.now();
  const received = await download(second);
  const afterDownload = await peakRssMiB(serve.child.pid!);
  console.log(`  ${RUNTIME} server: peak RSS ${warmDownload.toFixed(0)} MiB after a ${WARM_UP_BYTES / MiB} MiB download, ${afterDownload.toFixed(0)} MiB after a ${STREAM_BYTES / MiB} MiB download (${((Date.now() - downloadStarted) / 1000).toFixed(1)} s)`);
  assert.is(received.bytes, STREAM_BYTES);
  assert.is(received.digest, sent.digest('hex'), 'the downloaded bytes are the uploaded ones');
  assert.ok(afterDownload - warmDownload < GROWTH_BOUND_MIB, `peak RSS grew by ${(afterDownload - warmDownload).toFixed(0)} MiB over the warm-up download`);
});

test.run();
