/**
 * The frozen v1 repository (test/fixtures/repo-v1/, written once by make-repo-v1.ts;
 * docs/FORMAT.md §13): every later version of bunker must still open, unlock, list, check
 * and restore it to exactly these bytes. Never edit the expectations below to make a change
 * pass: a failure here means a format change broke old repositories.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cp, lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BunkerError, checkRepository, dumpFile, PasswordKeyResolver, Repository, restore, type UnlockedPoint } from '../core/mod.ts';
import { DirectoryRestoreSink } from '../core/host/fs-restore-sink.ts';
import { DirectoryStorage } from '../core/host/directory-storage.ts';
import { fsiFromManifest } from '../core/fsi.ts';
import { toHex } from '../core/format/bytes.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';
import { ROOT, tempDir } from './helpers.ts';

const FIXTURE = join(ROOT, 'test', 'fixtures', 'repo-v1');
const PASSWORD = 'bunker fixture v1 password';
const REPOSITORY_ID = '277307f3a68f8922f2e926bfbaec303547c7fd835be88528b963b553f9ad61d4';
const FIRST = '73d408892c3b278a8f6f429e9533f125df29b456a5353aee21a3960c5fbc2d58';
const SECOND = 'dfa099837a747c977476cb7212eb9cc0f04ff2bb52148bb7cb0cc4339c9413bf';
const PLAIN = '077f15dae00053d9f3725c18e0feecb08f30c52aa2c6d09a3c6cb4c02654882e';
/** 2024-02-03T04:05:06.789Z, the fixture's base mtime. */
const T0 = 1706933106789;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

interface Expected {
  readonly path: string;
  readonly type: 'file' | 'dir' | 'symlink';
  readonly mode: number;
  readonly mtimeMs: number;
  readonly size?: number;
  readonly sha256?: string;
  readonly target?: string;
}

const FIRST_TREE: readonly Expected[] = [
  { path: 'data', type: 'dir', mode: 0o755, mtimeMs: T0 },
  { path: 'data/empty', type: 'file', mode: 0o644, mtimeMs: T0 + 1, size: 0, sha256: EMPTY_SHA256 },
  { path: 'data/empty-dir', type: 'dir', mode: 0o700, mtimeMs: T0 + 2 },
  { path: 'data/exec.sh', type: 'file', mode: 0o755, mtimeMs: T0 + 3, size: 36, sha256: 'f7e3968c65fccf7fb42c78cf7e46024b410290c24255afbd7d4466097b53ad1f' },
  { path: 'data/hello.txt', type: 'file', mode: 0o644, mtimeMs: T0 + 4, size: 17, sha256: '6198d8d41f82a6109710f333b0a2f549d67a3e0009e7de16e7c844b30ab6d0b9' },
  { path: 'data/link', type: 'symlink', mode: 0o777, mtimeMs: T0 + 5, target: 'hello.txt' },
  { path: 'data/multi.bin', type: 'file', mode: 0o600, mtimeMs: T0 + 6, size: 40000, sha256: 'e7c33dac7465e5310968d08327bea93ccbd208ff0e672486f8393eca185a5adb' },
  { path: 'data/sub', type: 'dir', mode: 0o750, mtimeMs: T0 + 7 },
  { path: 'data/sub/text.txt', type: 'file', mode: 0o644, mtimeMs: T0 + 8, size: 58780, sha256: '2927987ae32246e0a54bcba24ee4ec21f98fe590235ffd1a055fc12cb876ed7f' },
  { path: 'data/sub/ünïcödé name.txt', type: 'file', mode: 0o640, mtimeMs: T0 + 9, size: 15, sha256: '67c30a81a3699cccd73e844eaeba848abc410a395792121ba799195903a4d190' },
];

const SECOND_TREE: readonly Expected[] = [
  ...FIRST_TREE.slice(0, 4),
  { path: 'data/hello.txt', type: 'file', mode: 0o644, mtimeMs: T0 + 86_400_000, size: 29, sha256: '5c1d98e9f4415abbd8bf7f1287d94a35941eb22505af092cf88e3d9b141da564' },
  ...FIRST_TREE.slice(5, 7),
  { path: 'data/new.txt', type: 'file', mode: 0o644, mtimeMs: T0 + 86_400_001, size: 5590, sha256: 'a59378a214376fbf634e87f86e03f56b5756954328a18e329d31db8f9ade9184' },
  ...FIRST_TREE.slice(7),
];

const PLAIN_TREE: readonly Expected[] = [
  { path: 'plain', type: 'dir', mode: 0o755, mtimeMs: T0 + 10 },
  { path: 'plain/big.txt', type: 'file', mode: 0o644, mtimeMs: T0 + 11, size: 16690, sha256: '82a815b29d50f49e83cc62ef936fc2c448ca4f2fe3a89b3242f675ab42acfc63' },
  { path: 'plain/empty', type: 'file', mode: 0o644, mtimeMs: T0 + 12, size: 0, sha256: EMPTY_SHA256 },
  { path: 'plain/link', type: 'symlink', mode: 0o777, mtimeMs: T0 + 13, target: 'big.txt' },
  { path: 'plain/readme.txt', type: 'file', mode: 0o644, mtimeMs: T0 + 14, size: 22, sha256: '1a5557443d68bd4b01755259cf07f5f37e3ae949d573d1b4e3de0914384ffe50' },
];

const POINTS = [
  { id: FIRST, series: 'fixture', tree: FIRST_TREE },
  { id: SECOND, series: 'fixture', tree: SECOND_TREE },
  { id: PLAIN, series: 'plain', tree: PLAIN_TREE },
] as const;

await loadWasmFromPackages();

/** The fixture, copied so that nothing a test does can touch the committed files. */
async function openFixture(): Promise<{ repo: Repository; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await tempDir('bunker-fixture-v1-');
  const copy = join(dir.path, 'repo');
  await cp(FIXTURE, copy, { recursive: true });
  return { repo: await Repository.open(new DirectoryStorage(copy)), [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose]() };
}

function resolver(password = PASSWORD): PasswordKeyResolver {
  return new PasswordKeyResolver(async () => password);
}

async function unlock(repo: Repository, id: string): Promise<UnlockedPoint> {
  return repo.unlock(await repo.resolvePoint(id), resolver());
}

async function sha256(data: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', data as BufferSource)));
}

/** Every entry under `root`, as relative '/'-separated paths, sorted. */
async function walk(root: string, relative = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, relative), { withFileTypes: true })) {
    const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
    out.push(path);
    if (entry.isDirectory()) out.push(...(await walk(root, path)));
  }
  return out.sort();
}

test('the fixture opens as a v1 repository with its three points', async () => {
  await using fixture = await openFixture();
  const { repo } = fixture;
  assert.is(repo.config.version, 1);
  assert.is(repo.config.id, REPOSITORY_ID);
  assert.equal({ ...repo.config.chunker }, { minBytes: 1024, avgBytes: 4096, maxBytes: 16384 });
  assert.is(repo.config.chunkIdAlgorithm, 1);
  assert.equal(await repo.pointIds(), [PLAIN, FIRST, SECOND]);
  const points = await repo.listPoints();
  assert.equal(points.map((p) => p.body.id).filter((id) => id !== PLAIN), [FIRST, SECOND], 'oldest first');
  for (const { id, series } of POINTS) assert.is(points.find((p) => p.body.id === id)!.body.series, series);
});

for (const { id, series, tree } of POINTS) {
  test(`point ${id.slice(0, 8)} (${series}): the manifest and FSI list the frozen tree`, async () => {
    await using fixture = await openFixture();
    const point = await unlock(fixture.repo, id);
    const manifest = await fixture.repo.readManifest(point);
    assert.equal(manifest.entries.map((e) => ({ path: e.path, type: e.type, mode: e.mode, mtimeMs: e.mtimeMs })), tree.map((e) => ({ path: e.path, type: e.type, mode: e.mode, mtimeMs: e.mtimeMs })));
    for (const expected of tree) {
      const entry = manifest.entries.find((e) => e.path === expected.path)!;
      if (expected.type === 'file') assert.is(entry.size, expected.size, expected.path);
      if (expected.type === 'symlink') assert.is(entry.target, expected.target, expected.path);
    }
    assert.equal(await fixture.repo.readFsi(point), fsiFromManifest(manifest.entries));
  });

  test(`point ${id.slice(0, 8)} (${series}): restores to the exact bytes, modes and links`, async () => {
    await using fixture = await openFixture();
    await using out = await tempDir('bunker-fixture-restore-');
    const point = await unlock(fixture.repo, id);
    const result = await restore(fixture.repo, point, new DirectoryRestoreSink(out.path));
    assert.is(result.files, tree.filter((e) => e.type === 'file').length);
    assert.is(result.dirs, tree.filter((e) => e.type === 'dir').length);
    assert.is(result.symlinks, tree.filter((e) => e.type === 'symlink').length);
    assert.equal(await walk(out.path), tree.map((e) => e.path).sort(), 'exactly the tree, nothing else (no staging left)');
    for (const expected of tree) {
      const path = join(out.path, ...expected.path.split('/'));
      const st = await lstat(path);
      if (expected.type === 'file') {
        assert.ok(st.isFile(), `${expected.path} is a file`);
        const data = new Uint8Array(await readFile(path));
        assert.is(data.length, expected.size, `${expected.path}: size`);
        assert.is(await sha256(data), expected.sha256, `${expected.path}: SHA-256`);
        assert.is(st.mode & 0o7777, expected.mode, `${expected.path}: mode`);
      } else if (expected.type === 'dir') {
        assert.ok(st.isDirectory(), `${expected.path} is a directory`);
        assert.is(st.mode & 0o7777, expected.mode, `${expected.path}: mode`);
      } else {
        assert.ok(st.isSymbolicLink(), `${expected.path} is a symlink`);
        assert.is(await readlink(path), expected.target, `${expected.path}: target`);
      }
    }
  });
}

test('the second point continues the first: parent, two runs in its key table, unchanged files share chunks', async () => {
  await using fixture = await openFixture();
  const first = await unlock(fixture.repo, FIRST);
  const second = await unlock(fixture.repo, SECOND);
  assert.is(second.record.body.parent, FIRST);
  assert.equal(second.record.body.runs, [first.record.body.run, second.record.body.run]);
  assert.is(second.dataKeys.size, 2);
  assert.equal(second.masterSecret, first.masterSecret, 'one series, one M');
  const chunksOf = async (point: UnlockedPoint, path: string) => (await fixture.repo.readManifest(point)).entries.find((e) => e.path === path)!.chunks;
  assert.equal(await chunksOf(second, 'data/multi.bin'), await chunksOf(first, 'data/multi.bin'));
  assert.is((await chunksOf(first, 'data/multi.bin'))!.length, 8, 'multi.bin spans several chunks');
  assert.is((await chunksOf(first, 'data/sub/text.txt'))!.length, 12, 'text.txt spans several chunks');
  assert.not.equal(await chunksOf(second, 'data/hello.txt'), await chunksOf(first, 'data/hello.txt'));
});

test('the encrypted points need the password: wrong is WRONG_PASSWORD, none is PASSWORD_REQUIRED; the plain point needs none', async () => {
  await using fixture = await openFixture();
  const record = await fixture.repo.resolvePoint(FIRST);
  for (const [keyResolver, code] of [[resolver('not the password'), 'WRONG_PASSWORD'], [undefined, 'PASSWORD_REQUIRED']] as const) {
    try {
      await fixture.repo.unlock(record, keyResolver);
      assert.unreachable(`expected ${code}`);
    } catch (error) {
      assert.instance(error, BunkerError);
      assert.is((error as BunkerError).code, code);
    }
  }
  const plain = await fixture.repo.unlock(await fixture.repo.resolvePoint(PLAIN), undefined);
  assert.is(plain.keySource, 'none');
});

test('dump streams one file of the fixture verified', async () => {
  await using fixture = await openFixture();
  const parts: Uint8Array[] = [];
  const bytes = await dumpFile(fixture.repo, await unlock(fixture.repo, SECOND), 'data/sub/text.txt', async (chunk) => void parts.push(chunk.slice()));
  assert.is(bytes, 58780);
  const all = new Uint8Array(bytes);
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  assert.is(await sha256(all), '2927987ae32246e0a54bcba24ee4ec21f98fe590235ffd1a055fc12cb876ed7f');
});

test('check --read-data finds the fixture intact, with nothing unreferenced', async () => {
  await using fixture = await openFixture();
  const report = await checkRepository(fixture.repo, { readData: true, resolver: resolver() });
  assert.equal(report.problems, []);
  assert.ok(report.isOk);
  assert.is(report.points, 3);
  assert.equal(report.unreferenced, []);
  // Distinct chunks: run 1 multi.bin 8 + text.txt 12 + three one-chunk files; run 2 hello.txt 1 +
  // new.txt 2; the plain series big.txt 5 + readme.txt 1.
  assert.is(report.chunksChecked, 8 + 12 + 3 + 1 + 2 + 5 + 1);
});

test.run();
