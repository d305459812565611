/**
 * Backup copy (core/copy.ts, `bunker copy`): a point of one repository becomes a point of
 * another, byte for byte, under the target's password, deduplicated against what the target
 * already has; a damaged source stops the copy with the source's error and commits nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { readFile, utimes, writeFile } from 'node:fs/promises';
import { backup, type BackupOptions, BunkerError, copyPoint, MemoryStorage, Repository, restore } from '../core/mod.ts';
import { fixedResolver, pseudoRandomBytes, runCli, SMALL_CHUNKER, tempDir, TEST_KDF, TEST_KDF_FLAG } from './helpers.ts';
import { snapshotTree, writeTree } from './tree.ts';
import { flipByte, MemorySink, memorySource, type TreeEntry } from './bad-input-kit.ts';
import { packKey } from '../core/repo/pack.ts';
import { runStart } from '../core/backup.ts';
import { fsSource } from '../core/host/fs-source.ts';
import { DirectoryRestoreSink } from '../core/host/fs-restore-sink.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';

await loadWasmFromPackages();
const text = (s: string) => new TextEncoder().encode(s);
const MARKER = 'COPY-MARKER-7f3a9c';

const tree1: TreeEntry[] = [
  { path: 'etc', type: 'dir' },
  { path: 'etc/notes.txt', type: 'file', data: text(`${MARKER}\n`.repeat(2000)) },
  { path: 'etc/big.bin', type: 'file', data: pseudoRandomBytes(200_000, 5) },
  { path: 'etc/empty', type: 'file', data: new Uint8Array(0) },
  { path: 'etc/link', type: 'symlink', target: 'notes.txt' },
];
const tree2: TreeEntry[] = [...tree1.slice(0, 3), { path: 'etc/new.bin', type: 'file', data: pseudoRandomBytes(30_000, 6) }, ...tree1.slice(3)];

function options(password: string, series = 'web', extra: Partial<BackupOptions> = {}): BackupOptions {
  return { series, encrypt: true, compressionLevel: 3, resolver: fixedResolver(password), kdf: TEST_KDF, ...extra };
}

async function restored(storage: MemoryStorage, pointId: string, password: string): Promise<MemorySink> {
  const repo = await Repository.open(storage);
  const sink = new MemorySink();
  await restore(repo, await repo.unlock(await repo.resolvePoint(pointId), fixedResolver(password)), sink);
  return sink;
}

function assertTree(sink: MemorySink, tree: readonly TreeEntry[], label: string): void {
  for (const e of tree) {
    if (e.type === 'file') assert.ok(sameBytes(sink.files.get(e.path), e.data), `${label}: ${e.path} byte for byte`);
    else if (e.type === 'symlink') assert.is(sink.symlinks.get(e.path), e.target, `${label}: ${e.path}`);
    else assert.ok(sink.dirs.includes(e.path), `${label}: ${e.path}`);
  }
  assert.is(sink.files.size, tree.filter((e) => e.type === 'file').length, `${label}: no extra files`);
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

function containsText(storage: MemoryStorage, needle: string): boolean {
  const bytes = text(needle);
  for (const value of storage.objects.values()) {
    outer: for (let i = 0; i + bytes.length <= value.length; i++) {
      for (let j = 0; j < bytes.length; j++) if (value[i + j] !== bytes[j]) continue outer;
      return true;
    }
  }
  return false;
}

async function sourceRepo() {
  const storage = new MemoryStorage();
  const repo = await Repository.init(storage, { chunker: SMALL_CHUNKER, packTargetBytes: 64 * 1024 });
  const first = await backup(repo, memorySource(tree1), options('source password'));
  const second = await backup(repo, memorySource(tree2), options('source password'));
  return { storage, repo, first: first.pointId, second: second.pointId };
}

test('copy re-encrypts under the target password: exact bytes back, the source password does not open it, no plaintext in the target', async () => {
  const src = await sourceRepo();
  const point = await src.repo.unlock(await src.repo.resolvePoint(src.first), fixedResolver('source password'));
  const targetStorage = new MemoryStorage();
  const target = await Repository.init(targetStorage, { chunker: SMALL_CHUNKER });
  const copied = await copyPoint(src.repo, point, target, { compressionLevel: 3, resolver: fixedResolver('target password'), kdf: TEST_KDF });
  assert.is(copied.sourcePointId, src.first);
  assert.is(copied.series, 'web');
  assertTree(await restored(targetStorage, copied.pointId, 'target password'), tree1, 'copy');
  let error: unknown;
  await restored(targetStorage, copied.pointId, 'source password').catch((e) => (error = e));
  assert.is((error as BunkerError)?.code, 'WRONG_PASSWORD');
  assert.not.ok(containsText(targetStorage, MARKER), 'the marker is nowhere in the target in plaintext');
});

test('a later point copied after an earlier one stores only what is new in the target', async () => {
  const src = await sourceRepo();
  const targetStorage = new MemoryStorage();
  const target = await Repository.init(targetStorage, { chunker: SMALL_CHUNKER });
  const opts = { compressionLevel: 3, resolver: fixedResolver('target password'), kdf: TEST_KDF };
  const first = await copyPoint(src.repo, await src.repo.unlock(await src.repo.resolvePoint(src.first), fixedResolver('source password')), target, opts);
  const second = await copyPoint(src.repo, await src.repo.unlock(await src.repo.resolvePoint(src.second), fixedResolver('source password')), target, opts);
  assert.is(second.parentId, first.pointId, 'the second copy continues the target series');
  assert.ok(first.stats.bytesAdded > 200_000, `first copy stored the data (${first.stats.bytesAdded})`);
  // Only new.bin (30 kB, incompressible) and the run's metadata are new.
  assert.ok(second.stats.bytesAdded < 60_000, `second copy stored ${second.stats.bytesAdded} bytes`);
  assertTree(await restored(targetStorage, second.pointId, 'target password'), tree2, 'second copy');
  assertTree(await restored(targetStorage, first.pointId, 'target password'), tree1, 'first copy still');
});

test('an unencrypted point is copied unencrypted; an include copies part of a point', async () => {
  const storage = new MemoryStorage();
  const repo = await Repository.init(storage, { chunker: SMALL_CHUNKER });
  const made = await backup(repo, memorySource(tree1), { series: 'plain', encrypt: false, compressionLevel: 3 });
  const point = await repo.unlock(await repo.resolvePoint(made.pointId), undefined);
  const targetStorage = new MemoryStorage();
  const target = await Repository.init(targetStorage, { chunker: SMALL_CHUNKER });
  const copied = await copyPoint(repo, point, target, { compressionLevel: 3, include: ['etc/big.bin'] });
  const record = await (await Repository.open(targetStorage)).readPoint(copied.pointId);
  assert.is(record.body.encryption, null);
  const sink = await restored(targetStorage, copied.pointId, '');
  assert.equal([...sink.files.keys()], ['etc/big.bin']);
  assert.ok(sameBytes(sink.files.get('etc/big.bin'), tree1[2]!.type === 'file' ? tree1[2]!.data : new Uint8Array()));
});

test('a tampered chunk in the source: TAMPERED, and no point in the target', async () => {
  const src = await sourceRepo();
  const point = await src.repo.unlock(await src.repo.resolvePoint(src.first), fixedResolver('source password'));
  // The last byte of one chunk the point holds (its tag): pack sizes vary with the series' secret
  // gear table, so a fixed position may lie past the end of a small pack.
  const [, chunk] = [...await src.repo.readIndex(point)][0]!;
  const damaged = packKey(chunk.packId);
  src.storage.objects.set(damaged, flipByte(src.storage.objects.get(damaged)!, chunk.offset + chunk.length - 1));
  const targetStorage = new MemoryStorage();
  const target = await Repository.init(targetStorage, { chunker: SMALL_CHUNKER });
  let error: unknown;
  await copyPoint(src.repo, point, target, { compressionLevel: 3, resolver: fixedResolver('target password'), kdf: TEST_KDF }).catch((e) => (error = e));
  assert.instance(error, BunkerError);
  assert.is((error as BunkerError).code, 'TAMPERED', String(error));
  assert.equal(await (await Repository.open(targetStorage)).listPoints(), []);
});

test('a copy keeps when its source read the files: a file rewritten within the source run\'s clock tick is read again after the copy too', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  const [a1, a2] = [1, 2].map((seed) => pseudoRandomBytes(30_000, seed));
  await writeTree(src, { x: a1! });
  const recentS = Math.floor(Date.now() / 1000);
  await utimes(join(src, 'x'), recentS, recentS);
  const opts = options('pw', 'web');
  const a = new MemoryStorage();
  const A = await Repository.init(a, { chunker: SMALL_CHUNKER });
  const p1 = await backup(A, await fsSource([src]), opts);
  // Rewritten in place at the same size, its mtime put back: the racy case.
  await writeFile(join(src, 'x'), a2!);
  await utimes(join(src, 'x'), recentS, recentS);
  const p2 = await backup(A, await fsSource([src]), opts);
  assert.is(p2.stats.filesChanged, 1, 'the source series read it again');
  // Copies made once the file's mtime is more than 2 s before the copy's own start.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, recentS * 1000 + 2100 - Date.now())));
  const unlock = async (repo: Repository, id: string) => repo.unlock(await repo.resolvePoint(id), fixedResolver('pw'));
  const restoredX = async (repo: Repository, id: string, label: string) => {
    const out = join(dir.path, label);
    await restore(repo, await unlock(repo, id), new DirectoryRestoreSink(out));
    return new Uint8Array(await readFile(join(out, 'src', 'x')));
  };
  const b = new MemoryStorage();
  const B = await Repository.init(b, { chunker: SMALL_CHUNKER });
  const c1 = await copyPoint(A, await unlock(A, p1.pointId), B, { compressionLevel: 3, resolver: fixedResolver('pw'), kdf: TEST_KDF });
  assert.is((await B.readPoint(c1.pointId)).body.stats.startedAt, runStart(await A.readPoint(p1.pointId)), 'the copy records the source run\'s start');
  const c2 = await copyPoint(A, await unlock(A, p2.pointId), B, { compressionLevel: 3, resolver: fixedResolver('pw'), kdf: TEST_KDF });
  assert.is(c2.stats.filesChanged, 1);
  assert.equal(await restoredX(B, c2.pointId, 'c2'), a2!, 'the copy of the second point holds what it holds');
  // A backup continuing the series from a copy judges the copied mtimes the same way.
  const C = await Repository.init(new MemoryStorage(), { chunker: SMALL_CHUNKER });
  await copyPoint(A, await unlock(A, p1.pointId), C, { compressionLevel: 3, resolver: fixedResolver('pw'), kdf: TEST_KDF });
  const live = await backup(C, await fsSource([src]), opts);
  assert.is(live.stats.filesChanged, 1);
  assert.equal(await restoredX(C, live.pointId, 'live'), a2!);
});

test('bunker copy: directory to directory, the copy restores byte for byte with the target password', async () => {
  await using dir = await tempDir('bunker-copy-');
  const data = join(dir.path, 'data');
  await writeTree(data, { 'a.txt': `${MARKER}\n`, 'sub/b.bin': pseudoRandomBytes(50_000, 9), 'sub/link': { link: '../a.txt' } });
  const r1 = join(dir.path, 'r1');
  const r2 = join(dir.path, 'r2');
  const pw1 = join(dir.path, 'pw1');
  const pw2 = join(dir.path, 'pw2');
  await writeFile(pw1, 'first password\n', { mode: 0o600 });
  await writeFile(pw2, 'second password\n', { mode: 0o600 });
  const env = { BUNKER_HOME: join(dir.path, 'home') };
  const made = await runCli(['backup', data, '--repo', r1, '--password-file', pw1, '--kdf', TEST_KDF_FLAG, '--json'], { env });
  assert.is(made.code, 0, made.stderr);
  const copied = await runCli(['copy', 'latest', '--from', r1, '--to', r2, '--password-file', pw1, '--to-password-file', pw2, '--json'], { env });
  assert.is(copied.code, 0, copied.stderr);
  const result = JSON.parse(copied.stdout) as { pointId: string; sourcePointId: string };
  assert.is(result.sourcePointId, (JSON.parse(made.stdout) as { pointId: string }).pointId);
  const wrong = await runCli(['restore', result.pointId, '--repo', r2, '--target', join(dir.path, 'nope'), '--password-file', pw1], { env });
  assert.is(wrong.code, 4, 'the source password does not open the copy');
  const out = await runCli(['restore', result.pointId, '--repo', r2, '--target', join(dir.path, 'out'), '--password-file', pw2], { env });
  assert.is(out.code, 0, out.stderr);
  assert.equal(await snapshotTree(join(dir.path, 'out', 'data')), await snapshotTree(data));
});

test.run();
