/**
 * Tampering with every kind of repository object — config, points/<id>, trees/<id>,
 * fsi/<id>, index/<run>, packs/xx/<id> — by (a) flipping a byte, (b) truncating its end,
 * (c) swapping it with another object of the same kind and (d) deleting it. Each must give
 * the typed error (TAMPERED or NOT_FOUND) naming the damaged object, a restore must leave
 * the target exactly as it was (no file, no staging directory), and `check --read-data`
 * must report the damage with the object named.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backup, BunkerError, checkRepository, type CheckReport, PasswordKeyResolver, Repository, restore } from '../core/mod.ts';
import { findFiles, pointListing } from '../core/browse.ts';
import { openStream, sealStream, SEGMENT_BYTES, STREAM_HEADER_BYTES, streamAad } from '../core/crypto/stream.ts';
import { aesGcmCipher, TAG_BYTES } from '../core/crypto/cipher.ts';
import { DirectoryRestoreSink } from '../core/host/fs-restore-sink.ts';
import { packKey } from '../core/repo/pack.ts';
import { indexKey } from '../core/repo/run-index.ts';
import type { MemoryStorage } from '../core/storage/memory.ts';
import { fixedResolver, memoryRepo, pseudoRandomBytes, SMALL_CHUNKER, tempDir, TEST_KDF } from './helpers.ts';
import { cloneStorage, flipByte, MemorySink, memorySource, objectOf, snapshotTree, swapObjects, type TreeEntry } from './bad-input-kit.ts';

const PASSWORD = 'correct horse battery staple';
const text = (s: string) => new TextEncoder().encode(s);

const treeA: TreeEntry[] = [
  { path: 'src', type: 'dir' },
  { path: 'src/a.bin', type: 'file', data: pseudoRandomBytes(60_000, 7) },
  { path: 'src/b.txt', type: 'file', data: text('hello bunker\n'.repeat(1500)) },
  { path: 'src/empty', type: 'file', data: new Uint8Array(0) },
  { path: 'src/link', type: 'symlink', target: 'a.bin' },
];
const treeB: TreeEntry[] = [
  { path: 'src', type: 'dir' },
  { path: 'src/a.bin', type: 'file', data: pseudoRandomBytes(50_000, 8) },
  { path: 'src/b.txt', type: 'file', data: text('hello bunker\n'.repeat(1500)) },
  { path: 'src/c.txt', type: 'file', data: text('second run\n'.repeat(700)) },
];

/** Two points of one backup series (B is A's child, with its own run), packs of 16 KiB. */
async function buildBase() {
  const { repo, storage } = await memoryRepo({ chunker: SMALL_CHUNKER, packTargetBytes: 16 * 1024 });
  const options = { series: 'docs', encrypt: true, compressionLevel: 3, resolver: fixedResolver(PASSWORD), kdf: TEST_KDF } as const;
  const a = await backup(repo, memorySource(treeA), options);
  const b = await backup(repo, memorySource(treeB), options);
  const pointA = await repo.unlock(await repo.readPoint(a.pointId), fixedResolver(PASSWORD));
  const pointB = await repo.unlock(await repo.readPoint(b.pointId), fixedResolver(PASSWORD));
  const manifestA = await repo.readManifest(pointA);
  const indexA = await repo.readIndex(pointA);
  // The pack holding the first chunk a restore of A reads, and another pack of the same run.
  const firstChunk = manifestA.entries.find((e) => e.path === 'src/a.bin')!.chunks![0]!;
  const pack1 = packKey(indexA.get(firstChunk)!.packId);
  const pack2 = [...new Set([...indexA.values()].map((e) => packKey(e.packId)))].find((k) => k !== pack1);
  if (pack2 === undefined) throw new Error('fixture: run A wrote a single pack');
  const foreign = await memoryRepo({ chunker: SMALL_CHUNKER });
  return {
    storage,
    a: a.pointId,
    b: b.pointId,
    runA: pointA.record.body.run,
    runB: pointB.record.body.run,
    pack1,
    pack2,
    foreignConfig: objectOf(foreign.storage, 'config'),
  };
}

const base = await buildBase();

type Damage = 'flip' | 'truncate' | 'swap' | 'delete';

interface Kind {
  readonly name: string;
  /** The object damaged; the error must name it. */
  readonly key: string;
  /** Its partner in a swap (same kind). */
  readonly partner: string;
  /** Byte positions to flip, one case each. */
  readonly flips: (length: number) => number[];
  /** Lengths to cut the object down to. */
  readonly truncations: (length: number) => number[];
  /** What reads the object: a restore of point A, or the FSI listing of point A. */
  readonly reader: 'restore' | 'fsi';
}

/** Header bytes, a spread through the body, and the tail (tags, MAC, checksum). */
function spread(length: number, from = 0): number[] {
  const out = new Set<number>();
  for (let i = from; i < Math.min(length, from + 24); i++) out.add(i);
  for (let i = from; i < length; i += 41) out.add(i);
  for (let i = Math.max(from, length - 24); i < length; i++) out.add(i);
  return [...out].sort((x, y) => x - y);
}

const docTruncations = (n: number) => [n - 1, n - 32, n >> 1, 15, 0];
const streamTruncations = (n: number) => [n - 1, n - TAG_BYTES, STREAM_HEADER_BYTES + TAG_BYTES, STREAM_HEADER_BYTES, 3, 0];

const KINDS: Kind[] = [
  { name: 'config', key: 'config', partner: 'config', flips: (n) => spread(n), truncations: docTruncations, reader: 'restore' },
  { name: 'point', key: `points/${base.a}`, partner: `points/${base.b}`, flips: (n) => spread(n), truncations: docTruncations, reader: 'restore' },
  { name: 'manifest', key: `trees/${base.a}`, partner: `trees/${base.b}`, flips: (n) => spread(n), truncations: streamTruncations, reader: 'restore' },
  { name: 'fsi', key: `fsi/${base.a}`, partner: `fsi/${base.b}`, flips: (n) => spread(n), truncations: streamTruncations, reader: 'fsi' },
  { name: 'index', key: indexKey(base.runA), partner: indexKey(base.runB), flips: (n) => spread(n), truncations: streamTruncations, reader: 'restore' },
  // A restore reads blobs, not the 8-byte pack magic; the magic is covered by check below.
  { name: 'pack', key: base.pack1, partner: base.pack2, flips: (n) => spread(n, 8), truncations: (n) => [n - 1, n - 17, n >> 1, 9, 8, 0], reader: 'restore' },
];

/** Applies one damage to a copy of the base repository. */
function damaged(kind: Kind, damage: Damage, value?: number): MemoryStorage {
  const storage = cloneStorage(base.storage);
  const bytes = objectOf(storage, kind.key);
  switch (damage) {
    case 'flip':
      storage.objects.set(kind.key, flipByte(bytes, value!));
      break;
    case 'truncate':
      storage.objects.set(kind.key, bytes.slice(0, value!));
      break;
    case 'swap':
      // The config's only peer is another repository's config.
      if (kind.key === 'config') storage.objects.set('config', base.foreignConfig.slice());
      else swapObjects(storage, kind.key, kind.partner);
      break;
    case 'delete':
      storage.objects.delete(kind.key);
      break;
  }
  return storage;
}

/** Restores point A into `target` (or lists its FSI); returns what it threw. */
async function attempt(storage: MemoryStorage, reader: Kind['reader'], target: string): Promise<unknown> {
  try {
    const repo = await Repository.open(storage);
    const point = await repo.unlock(await repo.resolvePoint(base.a), fixedResolver(PASSWORD));
    if (reader === 'fsi') await repo.readFsi(point);
    else await restore(repo, point, new DirectoryRestoreSink(target));
  } catch (error) {
    return error;
  }
  return undefined;
}

function assertError(error: unknown, code: string, object: string, label: string): void {
  if (!(error instanceof BunkerError)) {
    assert.unreachable(`${label}: expected ${code} naming ${object}, got ${error === undefined ? 'success' : String((error as Error)?.stack ?? error)}`);
    return;
  }
  assert.is(error.code, code, `${label}: code (${error.message})`);
  assert.is(error.object, object, `${label}: object named (${error.message})`);
}

/** A sandbox holding target/ with one file of the user's in it. */
async function sandbox(root: string, name: string): Promise<{ dir: string; target: string }> {
  const dir = join(root, name);
  const target = join(dir, 'target');
  await mkdir(target, { recursive: true });
  await writeFile(join(target, 'keep.txt'), 'the user\'s own file\n');
  await mkdir(join(dir, 'outside'));
  return { dir, target };
}

function expectedCode(damage: Damage): string {
  return damage === 'delete' ? 'NOT_FOUND' : 'TAMPERED';
}

for (const kind of KINDS) {
  const length = objectOf(base.storage, kind.key).length;
  const cases: { damage: Damage; value?: number }[] = [
    ...kind.flips(length).map((value) => ({ damage: 'flip' as const, value })),
    ...kind.truncations(length).map((value) => ({ damage: 'truncate' as const, value })),
    { damage: 'swap' },
    { damage: 'delete' },
  ];
  test(`${kind.name} (${kind.key.split('/')[0]}): ${cases.length} damages, each ${kind.reader === 'fsi' ? 'refused by the FSI reader' : 'refused by restore, leaving the target untouched'}`, async () => {
    await using tmp = await tempDir('bunker-tamper-');
    let n = 0;
    for (const { damage, value } of cases) {
      const label = `${kind.key} ${damage}${value === undefined ? '' : ` @${value}`}`;
      const { dir, target } = await sandbox(tmp.path, `case-${n++}`);
      const before = await snapshotTree(dir);
      const error = await attempt(damaged(kind, damage, value), kind.reader, target);
      assertError(error, expectedCode(damage), kind.key, label);
      assert.equal(await snapshotTree(dir), before, `${label}: the restore target and its surroundings are unchanged`);
    }
  });
}

test('a damaged chunk of a later file, after a whole file was already staged: the target is left exactly as it was', async () => {
  await using tmp = await tempDir('bunker-tamper-');
  const storage = cloneStorage(base.storage);
  const repo = await Repository.open(storage);
  const point = await repo.unlock(await repo.resolvePoint(base.a), fixedResolver(PASSWORD));
  const index = await repo.readIndex(point);
  // A manifest (sealed with the point's key) of two files whose chunks lie in different packs,
  // so they are separate reads: the first file is written whole before the second one fails.
  const [firstId, first] = [...index].find(([, e]) => packKey(e.packId) === base.pack1)!;
  const [secondId, second] = [...index].find(([, e]) => packKey(e.packId) !== base.pack1)!;
  const file = (path: string, id: string, rawLength: number) => ({ path, type: 'file', mode: 0o644, mtimeMs: 0, size: rawLength, chunks: [id] });
  const lines = [{ version: 1, sources: [], host: 'h' }, { path: 'd', type: 'dir', mode: 0o755, mtimeMs: 0, size: 0 }, file('d/first', firstId, first.rawLength), file('d/second', secondId, second.rawLength)];
  const plaintext = text(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  storage.objects.set(`trees/${base.a}`, await sealStream(point.cipher, 'manifest', point.id, repo.zstd.compress(plaintext, 3), 1));
  const damagedPack = packKey(second.packId);
  storage.objects.set(damagedPack, flipByte(objectOf(storage, damagedPack), second.offset + second.length - 1));
  const { dir, target } = await sandbox(tmp.path, 'late');
  const before = await snapshotTree(dir);
  // Records the files the real sink finished writing (into its staging directory).
  const sink = new DirectoryRestoreSink(target);
  const staged: string[] = [];
  const stageFile = sink.file.bind(sink);
  sink.file = async (e, data) => {
    await stageFile(e, data);
    staged.push(e.path);
  };
  const stageSmallFile = sink.smallFile.bind(sink);
  sink.smallFile = async (e, data) => {
    await stageSmallFile(e, data);
    staged.push(e.path);
  };
  let error: unknown;
  await restore(repo, point, sink).catch((e) => (error = e));
  assertError(error, 'TAMPERED', damagedPack, 'later chunk');
  assert.equal(staged, ['d/first'], 'the first file was staged whole before the failure');
  assert.equal(await snapshotTree(dir), before, 'the staged file is gone, nothing reached the target');
});

test('fsi damage does not stop a restore: the FSI is only an index for browsing', async () => {
  for (const damage of ['flip', 'truncate', 'swap', 'delete'] as const) {
    const storage = damaged(KINDS.find((k) => k.name === 'fsi')!, damage, damage === 'flip' ? 20 : damage === 'truncate' ? 40 : undefined);
    const repo = await Repository.open(storage);
    const sink = new MemorySink();
    await restore(repo, await repo.unlock(await repo.resolvePoint(base.a), fixedResolver(PASSWORD)), sink);
    assert.ok(sink.committed, damage);
    assert.equal(sink.files.get('src/a.bin'), (treeA[1] as { data: Uint8Array }).data, damage);
  }
});

test('the undamaged base repository restores both points byte for byte and checks clean', async () => {
  const repo = await Repository.open(cloneStorage(base.storage));
  for (const [id, tree] of [[base.a, treeA], [base.b, treeB]] as const) {
    const sink = new MemorySink();
    await restore(repo, await repo.unlock(await repo.resolvePoint(id), fixedResolver(PASSWORD)), sink);
    for (const e of tree) if (e.type === 'file') assert.equal(sink.files.get(e.path), e.data, e.path);
  }
  const report = await checkRepository(repo, { readData: true, resolver: fixedResolver(PASSWORD) });
  assert.equal(report.problems, []);
  assert.equal(report.unreferenced, []);
  assert.ok(report.isOk);
});

// --- check --read-data --------------------------------------------------------------

async function check(storage: MemoryStorage): Promise<CheckReport> {
  return checkRepository(await Repository.open(storage), { readData: true, resolver: fixedResolver(PASSWORD) });
}

/** The report is not ok, names `primary`, and names nothing but the damaged objects. */
function assertReported(report: CheckReport, code: string, primary: string, damagedKeys: readonly string[], label: string): void {
  assert.not.ok(report.isOk, `${label}: not ok`);
  const named = report.problems.map((p) => `${p.code} ${p.object}`);
  assert.ok(report.problems.some((p) => p.code === code && p.object === primary), `${label}: ${code} ${primary} in ${JSON.stringify(named)}`);
  for (const p of report.problems) assert.ok(damagedKeys.includes(p.object!), `${label}: ${p.code} names ${p.object}, not a damaged object`);
}

for (const kind of KINDS.filter((k) => k.name !== 'config')) {
  test(`check --read-data reports every damage to the ${kind.name} with the object named`, async () => {
    const length = objectOf(base.storage, kind.key).length;
    const cases: { damage: Damage; value?: number }[] = [
      { damage: 'flip', value: kind.name === 'pack' ? 8 : 0 },
      { damage: 'flip', value: length >> 1 },
      { damage: 'flip', value: length - 1 },
      { damage: 'truncate', value: length - 1 },
      { damage: 'truncate', value: 0 },
      { damage: 'swap' },
      ...(kind.name === 'point' ? [] : [{ damage: 'delete' as const }]),
    ];
    for (const { damage, value } of cases) {
      const label = `${kind.key} ${damage}${value === undefined ? '' : ` @${value}`}`;
      const keys = damage === 'swap' ? [kind.key, kind.partner] : [kind.key];
      assertReported(await check(damaged(kind, damage, value)), expectedCode(damage), kind.key, keys, label);
    }
  });
}

test('check: a pack whose magic is damaged is reported, though no chunk lives in those bytes', async () => {
  const pack = KINDS.find((k) => k.name === 'pack')!;
  for (let at = 0; at < 8; at++) {
    assertReported(await check(damaged(pack, 'flip', at)), 'TAMPERED', base.pack1, [base.pack1], `magic byte ${at}`);
  }
});

test('check: a deleted point cannot be seen, but what it referenced shows as unreferenced', async () => {
  const storage = damaged(KINDS.find((k) => k.name === 'point')!, 'delete');
  const report = await check(storage);
  assert.equal(report.problems, []);
  assert.is(report.points, 1);
  assert.equal([...report.unreferenced].sort(), [`fsi/${base.a}`, `trees/${base.a}`]);
});

test('check: a config from another repository is reported for every point', async () => {
  const report = await check(damaged(KINDS[0]!, 'swap'));
  assert.is(report.problems.length, 2);
  for (const p of report.problems) {
    assert.is(p.code, 'TAMPERED');
    assert.is(p.object, 'config');
  }
});

/** Counts the reads of each object under index/. */
function countIndexReads(storage: MemoryStorage): Map<string, number> {
  const reads = new Map<string, number>();
  const get = storage.get.bind(storage);
  storage.get = (key) => {
    if (key.startsWith('index/')) reads.set(key, (reads.get(key) ?? 0) + 1);
    return get(key);
  };
  return reads;
}

test('check reads a run\'s index once for all the points that name it, and, damaged, again for each of them', async () => {
  // Both points name run A; B also names run B.
  const clean = cloneStorage(base.storage);
  const reads = countIndexReads(clean);
  const report = await check(clean);
  assert.ok(report.isOk, JSON.stringify(report.problems));
  assert.is(report.points, 2);
  assert.equal(Object.fromEntries(reads), { [indexKey(base.runA)]: 1, [indexKey(base.runB)]: 1 });

  const index = KINDS.find((k) => k.name === 'index')!;
  const broken = damaged(index, 'flip', 0);
  const brokenReads = countIndexReads(broken);
  const damagedReport = await check(broken);
  assert.equal(damagedReport.problems.map((p) => `${p.code} ${p.object}`), [`TAMPERED ${indexKey(base.runA)}`, `TAMPERED ${indexKey(base.runA)}`]);
  // A failed read is not kept: each point reads it for itself, so a passing storage error fails one point only.
  assert.is(brokenReads.get(indexKey(base.runA)), 2);
});

test('a passing storage error on a shared run index fails the point that met it, not the next one', async () => {
  const storage = cloneStorage(base.storage);
  const get = storage.get.bind(storage);
  let failed = false;
  storage.get = (key) => {
    if (key === indexKey(base.runA) && !failed) {
      failed = true;
      return Promise.reject(new BunkerError('REMOTE_FAILED', 'the storage did not answer (simulated)', { object: key }));
    }
    return get(key);
  };
  const clean = await check(cloneStorage(base.storage));
  const report = await check(storage);
  assert.equal(report.problems.map((p) => `${p.code} ${p.object}`), [`REMOTE_FAILED ${indexKey(base.runA)}`]);
  // Point B, which also names run A, read it again and was checked in full.
  assert.ok(report.chunksChecked > 0 && report.chunksChecked < clean.chunksChecked, `${report.chunksChecked} of ${clean.chunksChecked}`);
});

test('check: a damaged FSI is reported, and its point\'s data is still verified (each chunk once), and its packs still referenced', async () => {
  const storage = cloneStorage(base.storage);
  storage.objects.set(`fsi/${base.a}`, flipByte(objectOf(storage, `fsi/${base.a}`), 40));
  const repo = await Repository.open(storage);
  const chunksOf = async (id: string) => (await repo.readManifest(await repo.unlock(await repo.readPoint(id), fixedResolver(PASSWORD)))).entries.flatMap((e) => e.chunks ?? []);
  const all = new Set([...(await chunksOf(base.a)), ...(await chunksOf(base.b))]);
  const report = await check(storage);
  assert.equal(report.problems.map((p) => `${p.code} ${p.object}`), [`TAMPERED fsi/${base.a}`]);
  assert.is(report.chunksChecked, all.size);
  assert.is(report.pointsUnreadable, 0);
  assert.equal(report.unreferenced, []);
});

test('ls and find with a damaged FSI: the listing comes from the manifest, with a warning naming the FSI; other points are still searched', async () => {
  const storage = cloneStorage(base.storage);
  const repo = await Repository.open(storage);
  const pointA = await repo.unlock(await repo.readPoint(base.a), fixedResolver(PASSWORD));
  const good = await pointListing(repo, pointA);
  storage.objects.set(`fsi/${base.a}`, flipByte(objectOf(storage, `fsi/${base.a}`), 40));
  const warnings: string[] = [];
  assert.equal(await pointListing(repo, pointA, (m) => void warnings.push(m)), good);
  assert.is(warnings.length, 1);
  assert.match(warnings[0]!, `fsi/${base.a}`);
  assert.match(warnings[0]!, 'from its manifest instead');
  const found = await findFiles(repo, '*', { resolver: fixedResolver(PASSWORD), onWarning: (m) => void warnings.push(m) });
  assert.equal([...new Set(found.map((m) => m.pointId))].sort(), [base.a, base.b].sort());
  assert.is(warnings.length, 2);
});

test('check: a point whose index cannot be read counts as unreadable: the objects only it references are not called garbage', async () => {
  const storage = cloneStorage(base.storage);
  const pointA = await Repository.open(storage).then((repo) => repo.readPoint(base.a));
  const runA = pointA.body.run;
  storage.objects.set(`index/${runA}`, flipByte(objectOf(storage, `index/${runA}`), 40));
  const report = await check(storage);
  assert.equal(report.problems.map((p) => `${p.code} ${p.object}`), [`TAMPERED index/${runA}`, `TAMPERED index/${runA}`], 'A, and B which names A\'s run too');
  assert.is(report.pointsUnreadable, 2);
});

test('a backup whose latest point cannot be read continues from the one before it, and its point restores exactly', async () => {
  const options = { series: 'docs', encrypt: true, compressionLevel: 3, resolver: fixedResolver(PASSWORD), kdf: TEST_KDF } as const;
  const pointB = await Repository.open(cloneStorage(base.storage)).then((repo) => repo.readPoint(base.b));
  for (const key of [`trees/${base.b}`, `index/${pointB.body.run}`]) {
    const storage = cloneStorage(base.storage);
    storage.objects.set(key, flipByte(objectOf(storage, key), 40));
    const repo = await Repository.open(storage);
    const warnings: string[] = [];
    const result = await backup(repo, memorySource(treeB), { ...options, onWarning: (m) => void warnings.push(m) });
    assert.is(result.parentId, base.a, `${key}: parent`);
    assert.is(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, `point ${base.b.slice(0, 12)} of backup "docs" cannot be read`);
    assert.match(warnings[0]!, key);
    const record = await repo.readPoint(result.pointId);
    assert.not.ok(record.body.runs.includes(pointB.body.run), `${key}: the damaged run is no part of the new point`);
    const sink = new MemorySink();
    await restore(repo, await repo.unlock(record, fixedResolver(PASSWORD)), sink);
    for (const entry of treeB) if (entry.type === 'file') assert.equal(sink.files.get(entry.path), entry.data, `${key}: ${entry.path}`);
  }
  // With no point of the series left that reads, the run stops with the damage, writing nothing.
  const storage = cloneStorage(base.storage);
  for (const id of [base.a, base.b]) storage.objects.set(`trees/${id}`, flipByte(objectOf(storage, `trees/${id}`), 40));
  const before = [...storage.objects.keys()].sort();
  const error = await backup(await Repository.open(storage), memorySource(treeB), options).then(() => undefined, (e: unknown) => e);
  assert.is((error as BunkerError)?.code, 'TAMPERED');
  assert.equal([...storage.objects.keys()].sort(), before);
});

test('a damaged run index: every later point that names the run is passed over unread, with one warning', async () => {
  const options = { series: 'docs', encrypt: true, compressionLevel: 3, resolver: fixedResolver(PASSWORD), kdf: TEST_KDF } as const;
  const storage = cloneStorage(base.storage);
  const repo = await Repository.open(storage);
  const c = await backup(repo, memorySource(treeA), options);
  const runB = (await repo.readPoint(base.b)).body.run;
  storage.objects.set(`index/${runB}`, flipByte(objectOf(storage, `index/${runB}`), 40));
  const warnings: string[] = [];
  const result = await backup(repo, memorySource(treeB), { ...options, onWarning: (m) => void warnings.push(m) });
  assert.is(result.parentId, base.a, 'C and B name the damaged run: A is the parent');
  assert.is(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0]!, `point ${c.pointId.slice(0, 12)} of backup "docs" cannot be read`);
  assert.not.ok((await repo.readPoint(result.pointId)).body.runs.includes(runB));
});

test('a check stopped by a wrong password asks for no other point\'s password', async () => {
  let asked = 0;
  const resolver = new PasswordKeyResolver(async () => {
    asked++;
    return 'not the password';
  });
  try {
    await checkRepository(await Repository.open(cloneStorage(base.storage)), { readData: true, resolver });
    assert.unreachable('a wrong password checked');
  } catch (error) {
    assert.instance(error, BunkerError);
    assert.is((error as BunkerError).code, 'WRONG_PASSWORD');
  }
  // Let any point loaded ahead run on: it must not ask.
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.is(asked, 1);
});

test('a check that meets a wrong password for one series asks for no later series\' password', async () => {
  const { repo, storage } = await memoryRepo({ chunker: SMALL_CHUNKER, packTargetBytes: 16 * 1024 });
  const one = (seed: number, bytes: number) => memorySource([{ path: 'f', type: 'file', data: pseudoRandomBytes(bytes, seed) }]);
  const options = { encrypt: true, compressionLevel: 3, kdf: TEST_KDF } as const;
  // Series a first, with enough data that the next points are loaded while it is verified.
  await backup(repo, one(1, 3_000_000), { ...options, series: 'a', resolver: fixedResolver('password a') });
  await backup(repo, one(2, 1_000), { ...options, series: 'b', resolver: fixedResolver('password b') });
  await backup(repo, one(3, 1_000), { ...options, series: 'c', resolver: fixedResolver('password c') });
  const asked: string[] = [];
  const resolver = new PasswordKeyResolver(async ({ series }) => {
    asked.push(series);
    return 'password a';
  });
  try {
    await checkRepository(await Repository.open(storage), { readData: true, resolver });
    assert.unreachable('checked with a wrong password for b');
  } catch (error) {
    assert.instance(error, BunkerError);
    assert.is((error as BunkerError).code, 'WRONG_PASSWORD');
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(asked, ['a', 'b']);
});

test('the config: damage stops Repository.open itself (and so check) with the config named', async () => {
  const config = KINDS[0]!;
  for (const [damage, value] of [['flip', 0], ['flip', 100], ['truncate', 100], ['delete', undefined]] as const) {
    try {
      await Repository.open(damaged(config, damage, value));
      assert.unreachable(`${damage} opened`);
    } catch (error) {
      assertError(error, expectedCode(damage), 'config', `config ${damage}`);
    }
  }
});

// --- the STREAM construction itself, on objects too big for the fixture ---------------

test('STREAM: an object of many segments is its header and each segment sealed in order (FORMAT.md §4.3), and opens back', async () => {
  const cipher = await aesGcmCipher(new Uint8Array(32).fill(7));
  const prefix = new Uint8Array([1, 2, 3, 4, 5, 6, 7]);
  for (const length of [0, SEGMENT_BYTES, 40 * SEGMENT_BYTES + 100]) {
    const plaintext = pseudoRandomBytes(length, 11);
    const sealed = await sealStream(cipher, 'index', 'obj', plaintext, 1, prefix);
    const header = new Uint8Array([...new TextEncoder().encode('BNKS'), 1, 3, 1, 1, ...prefix, 0]);
    const count = Math.max(1, Math.ceil(length / SEGMENT_BYTES));
    const parts: number[] = [...header];
    for (let i = 0; i < count; i++) {
      const nonce = new Uint8Array(12);
      nonce.set(prefix);
      new DataView(nonce.buffer).setUint32(7, i);
      nonce[11] = i === count - 1 ? 1 : 0;
      parts.push(...await cipher.seal(nonce, streamAad('index', 'obj', header), plaintext.subarray(i * SEGMENT_BYTES, (i + 1) * SEGMENT_BYTES)));
    }
    assert.equal(sealed, new Uint8Array(parts), `${length} bytes`);
    assert.equal((await openStream(cipher, 'index', 'obj', sealed, 'index/x')).plaintext, plaintext);
  }
});

test('STREAM: dropping the final segment, reordering segments or appending bytes fails authentication', async () => {
  const repo = await Repository.open(cloneStorage(base.storage));
  const point = await repo.unlock(await repo.resolvePoint(base.a), fixedResolver(PASSWORD));
  const plaintext = pseudoRandomBytes(3 * SEGMENT_BYTES + 100, 3);
  const sealed = await sealStream(point.cipher, 'manifest', point.id, plaintext, 0);
  const opened = await openStream(point.cipher, 'manifest', point.id, sealed, 'trees/x');
  assert.equal(opened.plaintext, plaintext);
  const full = SEGMENT_BYTES + TAG_BYTES;
  const header = sealed.subarray(0, STREAM_HEADER_BYTES);
  const segment = (i: number) => sealed.subarray(STREAM_HEADER_BYTES + i * full, STREAM_HEADER_BYTES + (i + 1) * full);
  const variants: Record<string, Uint8Array> = {
    'final segment dropped': sealed.slice(0, STREAM_HEADER_BYTES + 3 * full),
    'two final segments dropped': sealed.slice(0, STREAM_HEADER_BYTES + 2 * full),
    'segments 0 and 1 exchanged': new Uint8Array([...header, ...segment(1), ...segment(0), ...sealed.subarray(STREAM_HEADER_BYTES + 2 * full)]),
    'one byte appended': new Uint8Array([...sealed, 0]),
    'an empty final segment appended': new Uint8Array([...sealed, ...new Uint8Array(TAG_BYTES)]),
    'another object id': sealed,
  };
  for (const [name, bytes] of Object.entries(variants)) {
    try {
      await openStream(point.cipher, 'manifest', name === 'another object id' ? base.b : point.id, bytes, 'trees/x');
      assert.unreachable(name);
    } catch (error) {
      assertError(error, 'TAMPERED', 'trees/x', name);
    }
  }
  // The same bytes opened as another kind of object.
  try {
    await openStream(point.cipher, 'fsi', point.id, sealed, 'fsi/x');
    assert.unreachable('opened as fsi');
  } catch (error) {
    assertError(error, 'TAMPERED', 'fsi/x', 'kind confusion');
  }
});

test.run();
