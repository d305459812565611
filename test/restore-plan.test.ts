/**
 * A restore reads the manifest twice and keeps no entry: once to check and plan (the sink sees
 * every entry before anything is written), once to write. What that must preserve: the order,
 * --include, NOT_FOUND before anything is made, merging into a target that already holds part
 * of the tree, and a target changed during the restore.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmod, readdir, readFile, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { backup, isBunkerError, type ManifestEntry, restore } from '../core/mod.ts';
import { PACE_ENTRIES } from '../core/restore.ts';
import { fsSource } from '../core/host/fs-source.ts';
import { DirectoryRestoreSink } from '../core/host/fs-restore-sink.ts';
import { tee } from '../core/tee.ts';
import { memoryRepo, pseudoRandomBytes, RUNTIME, SMALL_CHUNKER, tempDir } from './helpers.ts';
import { nativeMetadataZstd } from '../core/host/worker-codec-pool.ts';
import { MemorySink, memorySource, type TreeEntry } from './bad-input-kit.ts';
import { snapshotTree, writeTree } from './tree.ts';

const T_DIR = Date.UTC(2023, 5, 6, 7, 8, 9);

/** A directory sink into `target` that finds `tree` written there by someone else once it has begun: a race with the restore. */
function racingSink(target: string, tree: Parameters<typeof writeTree>[1]): DirectoryRestoreSink {
  return new (class extends DirectoryRestoreSink {
    override async begin(): Promise<void> {
      await super.begin();
      await writeTree(target, tree);
    }
  })(target);
}

async function pointOf(root: string, spec: Parameters<typeof writeTree>[1], prepare?: (src: string) => Promise<void>) {
  const src = join(root, 'src');
  await writeTree(src, spec);
  await prepare?.(src);
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  await backup(repo, await fsSource([src]), { series: 'default', encrypt: false, compressionLevel: 3 });
  return { repo, point: await repo.unlock(await repo.resolvePoint('latest'), undefined), src };
}

test('tee: both readers get every item in order; the one ahead pulls each from the source once', () => {
  let pulled = 0;
  const source = (function* () {
    for (let i = 0; i < 10; i++) {
      pulled++;
      yield i;
    }
  })();
  const [a, b] = tee(source);
  const take = (it: Iterator<number>, n: number) => Array.from({ length: n }, () => it.next()).map((s) => s.done ? 'end' : s.value);
  assert.equal(take(a, 3), [0, 1, 2]);
  assert.is(pulled, 3);
  assert.equal(take(b, 5), [0, 1, 2, 3, 4], 'b gets what a read, then reads ahead itself');
  assert.is(pulled, 5);
  assert.equal(take(a, 8), [3, 4, 5, 6, 7, 8, 9, 'end']);
  assert.equal(take(b, 6), [5, 6, 7, 8, 9, 'end']);
  assert.is(pulled, 10, 'no item pulled twice');
});

test('tee: an item the reader behind does not want is not kept for it; a failure of the source reaches both', () => {
  const source = (function* () {
    yield* [1, 2, 3, 4, 5, 6];
    throw new Error('source broke');
  })();
  const [evens, all] = tee(source, [(n) => n % 2 === 0, () => true]);
  const take = (it: Iterator<number>, n: number) => Array.from({ length: n }, () => it.next()).map((s) => s.done ? 'end' : s.value);
  assert.equal(take(all, 6), [1, 2, 3, 4, 5, 6]);
  assert.equal(take(evens, 3), [2, 4, 6], 'only what it wants, kept while the other read ahead');
  assert.throws(() => all.next(), /source broke/);
  assert.throws(() => evens.next(), /source broke/, 'not a quiet end for the other reader');
});

// Each with the planning scan's entries held for the writes (the default for a point this
// small), and with none held, so that the manifest is scanned again to write.
for (const [held, options] of [['', {}], [' (manifest scanned twice)', { heldManifestBytes: 0 }]] as const) {
  test(`every restored entry is planned, in manifest order, before begin and before any write${held}`, async () => {
    await using dir = await tempDir();
    const { repo, point } = await pointOf(dir.path, { 'a/x': 'x', 'a/b/y': pseudoRandomBytes(50_000, 3), 'c': { link: 'a/x' }, 'd/z': '' });
    const events: string[] = [];
    class Recording extends MemorySink {
      override async plan(entry: ManifestEntry) {
        events.push(`plan ${entry.path}`);
        await super.plan(entry);
      }
      override async begin() {
        events.push('begin');
        await super.begin();
      }
      override async directory(entry: ManifestEntry) {
        events.push(`write ${entry.path}`);
        await super.directory(entry);
      }
      override async symlink(entry: ManifestEntry) {
        events.push(`write ${entry.path}`);
        await super.symlink(entry);
      }
      override async file(entry: ManifestEntry, data: AsyncIterable<Uint8Array>) {
        events.push(`write ${entry.path}`);
        await super.file(entry, data);
      }
    }
    const sink = new Recording();
    await restore(repo, point, sink, options);
    const manifest = (await repo.readManifest(point)).entries.map((e) => e.path);
    assert.equal(events, [...manifest.map((p) => `plan ${p}`), 'begin', ...manifest.map((p) => `write ${p}`)]);
    assert.equal(sink.files.get('src/a/b/y'), pseudoRandomBytes(50_000, 3));
    assert.ok(sink.committed);
  });

  test(`--include plans and writes only the chosen subtrees and their parents${held}`, async () => {
    await using dir = await tempDir();
    const { repo, point } = await pointOf(dir.path, { 'keep/a': 'a', 'keep/sub/b': 'b', 'keepnot/c': 'c', 'other/deep/d': 'd', 'top': 't' });
    const sink = new MemorySink();
    await restore(repo, point, sink, { ...options, include: ['/src/keep/', 'src/other/deep/d'] });
    const wanted = ['src', 'src/keep', 'src/keep/a', 'src/keep/sub', 'src/keep/sub/b', 'src/other', 'src/other/deep', 'src/other/deep/d'];
    assert.equal(sink.planned, wanted, '"keepnot" shares a prefix with "keep" but is not below it');
    assert.equal([...sink.files.keys()].sort(), ['src/keep/a', 'src/keep/sub/b', 'src/other/deep/d']);
  });

  test(`--include of a path the point does not hold: NOT_FOUND, and the target is not even created${held}`, async () => {
    await using dir = await tempDir();
    const { repo, point } = await pointOf(dir.path, { 'a': 'a' });
    const target = join(dir.path, 'out');
    const error = await restore(repo, point, new DirectoryRestoreSink(target), { ...options, include: ['src/a', 'src/missing'] }).then(() => undefined, (e: unknown) => e);
    assert.ok(isBunkerError(error) && error.code === 'NOT_FOUND', String(error));
    assert.match((error as Error).message, '"src/missing" is not in this recovery point');
    assert.equal(await readdir(target).then(() => 'created', () => 'absent'), 'absent');
  });

  test(`a target that already holds part of the tree: directories merged, a file replaced, the rest of the target kept${held}`, async () => {
    await using dir = await tempDir();
    const { repo, point } = await pointOf(dir.path, { 'etc/app.conf': 'new conf', 'etc/new/x': 'x', 'var/log': 'log' }, async (src) => {
      await chmod(join(src, 'etc'), 0o750);
      await utimes(join(src, 'etc'), T_DIR / 1000, T_DIR / 1000);
      await chmod(src, 0o711);
    });
    const target = join(dir.path, 'out');
    await writeTree(target, { 'src/etc/app.conf': 'old conf', 'src/etc/mine': 'kept', 'elsewhere': 'kept too' });
    await restore(repo, point, new DirectoryRestoreSink(target), options);
    assert.is(await readFile(join(target, 'src/etc/app.conf'), 'utf8'), 'new conf');
    assert.is(await readFile(join(target, 'src/etc/mine'), 'utf8'), 'kept');
    assert.is(await readFile(join(target, 'src/etc/new/x'), 'utf8'), 'x');
    assert.is(await readFile(join(target, 'src/var/log'), 'utf8'), 'log');
    assert.is(await readFile(join(target, 'elsewhere'), 'utf8'), 'kept too');
    const etc = await stat(join(target, 'src/etc'));
    assert.equal([etc.mode & 0o7777, Math.floor(etc.mtimeMs)], [0o750, T_DIR], 'a merged directory gets the point\'s mode and time');
    assert.is((await stat(join(target, 'src'))).mode & 0o7777, 0o711, 'the first directory too');
    assert.equal((await readdir(target)).sort(), ['elsewhere', 'src'], 'no staging directory left');
  });

  test(`directories made in the target during the restore are merged into, as ones that were there before${held}`, async () => {
    await using dir = await tempDir();
    const { repo, point } = await pointOf(dir.path, { 'a/x': 'x', 'b': 'b', 'c/y': 'y', 'c/d/z': 'z' }, async (src) => {
      await chmod(join(src, 'c', 'd'), 0o750);
      await utimes(join(src, 'c', 'd'), T_DIR / 1000, T_DIR / 1000);
    });
    const target = join(dir.path, 'out');
    await writeTree(target, { 'src/mine': 'mine' });
    // src/c and src/c/d appear after planning, which saw src/c absent: not the first entry placed.
    const raced = racingSink(target, { 'src/c/d/theirs': 'theirs' });
    await restore(repo, point, raced, options);
    const files = Object.entries(await snapshotTree(target)).filter(([, e]) => e.type === 'file').map(([path]) => path);
    assert.equal(files.sort(), ['src/a/x', 'src/b', 'src/c/d/theirs', 'src/c/d/z', 'src/c/y', 'src/mine']);
    assert.is(await readFile(join(target, 'src/c/d/z'), 'utf8'), 'z');
    const merged = await stat(join(target, 'src/c/d'));
    assert.equal([merged.mode & 0o7777, Math.floor(merged.mtimeMs)], [0o750, T_DIR], 'a merged directory gets the point\'s mode and time');
    assert.equal((await readdir(target)).sort(), ['src'], 'no staging directory left');
  });

  test(`a link made in the target during the restore where the point has a directory, below a merged one: ALREADY_EXISTS, nothing written through it${held}`, async () => {
    await using dir = await tempDir();
    const { repo, point } = await pointOf(dir.path, { 'c/d/z': 'z' });
    const target = join(dir.path, 'out');
    const outside = join(dir.path, 'outside');
    await writeTree(target, { 'src/mine': 'mine' });
    await writeTree(outside, { 'theirs': 'theirs' });
    const outsideBefore = await snapshotTree(outside, { dirTimes: true });
    const raced = racingSink(target, { 'src/c/d': { link: outside } });
    const error = await restore(repo, point, raced, options).then(() => undefined, (e: unknown) => e);
    assert.ok(isBunkerError(error) && error.code === 'ALREADY_EXISTS', String(error));
    assert.equal(await snapshotTree(outside, { dirTimes: true }), outsideBefore, 'nothing written, moved or set through the link');
    assert.ok(!(await readdir(target)).some((name) => name.startsWith('.bunker-restore-')), 'no staging left');
  });

  test(`a failure of the second pass over the manifest fails the restore; nothing is committed${held}`, async () => {
    await using dir = await tempDir();
    const { repo, point } = await pointOf(dir.path, { 'a': 'a', 'b/c': 'c', 'd': 'd' });
    const openManifest = repo.openManifest.bind(repo);
    repo.openManifest = async (p) => {
      const reader = await openManifest(p);
      let scans = 0;
      return { bytes: reader.bytes, *entries() {
        const second = ++scans === 2;
        let n = 0;
        for (const entry of reader.entries()) {
          if (second && ++n === 3) throw new Error('storage went away');
          yield entry;
        }
        return { version: 1, sources: [], host: '' };
      } };
    };
    const sink = new MemorySink();
    const error = await restore(repo, point, sink, options).then(() => undefined, (e: unknown) => e);
    if (options.heldManifestBytes === 0) {
      assert.match(String((error as Error)?.message), 'storage went away');
      assert.equal([sink.committed, sink.aborted], [false, true]);
    } else {
      assert.is(error, undefined, 'entries held: the manifest is scanned once');
      assert.ok(sink.committed);
    }
  });

  test(`a file made in the target during the restore where the point has a directory: ALREADY_EXISTS${held}`, async () => {
    await using dir = await tempDir();
    const { repo, point } = await pointOf(dir.path, { 'c/y': 'y' });
    const target = join(dir.path, 'out');
    await writeTree(target, { 'src/mine': 'mine' });
    const raced = racingSink(target, { 'src/c': 'a file now' });
    const error = await restore(repo, point, raced, options).then(() => undefined, (e: unknown) => e);
    assert.ok(isBunkerError(error) && error.code === 'ALREADY_EXISTS', String(error));
    assert.match((error as Error).message, 'changed during the restore');
    assert.equal(Object.keys(await snapshotTree(target)).sort(), ['src', 'src/c', 'src/mine'], 'nothing of the point moved; no staging left');
  });
}

/** src/big (3 MiB) and src/z around a run of `dirs` empty directories, before or after src/big. */
async function longRunPoint(dirs: number, dirsFirst: boolean) {
  const big: TreeEntry = { path: 'src/big', type: 'file', data: pseudoRandomBytes(3 << 20, 5) };
  const tree: TreeEntry[] = [{ path: 'src', type: 'dir' }];
  if (!dirsFirst) tree.push(big);
  for (let i = 0; i < dirs; i++) tree.push({ path: `src/e${String(i).padStart(6, '0')}`, type: 'dir' });
  if (dirsFirst) tree.push(big);
  tree.push({ path: 'src/z', type: 'file', data: pseudoRandomBytes(5000, 6) });
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const native = nativeMetadataZstd();
  if (native?.decompressPieces) repo.metadataZstd = native;
  await backup(repo, memorySource(tree), { series: 'default', encrypt: false, compressionLevel: 3 });
  return { repo, point: await repo.unlock(await repo.resolvePoint('latest'), undefined), native };
}

test('reading ahead of the writes, a restore passes few entries, however long a run of directories', async () => {
  const { repo, point } = await longRunPoint(10 * PACE_ENTRIES, false);
  const openManifest = repo.openManifest.bind(repo);
  let pulled = 0;
  repo.openManifest = async (p) => {
    const reader = await openManifest(p);
    return { bytes: reader.bytes, *entries() {
      pulled = 0;
      for (const entry of reader.entries()) {
        pulled++;
        yield entry;
      }
      return { version: 1, sources: [], host: '' };
    } };
  };
  let pulledWhenBigWritten = -1;
  class Watching extends MemorySink {
    override async file(entry: ManifestEntry, data: AsyncIterable<Uint8Array>) {
      await super.file(entry, data);
      if (entry.path === 'src/big') pulledWhenBigWritten = pulled;
    }
  }
  const sink = new Watching();
  await restore(repo, point, sink, { heldManifestBytes: 0 });
  // A pause every PACE_ENTRIES entries; at most 8 reads in flight and one being put together.
  assert.ok(pulledWhenBigWritten >= 2 && pulledWhenBigWritten <= 9 * PACE_ENTRIES + 2, `${pulledWhenBigWritten} entries read past when src/big was written`);
  assert.equal(sink.files.get('src/big'), pseudoRandomBytes(3 << 20, 5));
  assert.equal(sink.files.get('src/z'), pseudoRandomBytes(5000, 6));
  assert.is(sink.dirs.length, 10 * PACE_ENTRIES + 1);
});

test('a restore that fails or is cancelled while writing closes the decoders of its manifest scans', async () => {
  const { repo, point, native } = await longRunPoint(3_000, true);
  if (native?.decompressPieces === undefined) return assert.is(RUNTIME, 'deno', 'Deno reads metadata whole, with the WASM build');
  let open = 0;
  repo.metadataZstd = {
    ...native, compress: native.compress.bind(native), decompress: native.decompress.bind(native),
    *decompressPieces(frame: Uint8Array, size: number) {
      open++;
      try {
        yield* native.decompressPieces!(frame, size);
      } finally {
        open--;
      }
    },
  };
  for (const how of ['write fails', 'cancelled'] as const) {
    const cancel = new AbortController();
    class Failing extends MemorySink {
      override async directory(entry: ManifestEntry) {
        if (entry.path === 'src/e000100') {
          if (how === 'write fails') throw new Error('disk full');
          cancel.abort();
        }
        await super.directory(entry);
      }
    }
    const error = await restore(repo, point, new Failing(), { heldManifestBytes: 0, signal: cancel.signal }).then(() => undefined, (e: unknown) => e);
    assert.is(how === 'cancelled' ? (error as { code?: string })?.code : (error as Error)?.message, how === 'cancelled' ? 'CANCELLED' : 'disk full');
    assert.is(open, 0, `${how}: every decoder closed`);
  }
});

test.run();
