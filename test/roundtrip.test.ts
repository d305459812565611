/** Backup → restore round trips through the real file system: exact bytes, modes, times, links. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, readdir, writeFile, utimes, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, symlinkSync } from 'node:fs';
import { backup, BunkerError, bytesReader, dumpFile, findFiles, listDirectory, pointListing, restore, type Source, type SourceEntry } from '../core/mod.ts';
import { toHex } from '../core/format/bytes.ts';
import { racyFrom } from '../core/backup.ts';
import type { PointRecord } from '../core/repo/recovery-point.ts';
import { fsSource } from '../core/host/fs-source.ts';
import { DirectoryRestoreSink } from '../core/host/fs-restore-sink.ts';
import { fixedResolver, memoryRepo, pseudoRandomBytes, RUNTIME, SMALL_CHUNKER, tempDir, TEST_KDF } from './helpers.ts';
import { ageTree, snapshotTree, writeTree } from './tree.ts';

const PASSWORD = 'correct horse battery staple';
const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 0);

async function backupAndRestore(spec: Parameters<typeof writeTree>[1], options: { encrypt?: boolean; include?: string[] } = {}) {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  await mkdir(src);
  await writeTree(src, spec);
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const result = await backup(repo, await fsSource([src]), { series: 'default', encrypt: options.encrypt ?? true, compressionLevel: 3, resolver: fixedResolver(PASSWORD), kdf: TEST_KDF });
  const point = await repo.unlock(await repo.resolvePoint('latest'), fixedResolver(PASSWORD));
  // Both ways of writing: on the file-writer thread (the default) and inline.
  const restored = [];
  for (const writerThread of [true, false]) {
    const target = join(dir.path, writerThread ? 'out' : 'out-inline');
    await restore(repo, point, new DirectoryRestoreSink(target, { writerThread }), options.include ? { include: options.include } : {});
    restored.push({ after: await snapshotTree(join(target, 'src')).catch(() => ({}) as Awaited<ReturnType<typeof snapshotTree>>), targetEntries: await readdir(target) });
  }
  assert.equal(restored[1], restored[0], 'the writer thread and inline writes restore the same tree');
  return { before: await snapshotTree(src), ...restored[0]!, result };
}

test('empty file, 1-byte file, empty directory, nested directories', async () => {
  const { before, after, targetEntries } = await backupAndRestore({
    'empty': '',
    'one': 'x',
    'a/b/c/deep.txt': 'deep',
    'void': { dir: true },
  });
  assert.equal(after, before);
  assert.equal(targetEntries, ['src'], 'no staging directory is left behind');
});

test('files across chunk boundaries and larger than the maximum chunk', async () => {
  const spec: Record<string, Uint8Array> = {};
  for (const size of [1023, 1024, 1025, 4095, 4096, 4097, 16383, 16384, 16385, 100_000, 300_001]) spec[`f${size}`] = pseudoRandomBytes(size, size);
  spec['text'] = new TextEncoder().encode('line of text\n'.repeat(20_000));
  const { before, after, result } = await backupAndRestore(spec);
  assert.equal(after, before);
  assert.ok(result.stats.chunksNew > 30, `expected many chunks, got ${result.stats.chunksNew}`);
});

test('large files whose directory is queued on the writer thread behind many small files', async () => {
  // Restore writes files over 1 MiB itself, and small files and directories on the writer
  // thread: each large file waits for its own directory there, made in order with the rest.
  const spec: Record<string, Uint8Array | string> = {};
  for (let i = 0; i < 200; i++) spec[`small/d${i % 7}/f${i}`] = `small ${i}`;
  spec['late/deep/big.bin'] = pseudoRandomBytes(1_500_000, 5);
  for (let i = 0; i < 70; i++) spec[`later/f${i}`] = `after ${i}`;
  spec['later/sub/big2.bin'] = pseudoRandomBytes(1_200_000, 6);
  spec['top-big.bin'] = pseudoRandomBytes(1_100_000, 7);
  const { before, after } = await backupAndRestore(spec);
  assert.equal(after, before);
});

test('a source whose walk fails part-way fails the backup, and no point is written', async () => {
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const source: Source = {
    sources: ['/mem'],
    host: 'test',
    async *entries() {
      yield { path: 'd', type: 'dir', mode: 0o755, mtimeMs: 1_700_000_000_000, size: 0 };
      for (let i = 0; i < 20; i++) yield { path: `d/f${i}`, type: 'file', mode: 0o644, mtimeMs: 1_700_000_000_000, size: 5, open: async () => bytesReader(new TextEncoder().encode(`f${i}!!`)) };
      throw new Error('listing failed: input/output error');
    },
  };
  const error = await backup(repo, source, { series: 's', encrypt: false, compressionLevel: 3 }).then(() => undefined, (e: unknown) => e);
  assert.match(String(error), 'input/output error');
  assert.equal(await repo.listPoints(), []);
});

test('unicode and odd names', async () => {
  const { before, after } = await backupAndRestore({
    'héllo wörld.txt': 'accents',
    '日本語/ファイル.txt': 'cjk',
    'emoji 🎉.bin': 'party',
    'back\\slash': 'bs',
    'new\nline': 'nl',
    ' leading space': 'sp',
    '-dash': 'dash',
    '.hidden': 'dot',
    'quote"s\'': 'q',
  });
  assert.equal(after, before);
});

test('symlinks (relative, absolute, dangling, to a directory) come back as links', async () => {
  const { before, after } = await backupAndRestore({
    'target.txt': 'target',
    'rel': { link: 'target.txt' },
    'abs': { link: '/etc/hostname' },
    'dangling': { link: 'does/not/exist' },
    'dir': { dir: true },
    'dirlink': { link: 'dir' },
  });
  assert.equal(after, before);
  assert.is(after['rel']?.target, 'target.txt');
});

test('modes and mtimes (files, read-only files, executables)', async () => {
  const { before, after } = await backupAndRestore({
    'exec.sh': { data: '#!/bin/sh\n', mode: 0o755, mtimeMs: T0 },
    'secret': { data: 'k', mode: 0o600, mtimeMs: T0 + 1000 },
    'readonly': { data: 'r', mode: 0o444, mtimeMs: T0 + 2000 },
  });
  assert.equal(after, before);
  assert.is(after['exec.sh']?.mode, 0o755);
  assert.is(after['readonly']?.mtimeMs, T0 + 2000);
});

test('directory modes and mtimes are restored after their contents', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  await writeTree(src, { 'd/file': 'x' });
  const { chmod } = await import('node:fs/promises');
  await chmod(join(src, 'd'), 0o750);
  await utimes(join(src, 'd'), T0 / 1000, T0 / 1000);
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  await backup(repo, await fsSource([src]), { series: 's', encrypt: false, compressionLevel: 3 });
  await restore(repo, await repo.unlock(await repo.resolvePoint('latest'), undefined), new DirectoryRestoreSink(join(dir.path, 'out')));
  const snap = await snapshotTree(join(dir.path, 'out'), { dirTimes: true });
  assert.equal(snap['src/d'], { type: 'dir', mode: 0o750, mtimeMs: T0 });
});

test('10k small files round trip', async () => {
  const spec: Record<string, string> = {};
  for (let i = 0; i < 10_000; i++) spec[`d${i % 50}/file-${i}.txt`] = `content of file ${i}\n`.repeat(1 + (i % 7));
  const { before, after, result } = await backupAndRestore(spec);
  assert.is(Object.keys(after).length, Object.keys(before).length);
  assert.equal(after, before);
  assert.is(result.stats.files, 10_000);
});

test('unencrypted backups round trip too', async () => {
  const { before, after, result } = await backupAndRestore({ 'a': pseudoRandomBytes(50_000, 7), 'b': 'text' }, { encrypt: false });
  assert.equal(after, before);
  assert.is(result.keySource, 'none');
});

test('--include restores only the chosen subtree (and its parents)', async () => {
  const { after } = await backupAndRestore({ 'keep/a': 'a', 'keep/sub/b': 'b', 'drop/c': 'c', 'top': 't' }, { include: ['src/keep'] });
  assert.equal(Object.keys(after).sort(), ['keep', 'keep/a', 'keep/sub', 'keep/sub/b']);
});

test('second backup of an unchanged tree reads nothing and adds only metadata', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  const spec: Record<string, Uint8Array> = {};
  for (let i = 0; i < 20; i++) spec[`f${i}`] = pseudoRandomBytes(30_000, i + 1);
  await writeTree(src, spec);
  await ageTree(src);
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const options = { series: 'default', encrypt: true, compressionLevel: 3, resolver: fixedResolver(PASSWORD), kdf: TEST_KDF } as const;
  const first = await backup(repo, await fsSource([src]), options);
  const second = await backup(repo, await fsSource([src]), options);
  assert.is(second.parentId, first.pointId);
  assert.is(second.stats.filesUnchanged, 20);
  assert.is(second.stats.bytesRead, 0);
  assert.is(second.stats.chunksNew, 0);
  // Only the index (empty), manifest and FSI of the new point: a few KiB against 600 KB of data.
  assert.ok(second.stats.bytesAdded < 8192, `unchanged rerun added ${second.stats.bytesAdded} bytes`);
});

test('a file rewritten at the same size and mtime is read again when that mtime is near the parent run (racy), trusted when older', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  const [a1, a2, b1, b2] = [1, 2, 3, 4].map((seed) => pseudoRandomBytes(30_000, seed));
  // Large enough to be read in the main loop rather than ahead by read-ahead: both paths decide.
  const [l1, l2] = [5, 6].map((seed) => pseudoRandomBytes(1_500_000, seed));
  await writeTree(src, { recent: a1!, old: b1!, large: l1! });
  // "recent": an mtime in the second before the run starts (a file system's clock may be that
  // coarse); "old": an hour before it.
  const recentS = Math.floor(Date.now() / 1000);
  const oldS = recentS - 3600;
  await utimes(join(src, 'recent'), recentS, recentS);
  await utimes(join(src, 'old'), oldS, oldS);
  await utimes(join(src, 'large'), recentS, recentS);
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const options = { series: 'default', encrypt: true, compressionLevel: 3, resolver: fixedResolver(PASSWORD), kdf: TEST_KDF } as const;
  await backup(repo, await fsSource([src]), options);
  // Rewritten in place (same inode), same size, the mtime put back: only the content differs.
  await writeFile(join(src, 'recent'), a2!);
  await writeFile(join(src, 'old'), b2!);
  await writeFile(join(src, 'large'), l2!);
  await utimes(join(src, 'recent'), recentS, recentS);
  await utimes(join(src, 'old'), oldS, oldS);
  await utimes(join(src, 'large'), recentS, recentS);
  const second = await backup(repo, await fsSource([src]), options);
  assert.equal([second.stats.filesChanged, second.stats.filesUnchanged, second.stats.bytesRead], [2, 1, 1_530_000]);
  const out = join(dir.path, 'out');
  await restore(repo, await repo.unlock(await repo.resolvePoint('latest'), fixedResolver(PASSWORD)), new DirectoryRestoreSink(out));
  assert.equal(new Uint8Array(await readFile(join(out, 'src', 'recent'))), a2!, 'the racy file was read again');
  assert.equal(new Uint8Array(await readFile(join(out, 'src', 'large'))), l2!, 'the large racy file too');
  // The rule's limit, as for restic: an old mtime put back by hand hides a change.
  assert.equal(new Uint8Array(await readFile(join(out, 'src', 'old'))), b1!);
});

test('the parent run\'s start: stats.startedAt, else createdAt - durationMs; an unusable one trusts no mtime', () => {
  const point = (createdAt: unknown, durationMs: unknown, startedAt?: unknown) => ({ body: { createdAt, stats: { durationMs, ...(startedAt === undefined ? {} : { startedAt }) } } }) as unknown as PointRecord;
  const created = Date.parse('2026-11-29T10:00:00.000Z');
  assert.is(racyFrom(point('2026-11-29T10:00:00.000Z', 1500)), created - 1500 - 2000, 'a point from before startedAt');
  assert.is(racyFrom(point('2026-11-29T10:00:00.000Z', 1500, created - 60_000)), created - 60_000 - 2000, 'a copy: its source run\'s start');
  assert.is(racyFrom(point('2026-11-29T10:00:00.000Z', 10, 'soon')), created - 10 - 2000, 'a startedAt that is no number falls back');
  // Unusable: the start is taken as 1970, and no mtime since is trusted.
  for (const [createdAt, durationMs, startedAt] of [['not a date', 10], ['2026-11-29T10:00:00.000Z', -1], ['2026-11-29T10:00:00.000Z', '10'], ['2026-11-29T10:00:00.000Z', undefined], [undefined, 10], ['2026-11-29T10:00:00.000Z', 10, -5]]) {
    assert.is(racyFrom(point(createdAt, durationMs, startedAt)), -2000, `${createdAt} / ${durationMs} / ${startedAt}`);
  }
});

test('a changed byte in a large file adds only the chunks whose cuts it changed', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  const original = pseudoRandomBytes(400_000, 42);
  const big = original.slice();
  await writeTree(src, { big });
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const options = { series: 'default', encrypt: true, compressionLevel: 3, resolver: fixedResolver(PASSWORD), kdf: TEST_KDF } as const;
  const first = await backup(repo, await fsSource([src]), options);
  big[200_000] = big[200_000]! ^ 0xff;
  await writeFile(join(src, 'big'), big);
  const second = await backup(repo, await fsSource([src]), options);
  assert.is(second.stats.filesChanged, 1);
  const point = await repo.unlock(await repo.resolvePoint('latest'), fixedResolver(PASSWORD));
  // The gear table is the series' secret, so how many cuts one byte moves varies from series
  // to series (usually one chunk, a few in ~1% of series): the expected count comes from the
  // series' own chunker.
  const pieces = (data: Uint8Array): string[] => {
    const out: string[] = [];
    for (let start = 0; start < data.length;) {
      const cut = point.series.chunker.nextCut(data, start, data.length, true);
      out.push(toHex(data.subarray(start, start + cut)));
      start += cut;
    }
    return out;
  };
  const before = pieces(original);
  const after = pieces(big);
  const expected = new Set(after.filter((piece) => !before.includes(piece))).size;
  assert.is(first.stats.chunksNew, new Set(before).size);
  assert.ok(expected >= 1, "the chunk holding the changed byte is new");
  assert.is(second.stats.chunksNew, expected);
  const out = join(dir.path, 'out');
  await restore(repo, point, new DirectoryRestoreSink(out));
  assert.equal(new Uint8Array(await readFile(join(out, 'src', 'big'))), big);
});

test('a rerun: a path that was a directory or a link and is a file now is changed, not new; paths with different lone surrogates stay apart', async () => {
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const text = (s: string) => async () => bytesReader(new TextEncoder().encode(s));
  const entry = (path: string, type: SourceEntry['type'], inode: number, more: Partial<SourceEntry> = {}): SourceEntry =>
    ({ path, type, mode: 0o644, mtimeMs: 1_700_000_000_000, size: 0, inode, ...more });
  const file = (path: string, inode: number, body: string): SourceEntry => entry(path, 'file', inode, { size: body.length, open: text(body) });
  const run = (then: 'before' | 'after'): Source => ({
    sources: ['/mem'],
    host: 'test',
    async *entries() {
      yield entry('r', 'dir', 1);
      yield file('r/a\uD800', 2, 'first');
      yield file('r/a\uDC00', 3, 'other');
      yield then === 'before' ? entry('r/x', 'dir', 4) : file('r/x', 4, 'x is a file now');
      yield then === 'before' ? entry('r/y', 'symlink', 5, { target: 'x' }) : file('r/y', 5, 'y too');
    },
  });
  const options = { series: 's', encrypt: false, compressionLevel: 3 } as const;
  await backup(repo, run('before'), options);
  const second = await backup(repo, run('after'), options);
  assert.equal(
    { unchanged: second.stats.filesUnchanged, changed: second.stats.filesChanged, new: second.stats.filesNew },
    { unchanged: 2, changed: 2, new: 0 },
  );
  const point = await repo.unlock(await repo.resolvePoint('latest'), undefined);
  for (const [path, body] of [['r/a\uD800', 'first'], ['r/a\uDC00', 'other'], ['r/x', 'x is a file now']]) {
    const chunks: Uint8Array[] = [];
    await dumpFile(repo, point, path!, async (c) => void chunks.push(c.slice()));
    assert.is(new TextDecoder().decode(await new Blob(chunks as BlobPart[]).arrayBuffer()), body, path);
  }
});

test('a file that shrinks while read is recorded as read, one that vanishes is left out; the rest keeps its order', async () => {
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const big = pseudoRandomBytes(100_000, 31);
  const file = (path: string, size: number, open: SourceEntry['open']): SourceEntry => ({ path, type: 'file', mode: 0o644, mtimeMs: 1_700_000_000_000, size, open });
  const source: Source = {
    sources: ['/mem'],
    host: 'test',
    async *entries() {
      yield { path: 'd', type: 'dir', mode: 0o755, mtimeMs: 1_700_000_000_000, size: 0 };
      yield file('d/shrunk', 200_000, async () => bytesReader(big)); // listed at 200 kB, 100 kB by the time it is read
      yield file('d/vanished', 10, async () => {
        throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
      });
      yield file('d/after', 5, async () => bytesReader(new TextEncoder().encode('after')));
    },
  };
  const warnings: string[] = [];
  const result = await backup(repo, source, { series: 's', encrypt: false, compressionLevel: 3, onWarning: (w) => void warnings.push(w) });
  assert.is(result.stats.files, 2);
  assert.is(result.stats.filesNew, 2, 'the file left out is not counted as new');
  assert.is(result.stats.bytes, 100_005);
  assert.equal(warnings.length, 2, warnings.join('\n'));
  assert.match(warnings[0]!, 'd/shrunk changed while it was read (200000 → 100000 bytes)');
  assert.match(warnings[1]!, 'could not read d/vanished');
  const point = await repo.unlock(await repo.resolvePoint('latest'), undefined);
  const entries = (await repo.readManifest(point)).entries;
  assert.equal(entries.map((e) => [e.path, e.size]), [['d', 0], ['d/shrunk', 100_000], ['d/after', 5]]);
  const chunks: Uint8Array[] = [];
  await dumpFile(repo, point, 'd/shrunk', async (c) => void chunks.push(c.slice()));
  assert.equal(new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer()), big);
  assert.equal((await repo.readFsi(point))!.map((e) => [e.path, e.size]), [['d', 0], ['d/shrunk', 100_000], ['d/after', 5]]);
});

test('a failure on the file-writer thread fails the restore and leaves the target as it was', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  await writeTree(src, { 'd/a.txt': 'alpha', 'd/b.txt': 'beta', 'z.txt': 'zeta' });
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  await backup(repo, await fsSource([src]), { series: 'default', encrypt: false, compressionLevel: 3 });
  const point = await repo.unlock(await repo.resolvePoint('latest'), undefined);
  const target = join(dir.path, 'out');
  await mkdir(target);
  await writeFile(join(target, 'keep.txt'), 'mine');
  const before = await snapshotTree(target);
  // Something already at the staged path of src/d/b.txt: the writer thread's O_EXCL create fails.
  class Obstructed extends DirectoryRestoreSink {
    override async begin(): Promise<void> {
      await super.begin();
      const staging = (await readdir(target)).find((name) => name.startsWith('.bunker-restore-'))!;
      await mkdir(join(target, staging, 'src', 'd', 'b.txt'), { recursive: true });
    }
  }
  const error = await restore(repo, point, new Obstructed(target)).then(() => undefined, (e: unknown) => e);
  assert.is((error as BunkerError)?.code, 'TARGET_FAILED');
  assert.match(String((error as Error)?.message), /EEXIST|EISDIR|exists/);
  assert.equal(await snapshotTree(target), before, 'no staging directory, no restored file');
});

/** A small tree (src/d/f) backed up unencrypted into a memory repository under `series`, and its point. */
async function smallTreePoint(dir: string, series: string) {
  const src = join(dir, 'src');
  await writeTree(src, { 'd/f': 'x' });
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  await backup(repo, await fsSource([src]), { series, encrypt: false, compressionLevel: 3 });
  return { repo, point: await repo.unlock(await repo.resolvePoint('latest', series), undefined) };
}

test('owners: recorded from the file system; a restore as root gives them back with their set-id bits, drops set-id bits it has no owner for; as anyone else, it owns all', async () => {
  await using dir = await tempDir();
  const { repo, point: fromFiles } = await smallTreePoint(dir.path, 'fs');
  const recorded = (await repo.readManifest(fromFiles)).entries;
  const me = { uid: process.geteuid!(), gid: process.getegid!() };
  assert.equal(recorded.map((e) => [e.path, e.uid, e.gid]), ['src', 'src/d', 'src/d/f'].map((p) => [p, me.uid, me.gid]), 'lstat\'s owner and group');

  const OTHER = { uid: 4321, gid: 8765 };
  const big = pseudoRandomBytes(1_500_000, 8);
  const entries: SourceEntry[] = [
    { path: 'o', type: 'dir', mode: 0o2775, mtimeMs: T0, size: 0, ...OTHER },
    { path: 'o/suid', type: 'file', mode: 0o4755, mtimeMs: T0, size: 1, ...OTHER, open: async () => bytesReader(new Uint8Array([1])) },
    { path: 'o/big', type: 'file', mode: 0o6750, mtimeMs: T0, size: big.length, ...OTHER, open: async () => bytesReader(big) },
    { path: 'o/link', type: 'symlink', mode: 0o777, mtimeMs: T0, size: 0, ...OTHER, target: 'suid' },
    { path: 'o/mine', type: 'file', mode: 0o4700, mtimeMs: T0, size: 1, ...me, open: async () => bytesReader(new Uint8Array([2])) },
    // No owner recorded (a tar upload, an older point).
    { path: 'o/nobody-knows', type: 'file', mode: 0o4755, mtimeMs: T0, size: 1, open: async () => bytesReader(new Uint8Array([3])) },
    { path: 'o/nobody-knows-big', type: 'file', mode: 0o2755, mtimeMs: T0, size: big.length, open: async () => bytesReader(big) },
  ];
  await backup(repo, { sources: ['/m'], host: 'h', async *entries() { yield* entries; } }, { series: 'owners', encrypt: false, compressionLevel: 3 });
  const point = await repo.unlock(await repo.resolvePoint('latest', 'owners'), undefined);
  const asRoot = me.uid === 0;
  for (const writerThread of [true, false]) {
    const target = join(dir.path, `out-${writerThread}`);
    const warnings: string[] = [];
    await restore(repo, point, new DirectoryRestoreSink(target, { writerThread, onWarning: (m) => void warnings.push(m) }));
    const got = Object.fromEntries(entries.map((e) => {
      const st = lstatSync(join(target, e.path));
      return [e.path, { uid: st.uid, gid: st.gid, ...(e.type === 'symlink' ? {} : { mode: st.mode & 0o7777 }) }];
    }));
    const owner = (e: SourceEntry) => (asRoot && e.uid !== undefined ? { uid: e.uid, gid: e.gid! } : me);
    const mode = (e: SourceEntry) => (asRoot && e.uid === undefined && e.type === 'file' ? e.mode & ~0o6000 : e.mode);
    const expected = Object.fromEntries(entries.map((e) => [e.path, { ...owner(e), ...(e.type === 'symlink' ? {} : { mode: mode(e) }) }]));
    assert.equal(got, expected, `as ${asRoot ? 'root' : `uid ${me.uid}`}, writer thread ${writerThread}`);
    assert.equal(warnings.length, asRoot ? 1 : 0, warnings.join('\n'));
    if (asRoot) assert.match(warnings[0]!, /^2 files have set-user-id or set-group-id bits and no recorded owner/);
  }
});

test('as root: a target another user can change is refused; a set-group-id target does not pass its group to entries recorded as root\'s', async () => {
  await using dir = await tempDir();
  const { repo, point } = await smallTreePoint(dir.path, 's');
  const asRoot = process.geteuid!() === 0;
  const theirs = join(dir.path, 'theirs');
  await mkdir(theirs);
  const groupWritable = join(dir.path, 'group-writable');
  await mkdir(groupWritable);
  const merged = join(dir.path, 'merged');
  await mkdir(join(merged, 'src'), { recursive: true });
  if (asRoot) {
    chownSync(theirs, 4321, 4321);
    chownSync(groupWritable, 0, 4321);
    chmodSync(groupWritable, 0o775);
    chownSync(join(merged, 'src'), 4321, 4321);
  }
  for (const target of [theirs, groupWritable, merged]) {
    const error = await restore(repo, point, new DirectoryRestoreSink(target)).then(() => undefined, (e: unknown) => e);
    if (asRoot) {
      assert.is((error as BunkerError)?.code, 'USAGE', target);
      assert.match((error as Error).message, 'can be changed by another user');
      assert.equal((await readdir(target)).filter((n) => n !== 'src'), [], `${target}: nothing written`);
    } else {
      assert.is(error, undefined, `${target}: a restore by its own user`);
    }
  }
  // Set-group-id, not group-writable: entries recorded as root's come back root's, not the group's.
  const setgid = join(dir.path, 'setgid');
  await mkdir(setgid);
  if (asRoot) chownSync(setgid, 0, 4321);
  chmodSync(setgid, 0o2755);
  await restore(repo, point, new DirectoryRestoreSink(setgid));
  for (const path of ['src', 'src/d', 'src/d/f']) assert.is(lstatSync(join(setgid, path)).gid, process.getegid!(), path);
});

test('a target the system refuses is TARGET_FAILED, naming the target and the reason, with nothing left behind', async () => {
  await using dir = await tempDir();
  // A name longer than any file system takes (255 bytes): open() and mkdir() fail with ENAMETOOLONG.
  const long = 'n'.repeat(300);
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const tree = (name: string, data: Uint8Array) => ({
    sources: ['/m'], host: 'h',
    async *entries(): AsyncGenerator<SourceEntry> {
      yield { path: 'top', type: 'dir', mode: 0o755, mtimeMs: T0, size: 0 };
      yield { path: 'top/ok', type: 'file', mode: 0o644, mtimeMs: T0, size: 2, open: async () => bytesReader(new Uint8Array([1, 2])) };
      yield { path: `top/${name}`, type: 'file', mode: 0o644, mtimeMs: T0, size: data.length, open: async () => bytesReader(data) };
    },
  }) satisfies Source;
  const cases = {
    'a small file, on the writer thread': { series: 'small', data: new Uint8Array([7]), writerThread: true },
    'a small file, inline': { series: 'small', data: new Uint8Array([7]), writerThread: false },
    'a large file, streamed': { series: 'large', data: pseudoRandomBytes(1_500_000, 3), writerThread: true },
  };
  for (const { series, data } of Object.values(cases)) {
    if ((await repo.listPoints(series)).length === 0) await backup(repo, tree(long, data), { series, encrypt: false, compressionLevel: 3 });
  }
  for (const [name, { series, writerThread }] of Object.entries(cases)) {
    const point = await repo.unlock(await repo.resolvePoint('latest', series), undefined);
    const target = join(dir.path, `out-${series}-${writerThread}`);
    await mkdir(target);
    const error = await restore(repo, point, new DirectoryRestoreSink(target, { writerThread })).then(() => undefined, (e: unknown) => e);
    assert.instance(error, BunkerError, name);
    assert.is((error as BunkerError).code, 'TARGET_FAILED', name);
    assert.match((error as Error).message, `cannot restore into ${target}: ENAMETOOLONG`, name);
    assert.equal(await readdir(target), [], `${name}: nothing left in the target`);
  }
  // A target below a file: refused while planning, before anything is read.
  await writeFile(join(dir.path, 'a-file'), 'x');
  const point = await repo.unlock(await repo.resolvePoint('latest', 'small'), undefined);
  const below = join(dir.path, 'a-file', 'sub');
  const error = await restore(repo, point, new DirectoryRestoreSink(below)).then(() => undefined, (e: unknown) => e);
  assert.is((error as BunkerError)?.code, 'TARGET_FAILED');
  assert.match((error as Error).message, `cannot restore into ${below}: ENOTDIR`);
});

test('dump, ls and find read one point', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'etc');
  await writeTree(src, { 'a.conf': 'alpha', 'sub/b.conf': 'beta', 'sub/c.txt': 'gamma' });
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  await backup(repo, await fsSource([src]), { series: 'default', encrypt: true, compressionLevel: 3, resolver: fixedResolver(PASSWORD), kdf: TEST_KDF });
  const point = await repo.unlock(await repo.resolvePoint('latest'), fixedResolver(PASSWORD));
  const chunks: Uint8Array[] = [];
  await dumpFile(repo, point, 'etc/sub/b.conf', async (c) => void chunks.push(c));
  assert.is(new TextDecoder().decode(chunks[0]), 'beta');
  assert.equal(listDirectory(await pointListing(repo, point), 'etc').map((e) => e.path), ['etc/a.conf', 'etc/sub']);
  const found = await findFiles(repo, '*.conf', { resolver: fixedResolver(PASSWORD) });
  assert.equal(found.map((m) => m.entry.path), ['etc/a.conf', 'etc/sub/b.conf']);
  assert.equal((await findFiles(repo, 'etc/sub/**', { resolver: fixedResolver(PASSWORD) })).map((m) => m.entry.path), ['etc/sub', 'etc/sub/b.conf', 'etc/sub/c.txt']);
});

test('a source given with a trailing slash that is a link is followed (as tar and rsync do); a restore target that is a link to a directory is used', async () => {
  await using dir = await tempDir();
  const real = join(dir.path, 'real');
  await writeTree(real, { 'a.txt': 'alpha', 'sub/b.txt': 'beta' });
  const link = join(dir.path, 'link');
  symlinkSync(real, link);
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const paths = async (series: string) => (await repo.readManifest(await repo.unlock(await repo.resolvePoint('latest', series), undefined))).entries.map((e) => `${e.type} ${e.path}`);
  await backup(repo, await fsSource([link]), { series: 'plain', encrypt: false, compressionLevel: 3 });
  assert.equal(await paths('plain'), ['symlink link'], 'without the slash: the link itself');
  await backup(repo, await fsSource([`${link}/`]), { series: 'slash', encrypt: false, compressionLevel: 3 });
  assert.equal(await paths('slash'), ['dir link', 'file link/a.txt', 'dir link/sub', 'file link/sub/b.txt'], 'with it: what it points to, under its name');
  const elsewhere = join(dir.path, 'elsewhere');
  await mkdir(elsewhere);
  const target = join(dir.path, 'target-link');
  symlinkSync(elsewhere, target);
  await restore(repo, await repo.unlock(await repo.resolvePoint('latest', 'slash'), undefined), new DirectoryRestoreSink(target));
  assert.equal(await readFile(join(elsewhere, 'link', 'sub', 'b.txt'), 'utf8'), 'beta');
  assert.ok(lstatSync(target).isSymbolicLink(), 'the target link is left as it was');
});

test('excludes skip matching names anywhere and matching paths', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  await writeTree(src, { 'keep.txt': 'k', 'x.tmp': 't', 'deep/y.tmp': 't', 'cache/blob': 'c', 'deep/cache/kept': 'k' });
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  await backup(repo, await fsSource([src], { exclude: ['*.tmp', 'src/cache'] }), { series: 'd', encrypt: false, compressionLevel: 3 });
  const listing = await pointListing(repo, await repo.unlock(await repo.resolvePoint('latest'), undefined));
  assert.equal(listing.map((e) => e.path), ['src', 'src/deep', 'src/deep/cache', 'src/deep/cache/kept', 'src/keep.txt']);
  // An absolute path (or pattern) under a root excludes what it names there.
  await backup(repo, await fsSource([src], { exclude: [join(src, 'cache'), `${join(src, 'deep')}/*.tmp`] }), { series: 'abs', encrypt: false, compressionLevel: 3 });
  const absolute = await pointListing(repo, await repo.unlock(await repo.resolvePoint('latest', 'abs'), undefined));
  assert.equal(absolute.map((e) => e.path), ['src', 'src/deep', 'src/deep/cache', 'src/deep/cache/kept', 'src/keep.txt', 'src/x.tmp']);
  // A root itself, written as an absolute path, is that root, not its name anywhere; a trailing
  // slash or a doubled one changes nothing.
  const other = join(dir.path, 'other');
  await writeTree(other, { 'src/nested.txt': 'n' });
  await backup(repo, await fsSource([src, other], { exclude: [`${join(src, 'deep')}/`, `${dir.path}//src`] }), { series: 'roots', encrypt: false, compressionLevel: 3 });
  const roots = await pointListing(repo, await repo.unlock(await repo.resolvePoint('latest', 'roots'), undefined));
  assert.equal(roots.map((e) => e.path), ['other', 'other/src', 'other/src/nested.txt']);
  // One under none of them is a mistake, said before anything is read.
  const error = await fsSource([src], { exclude: ['/elsewhere/cache'] }).then(() => undefined, (e: unknown) => e);
  assert.is((error as BunkerError)?.code, 'USAGE');
  assert.match((error as Error).message, '--exclude /elsewhere/cache is an absolute path under none of the paths backed up');
});

test('times before 1970 restore: to the millisecond on Node (back to 1901), to the second on Deno, whatever path writes the entry', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  await mkdir(join(src, 'old'), { recursive: true });
  await writeFile(join(src, 'old', 'f'), 'small');
  await writeFile(join(src, 'old', 'g'), 'small too');
  await writeFile(join(src, 'old', 'big'), pseudoRandomBytes(3 * 1024 * 1024, 5));
  symlinkSync('f', join(src, 'old', 'link'));
  // touch(1) sets nanoseconds and, with -h, a link's own time; utimes() takes neither.
  const times = { 'old/f': '@-1.000000001', 'old/g': '@-86400.25', 'old/big': '@-100.125', 'old/link': '@-2.75', old: '@-5.5' } as const;
  for (const [path, time] of Object.entries(times)) {
    const touched = spawnSync('touch', ['-h', '-m', '-d', time, join(src, path)]);
    assert.is(touched.status, 0, String(touched.stderr));
  }
  const recorded = { 'old/f': -1000, 'old/g': -86400250, 'old/big': -100125, 'old/link': -2750, old: -5500 };
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  await backup(repo, await fsSource([src]), { series: 's', encrypt: false, compressionLevel: 3 });
  const point = await repo.unlock(await repo.resolvePoint('latest'), undefined);
  const manifest = await repo.readManifest(point);
  assert.equal(Object.fromEntries(manifest.entries.filter((e) => e.path.startsWith('src/old')).map((e) => [e.path.slice(4), e.mtimeMs])), recorded, 'recorded');
  const expected = Object.fromEntries(Object.entries(recorded).map(([path, ms]) => [path, RUNTIME === 'deno' ? Math.trunc(ms / 1000) * 1000 : ms]));
  for (const writerThread of [true, false]) {
    const target = join(dir.path, `out-${writerThread}`);
    await restore(repo, point, new DirectoryRestoreSink(target, { writerThread }));
    const restored = Object.fromEntries(Object.keys(recorded).map((path) => [path, Number(lstatSync(join(target, 'src', path), { bigint: true }).mtimeNs / 1_000_000n)]));
    assert.equal(restored, expected, `restored, writer thread ${writerThread}`);
  }
});

test.run();
