/**
 * The tar stream source and writer (encrypt on target, FORMAT.md §16.3): real GNU tar output
 * backs up and restores byte for byte; the writer's output is what GNU tar extracts; hostile
 * tars get their typed error and commit nothing; entries are read strictly in order.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createTarPacker, packTar, type TarEntry } from 'modern-tar';
import { backup, BunkerError, restore, type Source } from '../core/mod.ts';
import { fsSource } from '../core/host/fs-source.ts';
import { DirectoryRestoreSink } from '../core/host/fs-restore-sink.ts';
import { tarSource } from '../core/tar-source.ts';
import { tarStream } from '../core/tar-writer.ts';
import type { Repository } from '../core/repository.ts';
import type { MemoryStorage } from '../core/storage/memory.ts';
import { fixedResolver, memoryRepo, pseudoRandomBytes, SMALL_CHUNKER, tempDir, TEST_KDF } from './helpers.ts';
import { snapshotTree, writeTree } from './tree.ts';

const PASSWORD = 'tar source test';
const T0 = Date.UTC(2024, 4, 6, 7, 8, 9, 0);

/** `bytes` as a stream of small pieces, so headers and bodies straddle reads. */
function streamOf(bytes: Uint8Array, piece = 700): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + piece));
      offset += piece;
    },
  });
}

function run(command: string, args: string[], options: { cwd?: string; input?: ReadableStream<Uint8Array> } = {}): { stdout: ReadableStream<Uint8Array>; exited: Promise<number> } {
  const child = spawn(command, args, { cwd: options.cwd, stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'inherit'] });
  if (options.input) Readable.fromWeb(options.input as never).pipe(child.stdin!);
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  return { stdout: Readable.toWeb(child.stdout!) as ReadableStream<Uint8Array>, exited };
}

async function backupTar(repo: Repository, source: Source, warnings: string[] = [], signal?: AbortSignal) {
  return backup(repo, source, {
    series: 'default', encrypt: true, compressionLevel: 3, resolver: fixedResolver(PASSWORD), kdf: TEST_KDF,
    onWarning: (m) => void warnings.push(m), ...(signal ? { signal } : {}),
  });
}

async function restoreLatest(repo: Repository, target: string): Promise<void> {
  const point = await repo.unlock(await repo.resolvePoint('latest'), fixedResolver(PASSWORD));
  await restore(repo, point, new DirectoryRestoreSink(target));
}

async function assertNothingCommitted(storage: MemoryStorage): Promise<void> {
  assert.equal(await storage.list('points/'), [], 'no point');
  assert.equal(await storage.list('trees/'), [], 'no manifest');
}

/** Backs up `bytes` as a tar upload; asserts the refusal's code and that nothing was committed. */
async function assertRefused(bytes: Uint8Array | ReadableStream<Uint8Array>, code: BunkerError['code'], pattern?: RegExp): Promise<string> {
  const { repo, storage } = await memoryRepo({ chunker: SMALL_CHUNKER });
  try {
    await backupTar(repo, tarSource(bytes instanceof Uint8Array ? streamOf(bytes) : bytes));
    assert.unreachable('the tar should have been refused');
  } catch (error) {
    if (!(error instanceof BunkerError)) throw error;
    assert.is(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    await assertNothingCommitted(storage);
    return error.message;
  }
  return '';
}

const file = (name: string, body: string | Uint8Array, extra: Partial<TarEntry['header']> = {}): TarEntry =>
  ({ header: { name, size: typeof body === 'string' ? new TextEncoder().encode(body).length : body.length, mtime: new Date(T0), ...extra }, body });
const dir = (name: string): TarEntry => ({ header: { name, type: 'directory', size: 0, mtime: new Date(T0) } });

// ---------------------------------------------------------------------------------------------
// Real tar streams

const TREE = {
  'top/a.txt': { data: 'alpha\n', mtimeMs: T0 },
  'top/exec.sh': { data: '#!/bin/sh\necho hi\n', mode: 0o755, mtimeMs: T0 + 1000 },
  'top/secret': { data: 'k', mode: 0o600, mtimeMs: T0 + 2000 },
  'top/empty': { data: '', mtimeMs: T0 + 3000 },
  'top/sub/deep/big.bin': { data: pseudoRandomBytes(300_001, 7), mtimeMs: T0 + 4000 },
  'top/sub/héllo wörld 🎉.txt': { data: 'unicode', mtimeMs: T0 + 5000 },
  [`top/${'long-name-'.repeat(12)}/${'x'.repeat(120)}.txt`]: { data: 'a path longer than ustar\'s 100 bytes', mtimeMs: T0 + 6000 },
  'top/link': { link: 'a.txt' },
  'top/dangling': { link: '../nowhere' },
  'top/void': { dir: true },
} as const;

for (const format of ['gnu', 'posix'] as const) {
  test(`tar --format=${format} c DIR backs up and restores byte for byte (modes, times, links, long and unicode names)`, async () => {
    await using tmp = await tempDir();
    const src = join(tmp.path, 'src');
    await mkdir(src);
    await writeTree(src, TREE);
    const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
    const tar = run('tar', [`--format=${format}`, '-c', 'top'], { cwd: src });
    const warnings: string[] = [];
    const result = await backupTar(repo, tarSource(tar.stdout, { host: 'sender' }), warnings);
    assert.is(await tar.exited, 0);
    assert.equal(warnings, []);
    assert.is(result.stats.files, 7);
    assert.is(result.stats.symlinks, 2);
    const out = join(tmp.path, 'out');
    await restoreLatest(repo, out);
    assert.equal(await snapshotTree(join(out, 'top')), await snapshotTree(join(src, 'top')));
    const manifest = await repo.readManifest(await repo.unlock(await repo.resolvePoint('latest'), fixedResolver(PASSWORD)));
    assert.is(manifest.header.host, 'sender');
  });
}

test('tar -C DIR c . : the archive root "./" is not an entry and "./" prefixes are dropped', async () => {
  await using tmp = await tempDir();
  await writeTree(tmp.path, { 'in/one': { data: '1', mtimeMs: T0 }, 'in/two/three': { data: '3', mtimeMs: T0 } });
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const tar = run('tar', ['-C', join(tmp.path, 'in'), '-c', '.']);
  await backupTar(repo, tarSource(tar.stdout));
  const manifest = await repo.readManifest(await repo.unlock(await repo.resolvePoint('latest'), fixedResolver(PASSWORD)));
  assert.equal(manifest.entries.map((e) => e.path), ['one', 'two', 'two/three']);
});

test('the tar writer: GNU tar extracts exactly the tree (millisecond times via PAX, long names, links)', async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, 'src');
  await mkdir(src);
  await writeTree(src, { ...TREE, 'top/ms': { data: 'milliseconds', mtimeMs: T0 + 123 } });
  const out = join(tmp.path, 'out');
  await mkdir(out);
  const entries: string[] = [];
  const tar = run('tar', ['-x', '-C', out], { input: tarStream(await fsSource([join(src, 'top')]), { onEntry: (e) => void entries.push(e.path) }) });
  assert.is(await tar.exited, 0);
  assert.equal(await snapshotTree(join(out, 'top')), await snapshotTree(join(src, 'top')));
  assert.ok(entries.includes('top/sub/deep/big.bin'));
});

test('the tar writer into the tar source: a round trip keeps every byte, mode and millisecond', async () => {
  await using tmp = await tempDir();
  const src = join(tmp.path, 'src');
  await mkdir(src);
  await writeTree(src, { ...TREE, 'top/ms': { data: 'milliseconds', mtimeMs: T0 + 7 } });
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  await backupTar(repo, tarSource(tarStream(await fsSource([join(src, 'top')]))));
  const out = join(tmp.path, 'out');
  await restoreLatest(repo, out);
  assert.equal(await snapshotTree(join(out, 'top')), await snapshotTree(join(src, 'top')));
});

test('the tar writer keeps times before 1970 and after ustar\'s 2242 (PAX), exactly: to the tar source and to GNU tar', async () => {
  // -1500 ms is "-1.500" in PAX: the sign is the whole value's. ustar's field holds 0 then.
  const times: Record<string, number> = { 'd': -86_400_250, 'd/f': -1500, 'd/g': -2000, 'd/h': -1, 'd/link': -999, 'd/far': 8_589_934_592_000 + 7, 'd/zero': 0, 'd/ms': T0 + 999 };
  const source: Source = {
    sources: ['d'], host: 'h',
    async *entries() {
      for (const [path, mtimeMs] of Object.entries(times)) {
        if (path === 'd') yield { path, type: 'dir', mode: 0o755, mtimeMs, size: 0 };
        else if (path === 'd/link') yield { path, type: 'symlink', mode: 0o777, mtimeMs, size: 0, target: 'f' };
        else yield { path, type: 'file', mode: 0o644, mtimeMs, size: 1, open: async () => { let done = false; return { read: async (into: Uint8Array) => (done ? 0 : ((done = true), (into[0] = 120), 1)), close: async () => {} }; } };
      }
    },
  };
  const read: Record<string, number> = {};
  for await (const entry of tarSource(tarStream(source)).entries()) read[entry.path] = entry.mtimeMs;
  assert.equal(read, times, 'through the tar source');
  // GNU tar sets the same times from the PAX records.
  await using tmp = await tempDir();
  const tar = run('tar', ['-x', '--warning=no-timestamp', '-C', tmp.path], { input: tarStream(source) });
  assert.is(await tar.exited, 0);
  for (const path of ['d', 'd/f', 'd/g', 'd/h', 'd/link', 'd/far', 'd/zero', 'd/ms']) {
    assert.is(Number(lstatSync(join(tmp.path, path), { bigint: true }).mtimeNs / 1_000_000n), times[path], `GNU tar: ${path}`);
  }
});

test('the tar writer sends owners it knows; a file with none loses its set-id bits rather than become root\'s', async () => {
  const one = async () => { let done = false; return { read: async (into: Uint8Array) => (done ? 0 : ((done = true), (into[0] = 120), 1)), close: async () => {} }; };
  const source: Source = {
    sources: ['d'], host: 'h',
    async *entries() {
      yield { path: 'd', type: 'dir', mode: 0o2775, mtimeMs: T0, size: 0, uid: 4321, gid: 8765 };
      yield { path: 'd/owned', type: 'file', mode: 0o4755, mtimeMs: T0, size: 1, uid: 4321, gid: 8765, open: one };
      yield { path: 'd/unknown', type: 'file', mode: 0o6755, mtimeMs: T0, size: 1, open: one };
    },
  };
  const tar = spawn('tar', ['-t', '-v', '--numeric-owner'], { stdio: ['pipe', 'pipe', 'inherit'] });
  Readable.fromWeb(tarStream(source) as never).pipe(tar.stdin);
  let listing = '';
  for await (const piece of tar.stdout) listing += piece;
  const lines = listing.trim().split('\n').map((line) => line.split(/\s+/));
  assert.equal(lines.map((f) => [f[0], f[1], f.at(-1)]), [
    ['drwxrwsr-x', '4321/8765', 'd/'],
    ['-rwsr-xr-x', '4321/8765', 'd/owned'],
    ['-rwxr-xr-x', '0/0', 'd/unknown'],
  ]);
});

test('the tar writer pads a file that shrank after it was listed and cuts one that grew, with warnings', async () => {
  const reader = (bytes: Uint8Array) => {
    let offset = 0;
    return { async read(into: Uint8Array) { const n = Math.min(into.length, bytes.length - offset); into.set(bytes.subarray(offset, offset + n)); offset += n; return n; }, async close() {} };
  };
  const source: Source = {
    sources: ['x'], host: 'h',
    async *entries() {
      yield { path: 'shrank', type: 'file', mode: 0o644, mtimeMs: T0, size: 10, open: async () => reader(new TextEncoder().encode('abc')) };
      yield { path: 'grew', type: 'file', mode: 0o644, mtimeMs: T0, size: 2, open: async () => reader(new TextEncoder().encode('abcdef')) };
      yield { path: 'gone', type: 'file', mode: 0o644, mtimeMs: T0, size: 2, open: async () => { throw new Error('ENOENT'); } };
    },
  };
  const warnings: string[] = [];
  const entries: { path: string; data: string }[] = [];
  for await (const entry of tarSource(tarStream(source, { onWarning: (m) => void warnings.push(m) })).entries()) {
    const r = await entry.open!();
    const buffer = new Uint8Array(64);
    let length = 0;
    for (let n; (n = await r.read(buffer.subarray(length))) > 0;) length += n;
    entries.push({ path: entry.path, data: new TextDecoder().decode(buffer.subarray(0, length)) });
  }
  assert.equal(entries, [{ path: 'shrank', data: 'abc\0\0\0\0\0\0\0' }, { path: 'grew', data: 'ab' }]);
  assert.is(warnings.length, 3);
  assert.match(warnings.join('\n'), /shrank.*padded with zeros/);
  assert.match(warnings.join('\n'), /grew while it was read/);
  assert.match(warnings.join('\n'), /could not read gone/);
});

// ---------------------------------------------------------------------------------------------
// Order and streaming

test('sequential: hundreds of small files around files larger than the read-ahead size back up exactly (no entry read ahead)', async () => {
  await using tmp = await tempDir();
  const spec: Record<string, { data: Uint8Array; mtimeMs: number }> = {};
  for (let i = 0; i < 400; i++) spec[`t/f${String(i).padStart(3, '0')}`] = { data: pseudoRandomBytes(50 + i, i + 1), mtimeMs: T0 };
  for (const i of [5, 150, 399]) spec[`t/f${String(i).padStart(3, '0')}`] = { data: pseudoRandomBytes(1_500_000 + i, i), mtimeMs: T0 };
  const src = join(tmp.path, 'src');
  await writeTree(src, spec);
  const { repo } = await memoryRepo();
  const warnings: string[] = [];
  const result = await backupTar(repo, tarSource(run('tar', ['-c', 't'], { cwd: src }).stdout), warnings);
  assert.equal(warnings, []);
  assert.is(result.stats.files, 400);
  const out = join(tmp.path, 'out');
  await restoreLatest(repo, out);
  assert.equal(await snapshotTree(join(out, 't')), await snapshotTree(join(src, 't')));
});

test('a 24 MiB file made on the fly streams through and restores byte for byte', async () => {
  await using tmp = await tempDir();
  const size = 24 * 1024 * 1024;
  const block = pseudoRandomBytes(1 << 20, 3);
  const { readable, controller } = createTarPacker();
  (async () => {
    const body = controller.add({ name: 'huge.bin', size, mtime: new Date(T0) }).getWriter();
    for (let i = 0; i < size / block.length; i++) {
      const piece = block.slice();
      piece[0] = i;
      await body.write(piece);
    }
    await body.close();
    controller.finalize();
  })();
  const { repo } = await memoryRepo();
  await backupTar(repo, tarSource(readable));
  const out = join(tmp.path, 'out');
  await restoreLatest(repo, out);
  const restored = await readFile(join(out, 'huge.bin'));
  assert.is(restored.length, size);
  for (let i = 0; i < size / block.length; i++) {
    const piece = block.slice();
    piece[0] = i;
    assert.ok(Buffer.compare(restored.subarray(i * block.length, (i + 1) * block.length), piece) === 0, `block ${i}`);
  }
});

test('an entry the consumer does not read is skipped; reading it after moving on is an error', async () => {
  const bytes = await packTar([file('a', 'AAAA'), file('b', 'BBBB')]);
  const iterator = tarSource(streamOf(bytes, 100)).entries()[Symbol.asyncIterator]();
  const a = (await iterator.next()).value!;
  const readerA = await a.open!();
  const b = (await iterator.next()).value!;
  const buffer = new Uint8Array(8);
  const readerB = await b.open!();
  assert.is(new TextDecoder().decode(buffer.subarray(0, await readerB.read(buffer))), 'BBBB');
  try {
    await readerA.read(buffer);
    assert.unreachable();
  } catch (error) {
    assert.match((error as Error).message, /after the source moved past it/);
  }
  assert.ok((await iterator.next()).done);
});

test('directories the tar implies come first (0755); a directory listed after its contents is kept once, with a warning', async () => {
  const bytes = await packTar([file('a/b/c.txt', 'c'), file('a/d.txt', 'd'), dir('a/b/'), dir('e/')]);
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const warnings: string[] = [];
  await backupTar(repo, tarSource(streamOf(bytes), { onWarning: (m) => void warnings.push(m) }), warnings);
  const manifest = await repo.readManifest(await repo.unlock(await repo.resolvePoint('latest'), fixedResolver(PASSWORD)));
  assert.equal(manifest.entries.map((e) => `${e.type} ${e.path} ${e.mode.toString(8)}`), ['dir a 755', 'dir a/b 755', 'file a/b/c.txt 644', 'file a/d.txt 644', 'dir e 755']);
  assert.is(warnings.length, 1);
  assert.match(warnings[0]!, /a\/b\/ comes after its contents/);
});

test('set-user-id and set-group-id bits from an upload are dropped, with a warning; the sticky bit and the rest stay', async () => {
  const bytes = await packTar([
    { header: { name: 'suid', size: 1, mode: 0o4755, mtime: new Date(0) }, body: 'x' },
    { header: { name: 'sgid', size: 1, mode: 0o2750, mtime: new Date(0) }, body: 'y' },
    { header: { name: 'tmp/', type: 'directory', size: 0, mode: 0o1777, mtime: new Date(0) } },
  ]);
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const warnings: string[] = [];
  await backupTar(repo, tarSource(streamOf(bytes), { onWarning: (m) => void warnings.push(m) }), warnings);
  const manifest = await repo.readManifest(await repo.unlock(await repo.resolvePoint('latest'), fixedResolver(PASSWORD)));
  assert.equal(manifest.entries.map((e) => `${e.path} ${e.mode.toString(8)}`), ['suid 755', 'sgid 750', 'tmp 1777']);
  assert.is(warnings.length, 2);
  assert.match(warnings.join('\n'), /suid: set-user-id\/set-group-id bits dropped/);
});

test('devices and FIFOs are skipped with a warning; the rest is backed up', async () => {
  const bytes = await packTar([
    file('ok.txt', 'ok'),
    { header: { name: 'pipe', type: 'fifo', size: 0 } },
    { header: { name: 'tty', type: 'character-device', size: 0 } },
    { header: { name: 'disk', type: 'block-device', size: 0 } },
  ]);
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const warnings: string[] = [];
  const result = await backupTar(repo, tarSource(streamOf(bytes), { onWarning: (m) => void warnings.push(m) }), warnings);
  assert.is(result.stats.files, 1);
  assert.is(warnings.length, 3);
  assert.match(warnings.join('\n'), /pipe is a fifo.*skipped/);
  assert.match(warnings.join('\n'), /tty is a character device.*skipped/);
});

test('a cancelled backup stops reading at once with CANCELLED and commits nothing', async () => {
  const head = await packTar([file('first', 'one')]);
  // The first entry, then a stream that never ends (a stalled client).
  const stalled = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(head.subarray(0, 1024));
    },
  });
  const { repo, storage } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const controller = new AbortController();
  const source = tarSource(stalled, { signal: controller.signal });
  // Cancelled once the first entry is in (on the next turn, when the source waits on the stalled
  // stream): the read in progress is what must stop, whatever the machine's speed.
  let files = 0;
  try {
    await backup(repo, source, {
      series: 'default', encrypt: true, compressionLevel: 3, resolver: fixedResolver(PASSWORD), kdf: TEST_KDF, signal: controller.signal,
      onProgress: (p) => {
        files = p.files;
        setTimeout(() => controller.abort(), 0);
      },
    });
    assert.unreachable();
  } catch (error) {
    assert.is((error as BunkerError).code, 'CANCELLED', String(error));
  }
  assert.is(files, 1, 'cancelled after the first entry, while waiting for the next');
  await assertNothingCommitted(storage);
});

// ---------------------------------------------------------------------------------------------
// Hostile tars: each refusal has its code, and nothing is committed

test('an absolute path is UNSAFE_PATH', async () => {
  await assertRefused(await packTar([file('ok', 'x'), file('/etc/cron.d/evil', 'x')]), 'UNSAFE_PATH', /absolute/);
});

test('a ".." component is UNSAFE_PATH, in the ustar name and in a PAX path', async () => {
  await assertRefused(await packTar([file('../escape', 'x')]), 'UNSAFE_PATH', /parent reference/);
  await assertRefused(await packTar([file('a/../../escape', 'x')]), 'UNSAFE_PATH', /parent reference/);
  await assertRefused(await packTar([file('innocent', 'x', { pax: { path: 'dir/../../../etc/passwd' } })]), 'UNSAFE_PATH', /parent reference/);
});

test('empty and "." components, a NUL byte and an overlong path are UNSAFE_PATH', async () => {
  await assertRefused(await packTar([file('a//b', 'x')]), 'UNSAFE_PATH', /empty component/);
  await assertRefused(await packTar([file('a/./b', 'x')]), 'UNSAFE_PATH', /empty component/);
  await assertRefused(await packTar([file('innocent', 'x', { pax: { path: 'a\0b' } })]), 'UNSAFE_PATH', /NUL/);
  await assertRefused(await packTar([file('x', 'x', { pax: { path: 'd/'.repeat(2100) + 'f' } })]), 'UNSAFE_PATH', /too long/);
});

test('an entry below a symbolic link (or below a file) is UNSAFE_PATH', async () => {
  await assertRefused(await packTar([{ header: { name: 'etc', type: 'symlink', linkname: '/etc', size: 0 } }, file('etc/passwd', 'root::0:0')]), 'UNSAFE_PATH', /below the symbolic link "etc"/);
  await assertRefused(await packTar([dir('d/'), { header: { name: 'd/l', type: 'symlink', linkname: '..', size: 0 } }, file('d/l/x/y', 'x')]), 'UNSAFE_PATH', /symbolic link "d\/l"/);
  await assertRefused(await packTar([file('f', 'x'), file('f/g', 'y')]), 'UNSAFE_PATH', /below the file "f"/);
});

test('a path listed twice is USAGE (a symbolic link replacing a directory too)', async () => {
  await assertRefused(await packTar([file('a', '1'), file('a', '2')]), 'USAGE', /"a" twice/);
  await assertRefused(await packTar([dir('d/'), dir('d/')]), 'USAGE', /twice/);
  await assertRefused(await packTar([file('d/x', '1'), { header: { name: 'd', type: 'symlink', linkname: '/', size: 0 } }]), 'USAGE', /twice/);
});

test('a hard link and a GNU sparse file are USAGE, with the tar option that avoids them', async () => {
  await assertRefused(await packTar([file('a', '1'), { header: { name: 'b', type: 'link', linkname: 'a', size: 0 } }]), 'USAGE', /hard link.*--hard-dereference/);
  await assertRefused(await packTar([file('s', 'x', { pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' } })]), 'USAGE', /sparse.*--sparse/);
});

test('a symbolic link without a target is TAMPERED', async () => {
  await assertRefused(await packTar([{ header: { name: 'l', type: 'symlink', linkname: '', size: 0 } }]), 'TAMPERED', /no valid target/);
});

test('a truncated stream is TAMPERED: mid-body, at an entry boundary without the end marker, empty', async () => {
  const bytes = await packTar([file('a', 'A'.repeat(2000)), file('b', 'B'.repeat(10))]);
  await assertRefused(bytes.subarray(0, 1200), 'TAMPERED', /truncated or interrupted/);
  await assertRefused(bytes.subarray(0, bytes.length - 1024), 'TAMPERED', /truncated or interrupted/);
  await assertRefused(bytes.subarray(0, 300), 'TAMPERED', /truncated or interrupted/);
  await assertRefused(new Uint8Array(0), 'TAMPERED', /truncated or interrupted/);
});

test('an input that breaks off (the client went away) is TAMPERED', async () => {
  const bytes = await packTar([file('a', 'A'.repeat(5000))]);
  let sent = false;
  const broken = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) return controller.error(new Error('connection reset'));
      sent = true;
      controller.enqueue(bytes.subarray(0, 2048));
    },
  });
  await assertRefused(broken, 'TAMPERED', /broke off.*connection reset/);
});

test('a header that fails its checksum, garbage after the end marker, and non-tar bytes are TAMPERED', async () => {
  const bytes = await packTar([file('a', 'x'), file('b', 'y')]);
  const damaged = bytes.slice();
  damaged[1024 + 10] ^= 0x20; // a byte of the second header's name
  await assertRefused(damaged, 'TAMPERED', /checksum/);
  const extended = new Uint8Array(bytes.length + 512);
  extended.set(bytes);
  extended.fill(0x41, bytes.length);
  await assertRefused(extended, 'TAMPERED', /after its end-of-archive marker/);
  await assertRefused(new TextEncoder().encode('{"not":"a tar"}'.repeat(100)), 'TAMPERED');
});

test.run();
