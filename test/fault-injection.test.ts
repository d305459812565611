/**
 * Storage faults during a backup. A wrapper fails the Nth `put` with STORAGE_FAILED — the
 * first pack, a later pack, the run index, the manifest, the FSI, the point itself, and
 * every put in between — and after each:
 * - the backup rejects with STORAGE_FAILED naming the object it could not write;
 * - no new point is visible (`listPoints` unchanged);
 * - `check --read-data` finds no problem; exactly the objects the failed run wrote are
 *   listed as unreferenced;
 * - the next backup succeeds and restores byte for byte.
 * Real faults of the directory backend (a file where a directory must go) are tested too.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backup, type BackupOptions, BunkerError, checkRepository, Repository, restore } from '../core/mod.ts';
import { DirectoryStorage } from '../core/host/directory-storage.ts';
import { MemoryStorage } from '../core/storage/memory.ts';
import type { Storage } from '../core/storage/storage.ts';
import { fixedResolver, pseudoRandomBytes, SMALL_CHUNKER, tempDir, TEST_KDF } from './helpers.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';
import { cloneStorage, MemorySink, memorySource, type TreeEntry } from './bad-input-kit.ts';

const PASSWORD = 'fault injection';
const text = (s: string) => new TextEncoder().encode(s);

/**
 * Wraps a storage and fails chosen `put`s with STORAGE_FAILED. `failWhen(key, n, nOfPrefix)`
 * gets the key, the put's number (1-based) and its number among puts of the same top-level
 * prefix ("packs/", "index/", ...). With `afterWrite`, the object is stored before the
 * failure is reported (a timeout after a successful write).
 */
class FaultyStorage implements Storage {
  readonly puts: string[] = [];
  readonly failed: string[] = [];
  private readonly inner: Storage;
  private readonly failWhen: (key: string, n: number, nOfPrefix: number) => boolean;
  private readonly afterWrite: boolean;

  constructor(inner: Storage, failWhen: (key: string, n: number, nOfPrefix: number) => boolean = () => false, afterWrite = false) {
    this.inner = inner;
    this.failWhen = failWhen;
    this.afterWrite = afterWrite;
  }

  get location(): string {
    return `faulty:${this.inner.location}`;
  }

  async put(key: string, data: Uint8Array): Promise<boolean> {
    const prefix = key.split('/')[0]!;
    const nOfPrefix = this.puts.filter((k) => k.split('/')[0] === prefix).length + 1;
    this.puts.push(key);
    if (this.failWhen(key, this.puts.length, nOfPrefix)) {
      this.failed.push(key);
      if (this.afterWrite) await this.inner.put(key, data);
      throw new BunkerError('STORAGE_FAILED', `injected fault writing ${key}`, { object: key });
    }
    return this.inner.put(key, data);
  }

  get(key: string): Promise<Uint8Array> {
    return this.inner.get(key);
  }
  getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    return this.inner.getRange(key, offset, length);
  }
  has(key: string): Promise<boolean> {
    return this.inner.has(key);
  }
  list(prefix: string): Promise<string[]> {
    return this.inner.list(prefix);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
}

const tree0: TreeEntry[] = [
  { path: 'data', type: 'dir' },
  { path: 'data/old.bin', type: 'file', data: pseudoRandomBytes(30_000, 21) },
];
/** The tree of the run that fails: new data over several 16 KiB packs, and a link. */
const tree1: TreeEntry[] = [
  { path: 'data', type: 'dir' },
  { path: 'data/new.bin', type: 'file', data: pseudoRandomBytes(70_000, 22) },
  { path: 'data/old.bin', type: 'file', data: pseudoRandomBytes(30_000, 21) },
  { path: 'data/notes.txt', type: 'file', data: text('a line of notes\n'.repeat(900)) },
  { path: 'data/sub', type: 'dir' },
  { path: 'data/sub/link', type: 'symlink', target: '../new.bin' },
];

function options(series: string, extra: Partial<BackupOptions> = {}): BackupOptions {
  return { series, encrypt: true, compressionLevel: 3, resolver: fixedResolver(PASSWORD), kdf: TEST_KDF, ...extra };
}

/** A repository with one point in series "job". */
const base = await (async () => {
  await loadWasmFromPackages();
  const storage = new MemoryStorage();
  const repo = await Repository.init(storage, { chunker: SMALL_CHUNKER, packTargetBytes: 16 * 1024 });
  const made = await backup(repo, memorySource(tree0), options('job'));
  return { storage, pointId: made.pointId };
})();

async function pointIds(storage: Storage): Promise<string[]> {
  return (await (await Repository.open(storage)).listPoints()).map((p) => p.body.id);
}

async function assertRestores(storage: Storage, pointId: string, tree: readonly TreeEntry[], label: string): Promise<void> {
  const repo = await Repository.open(storage);
  const sink = new MemorySink();
  await restore(repo, await repo.unlock(await repo.resolvePoint(pointId), fixedResolver(PASSWORD)), sink);
  assert.ok(sink.committed, label);
  for (const e of tree) {
    if (e.type === 'file') assert.equal(sink.files.get(e.path), e.data, `${label}: ${e.path} byte for byte`);
    else if (e.type === 'symlink') assert.is(sink.symlinks.get(e.path), e.target, `${label}: ${e.path}`);
    else assert.ok(sink.dirs.includes(e.path), `${label}: ${e.path}`);
  }
  assert.is(sink.files.size, tree.filter((e) => e.type === 'file').length, `${label}: no extra files`);
}

/**
 * Runs a failing backup of `tree` on a copy of `from`, then checks everything the file
 * header promises. Returns the kinds of puts the run made before it stopped.
 */
async function failThenRecover(
  from: MemoryStorage,
  series: string,
  tree: readonly TreeEntry[],
  failWhen: (key: string, n: number, nOfPrefix: number) => boolean,
  label: string,
  extra: Partial<BackupOptions> = {},
): Promise<FaultyStorage> {
  const inner = cloneStorage(from);
  const before = new Set(inner.objects.keys());
  const pointsBefore = await pointIds(inner);
  const faulty = new FaultyStorage(inner, failWhen);
  let error: unknown;
  try {
    await backup(await Repository.open(faulty), memorySource(tree), options(series, extra));
  } catch (e) {
    error = e;
  }
  assert.is(faulty.failed.length, 1, `${label}: the fault was injected once`);
  assert.instance(error, BunkerError, `${label}: the backup rejected (${String(error)})`);
  assert.is((error as BunkerError).code, 'STORAGE_FAILED', `${label}: ${(error as Error).message}`);
  assert.is((error as BunkerError).object, faulty.failed[0], `${label}: the error names the object`);
  assert.equal(await pointIds(inner), pointsBefore, `${label}: no new point is visible`);

  const leftovers = [...inner.objects.keys()].filter((k) => !before.has(k)).sort();
  assert.ok(leftovers.every((k) => !k.startsWith('points/')), `${label}: no point object was written`);
  const report = await checkRepository(await Repository.open(inner), { readData: true, resolver: fixedResolver(PASSWORD) });
  assert.equal(report.problems, [], `${label}: check finds no problem`);
  assert.ok(report.isOk);
  assert.equal([...report.unreferenced].sort(), leftovers, `${label}: exactly the failed run's objects are unreferenced`);

  const next = await backup(await Repository.open(inner), memorySource(tree), options(series, extra));
  assert.equal(await pointIds(inner), [...pointsBefore, next.pointId], `${label}: the next backup commits`);
  await assertRestores(inner, next.pointId, tree, `${label}: next backup`);
  for (const id of pointsBefore) await assertRestores(inner, id, id === base.pointId ? tree0 : tree, `${label}: older point`);
  const after = await checkRepository(await Repository.open(inner), { readData: true, resolver: fixedResolver(PASSWORD) });
  assert.equal(after.problems, [], `${label}: check after the next backup`);
  assert.equal([...after.unreferenced].sort(), leftovers, `${label}: the leftovers stay the only unreferenced objects`);
  return faulty;
}

const kindOf = (key: string) => key.split('/')[0]!;

test('a dry run shows the write order: packs, then the index, the manifest, the FSI, and the point last', async () => {
  const faulty = new FaultyStorage(cloneStorage(base.storage));
  await backup(await Repository.open(faulty), memorySource(tree1), options('job', { concurrency: 1 }));
  const kinds = faulty.puts.map(kindOf);
  assert.ok(kinds.filter((k) => k === 'packs').length >= 3, `several packs: ${kinds.join(' ')}`);
  assert.equal(kinds.slice(kinds.indexOf('index')), ['index', 'trees', 'fsi', 'points']);
  assert.ok(kinds.slice(0, kinds.indexOf('index')).every((k) => k === 'packs'));
});

const NAMED: [string, (key: string, n: number, nOfPrefix: number) => boolean][] = [
  ['the first put (the first pack)', (_k, n) => n === 1],
  ['the second pack', (k, _n, m) => kindOf(k) === 'packs' && m === 2],
  ['the run index', (k) => kindOf(k) === 'index'],
  ['the manifest', (k) => kindOf(k) === 'trees'],
  ['the FSI', (k) => kindOf(k) === 'fsi'],
  ['the point itself', (k) => kindOf(k) === 'points'],
];

for (const [name, failWhen] of NAMED) {
  test(`a failed put of ${name}: rejected, no new point, check clean, the next backup restores exactly`, async () => {
    const faulty = await failThenRecover(base.storage, 'job', tree1, failWhen, name);
    assert.ok(faulty.failed.length === 1);
  });
  test(`a failed put of ${name} in the first backup of a new series: the series stays empty, then works`, async () => {
    await failThenRecover(base.storage, 'fresh', tree1, failWhen, `${name} (new series)`);
  });
}

test('every put of a run, failed in turn, up to the point (always the last put)', async () => {
  // Numbered per run, not from a dry run: which pack a blob lands in may vary from run to run.
  const failedKinds: string[] = [];
  for (let n = 1; n <= 64 && failedKinds.at(-1) !== 'points'; n++) {
    const faulty = await failThenRecover(base.storage, 'job', tree1, (_k, i) => i === n, `put ${n}`, { concurrency: 1 });
    assert.is(faulty.puts.length, n, `put ${n}: the run stopped at the failed put`);
    assert.match(faulty.puts.map(kindOf).join(' '), /^packs( packs)*( index( trees( fsi( points)?)?)?)?$/, `put ${n}: write order`);
    failedKinds.push(kindOf(faulty.failed[0]!));
  }
  assert.is(failedKinds.at(-1), 'points', 'the sweep reached the point');
  assert.equal(failedKinds.slice(-4), ['index', 'trees', 'fsi', 'points']);
  assert.ok(failedKinds.filter((k) => k === 'packs').length >= 3, failedKinds.join(' '));
});

test('a put that stored its object but reported a failure: no point for index/manifest/FSI; the point itself, if stored, is whole', async () => {
  for (const kind of ['packs', 'index', 'trees', 'fsi']) {
    const inner = cloneStorage(base.storage);
    const faulty = new FaultyStorage(inner, (k, _n, m) => kindOf(k) === kind && m === 1, true);
    let error: unknown;
    await backup(await Repository.open(faulty), memorySource(tree1), options('job')).catch((e) => (error = e));
    assert.is((error as BunkerError)?.code, 'STORAGE_FAILED', kind);
    assert.equal(await pointIds(inner), [base.pointId], kind);
    const report = await checkRepository(await Repository.open(inner), { readData: true, resolver: fixedResolver(PASSWORD) });
    assert.equal(report.problems, [], kind);
    const next = await backup(await Repository.open(inner), memorySource(tree1), options('job'));
    await assertRestores(inner, next.pointId, tree1, `${kind} stored-then-failed`);
  }
  // The point is the commit: stored means committed, and it is complete.
  const inner = cloneStorage(base.storage);
  const faulty = new FaultyStorage(inner, (k) => kindOf(k) === 'points', true);
  let error: unknown;
  await backup(await Repository.open(faulty), memorySource(tree1), options('job')).catch((e) => (error = e));
  assert.is((error as BunkerError)?.code, 'STORAGE_FAILED');
  const ids = await pointIds(inner);
  assert.is(ids.length, 2);
  assert.is(`points/${ids[1]}`, faulty.failed[0]);
  await assertRestores(inner, ids[1]!, tree1, 'point stored-then-failed');
  const report = await checkRepository(await Repository.open(inner), { readData: true, resolver: fixedResolver(PASSWORD) });
  assert.equal(report.problems, []);
  assert.equal(report.unreferenced, []);
});

test('a failed pack write: backup() rejects only after every other write of the run has settled', async () => {
  // The first pack is held in flight until the second has failed, and for a while after, so a
  // backup() that rejected at the failure would do so with the first still writing (a caller
  // repairing or retrying the repository would race it).
  const inner = cloneStorage(base.storage);
  let writing = 0;
  let slowFinished = false;
  let failedWhileSlow = false;
  let failureSeen!: () => void;
  const failure = new Promise<void>((resolve) => (failureSeen = resolve));
  let slowStarted = false;
  const slow: Storage = Object.assign(Object.create(Object.getPrototypeOf(inner)), inner, {
    put: async (key: string, data: Uint8Array): Promise<boolean> => {
      writing++;
      try {
        if (key.startsWith('packs/') && !slowStarted) {
          slowStarted = true;
          // Bounded only so that a run which never makes a second pack fails below, not hangs.
          let bound: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([failure, new Promise((resolve) => (bound = setTimeout(resolve, 30_000)))]);
          clearTimeout(bound);
          // Time for a backup() that does not wait to reject while this write is still out.
          await new Promise((resolve) => setTimeout(resolve, 300));
          slowFinished = true;
        }
        return await inner.put(key, data);
      } finally {
        writing--;
      }
    },
  });
  const faulty = new FaultyStorage(slow, (k, _n, nOfPrefix) => {
    const fails = k.startsWith('packs/') && nOfPrefix === 2;
    if (fails) {
      failedWhileSlow = slowStarted && !slowFinished;
      failureSeen();
    }
    return fails;
  });
  let error: unknown;
  await backup(await Repository.open(faulty), memorySource(tree1), options('job')).catch((e) => (error = e));
  assert.is((error as BunkerError)?.code, 'STORAGE_FAILED');
  assert.ok(failedWhileSlow, 'the second pack failed while the first was being written');
  assert.is(writing, 0, 'no put still running when backup() rejected');
  assert.ok(slowFinished, 'the slow pack write had finished');
  assert.equal(await pointIds(inner), [base.pointId]);
});

// --- real faults of the directory backend --------------------------------------------------

async function listTmp(root: string): Promise<string[]> {
  return readdir(join(root, 'tmp')).catch(() => []);
}

for (const blocked of ['packs', 'trees', 'fsi'] as const) {
  test(`directory backend: a file where ${blocked}/ must go fails the backup with STORAGE_FAILED; once repaired, all is well`, async () => {
    await using dir = await tempDir('bunker-fault-');
    const root = join(dir.path, 'repo');
    const storage = new DirectoryStorage(root);
    const repo = await Repository.init(storage, { chunker: SMALL_CHUNKER, packTargetBytes: 16 * 1024 });
    const first = await backup(repo, memorySource(tree0), options('job'));
    // Move the real directory aside and put a plain file in its place.
    await rename(join(root, blocked), join(dir.path, `${blocked}.aside`));
    await writeFile(join(root, blocked), 'in the way\n');
    let error: unknown;
    await backup(await Repository.open(new DirectoryStorage(root)), memorySource(tree1), options('other')).catch((e) => (error = e));
    assert.instance(error, BunkerError, String(error));
    assert.is((error as BunkerError).code, 'STORAGE_FAILED', (error as Error).message);
    assert.ok((error as BunkerError).object?.startsWith(`${blocked}/`), `names a ${blocked} object: ${(error as BunkerError).object}`);
    assert.equal(await listTmp(root), [], 'no temporary file left behind');
    // Repair.
    await rm(join(root, blocked));
    await rename(join(dir.path, `${blocked}.aside`), join(root, blocked));
    const reopened = await Repository.open(new DirectoryStorage(root));
    assert.equal((await reopened.listPoints()).map((p) => p.body.id), [first.pointId]);
    const report = await checkRepository(reopened, { readData: true, resolver: fixedResolver(PASSWORD) });
    assert.equal(report.problems, []);
    assert.ok(report.unreferenced.every((k) => !k.startsWith('points/')));
    const next = await backup(reopened, memorySource(tree1), options('other'));
    await assertRestores(new DirectoryStorage(root), next.pointId, tree1, `${blocked} repaired`);
    await assertRestores(new DirectoryStorage(root), first.pointId, tree0, `${blocked} repaired, first point`);
    assert.equal(await listTmp(root), []);
  });
}

test('directory backend: an injected fault on the manifest leaves no temporary file and a clean check', async () => {
  await using dir = await tempDir('bunker-fault-');
  const root = join(dir.path, 'repo');
  await mkdir(root);
  const storage = new DirectoryStorage(root);
  const repo = await Repository.init(storage, { chunker: SMALL_CHUNKER, packTargetBytes: 16 * 1024 });
  await backup(repo, memorySource(tree0), options('job'));
  const faulty = new FaultyStorage(storage, (k) => kindOf(k) === 'trees');
  let error: unknown;
  await backup(await Repository.open(faulty), memorySource(tree1), options('job')).catch((e) => (error = e));
  assert.is((error as BunkerError)?.code, 'STORAGE_FAILED');
  assert.equal(await listTmp(root), []);
  const report = await checkRepository(await Repository.open(storage), { readData: true, resolver: fixedResolver(PASSWORD) });
  assert.equal(report.problems, []);
  assert.ok(report.unreferenced.some((k) => k.startsWith('index/')) && report.unreferenced.some((k) => k.startsWith('packs/')));
  assert.ok(report.unreferenced.every((k) => k.startsWith('index/') || k.startsWith('packs/')), report.unreferenced.join(' '));
  const next = await backup(await Repository.open(storage), memorySource(tree1), options('job'));
  await assertRestores(storage, next.pointId, tree1, 'after the manifest fault');
});

test.run();
