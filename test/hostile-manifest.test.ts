/**
 * A hostile manifest (or FSI), sealed properly with the point's own key so that it passes
 * authentication and reaches the path checks: `../escape`, `/etc/passwd`, `a/../../b`, empty
 * components, NUL bytes, entries placed under a symlink or a file. Each must be refused with
 * UNSAFE_PATH naming the object, before anything is written inside or outside the target.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backup, BunkerError, checkRepository, dumpFile, Repository, restore, type UnlockedPoint } from '../core/mod.ts';
import { checkEntryPath } from '../core/manifest.ts';
import { sealStream } from '../core/crypto/stream.ts';
import { DirectoryRestoreSink } from '../core/host/fs-restore-sink.ts';
import { nativeMetadataZstd } from '../core/host/worker-codec-pool.ts';
import type { MemoryStorage } from '../core/storage/memory.ts';
import { fixedResolver, memoryRepo, pseudoRandomBytes, SMALL_CHUNKER, tempDir, TEST_KDF } from './helpers.ts';
import { cloneStorage, MemorySink, memorySource, snapshotTree, type TreeEntry } from './bad-input-kit.ts';

const PASSWORD = 'hostile manifest';
const encoder = new TextEncoder();
const DATA = pseudoRandomBytes(40_000, 11);

const tree: TreeEntry[] = [
  { path: 'src', type: 'dir' },
  { path: 'src/a.bin', type: 'file', data: DATA },
];

const base = await (async () => {
  const { repo, storage } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const made = await backup(repo, memorySource(tree), { series: 'h', encrypt: true, compressionLevel: 3, resolver: fixedResolver(PASSWORD), kdf: TEST_KDF });
  const point = await repo.unlock(await repo.resolvePoint(made.pointId), fixedResolver(PASSWORD));
  const real = (await repo.readManifest(point)).entries.find((e) => e.path === 'src/a.bin')!;
  return { storage, id: made.pointId, chunks: real.chunks!, size: real.size };
})();

const MTIME = 1_700_000_000_000;
const header = { version: 1, sources: ['/hostile'], host: 'attacker' };
const dir = (path: string) => ({ path, type: 'dir', mode: 0o755, mtimeMs: MTIME, size: 0 });
const emptyFile = (path: string) => ({ path, type: 'file', mode: 0o644, mtimeMs: MTIME, size: 0, chunks: [] as string[] });
/** A file entry with the real chunks of src/a.bin: restoring it would write 40 KB. */
const dataFile = (path: string) => ({ path, type: 'file', mode: 0o644, mtimeMs: MTIME, size: base.size, chunks: base.chunks });
const link = (path: string, target: string) => ({ path, type: 'symlink', mode: 0o777, mtimeMs: MTIME, size: 0, target });

interface Crafted {
  readonly storage: MemoryStorage;
  readonly repo: Repository;
  readonly point: UnlockedPoint;
}

/** A copy of the base repository whose point's manifest (or FSI) is replaced by `lines`, sealed with the point's key. */
async function craft(lines: readonly unknown[], kind: 'manifest' | 'fsi' = 'manifest'): Promise<Crafted> {
  const storage = cloneStorage(base.storage);
  const repo = await Repository.open(storage);
  const point = await repo.unlock(await repo.resolvePoint(base.id), fixedResolver(PASSWORD));
  const plaintext = encoder.encode(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const key = kind === 'manifest' ? `trees/${base.id}` : `fsi/${base.id}`;
  storage.objects.set(key, await sealStream(point.cipher, kind, point.id, repo.zstd.compress(plaintext, 3), 1));
  return { storage, repo, point };
}

/** A sandbox: target/ (with a file of the user's), and outside/ next to it. */
async function sandbox(root: string): Promise<{ target: string; outside: string }> {
  const target = join(root, 'target');
  const outside = join(root, 'outside');
  await mkdir(target);
  await mkdir(outside);
  await writeFile(join(target, 'keep.txt'), 'mine\n');
  return { target, outside };
}

function assertCode(error: unknown, code: string, object: string, label: string): void {
  if (!(error instanceof BunkerError)) {
    assert.unreachable(`${label}: expected ${code}, got ${error === undefined ? 'success' : String((error as Error)?.stack ?? error)}`);
    return;
  }
  assert.is(error.code, code, `${label}: ${error.message}`);
  assert.is(error.object, object, `${label}: object named`);
}

async function restoreError(crafted: Crafted, target: string): Promise<unknown> {
  try {
    await restore(crafted.repo, crafted.point, new DirectoryRestoreSink(target));
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Unsafe manifests; each holds a safe directory and a 40 KB file first, so a careless restorer would have written something. */
const UNSAFE: Record<string, (outside: string) => unknown[]> = {
  'a parent reference: ../escape': () => [dir('ok'), dataFile('ok/data'), dataFile('../escape')],
  'a parent reference deeper down: a/../../b': () => [dir('ok'), dataFile('ok/data'), dir('a'), dataFile('a/../../b')],
  'a bare ..': () => [dir('ok'), dataFile('ok/data'), dir('..')],
  'a parent reference hidden in a directory: a/../../../x/y': () => [dir('ok'), dir('a'), dir('a/../../../x'), dataFile('a/../../../x/y')],
  'an absolute path: /etc/passwd': () => [dir('ok'), dataFile('ok/data'), dataFile('/etc/passwd')],
  'an absolute path into the sandbox': (outside) => [dir('ok'), dataFile('ok/data'), dataFile(join(outside, 'abs'))],
  'an empty component: a//b': () => [dir('ok'), dataFile('ok/data'), dir('a'), dataFile('a//b')],
  'a trailing slash: a/': () => [dir('ok'), dataFile('ok/data'), dir('a/')],
  'an empty path': () => [dir('ok'), dataFile('ok/data'), emptyFile('')],
  'a dot component: ./x': () => [dir('ok'), dataFile('ok/data'), dataFile('./x')],
  'a NUL byte: a\\0b': () => [dir('ok'), dataFile('ok/data'), dataFile('a\u0000b')],
  'a NUL byte before a parent reference': () => [dir('ok'), dataFile('ok/data'), dataFile('ok\u0000/../../x')],
  'a file under a symlink entry that points outside': (outside) => [dir('ok'), dataFile('ok/data'), link('link', outside), dataFile('link/evil')],
  'a directory under a symlink entry, then a file in it': (outside) => [link('link', outside), dir('link/sub'), dataFile('link/sub/evil')],
  'a file under a relative symlink to ..': () => [dir('ok'), link('ok/up', '../..'), dataFile('ok/up/evil')],
  'a file under a file': () => [dir('ok'), dataFile('ok/data'), dataFile('ok/data/x')],
  'a child listed before its directory': () => [dir('ok'), dataFile('ok/data'), dataFile('late/x'), dir('late')],
  // The parser checks a directory once for a run of its entries: a sibling's parent is not a pass for these.
  'a file under a file, right after its sibling in a checked directory': () => [dir('ok'), dir('ok/sub'), emptyFile('ok/sub/a'), dataFile('ok/data'), dataFile('ok/sub/a/x')],
  'a file under a top-level file, after entries of a checked directory': () => [dir('ok'), dataFile('ok/data'), emptyFile('o'), dataFile('o/x')],
  'a file under a file whose name extends a checked directory': () => [dir('ok'), dataFile('ok/data'), emptyFile('okay'), dataFile('okay/x')],
  'a file under a file whose name is as long as a checked directory': () => [dir('ok'), dataFile('ok/data'), emptyFile('ab'), dataFile('ab/x')],
  // The same attacks with every parent listed as a directory, so the parent rule cannot be what stops them.
  '../escape with its parent listed': () => [dir('ok'), dataFile('ok/data'), dir('..'), dataFile('../escape')],
  'a/../../b with its parents listed': () => [dir('ok'), dataFile('ok/data'), dir('a'), dir('a/..'), dir('a/../..'), dataFile('a/../../b')],
  '/etc/passwd with its parent listed': () => [dir('ok'), dataFile('ok/data'), dir('/etc'), dataFile('/etc/passwd')],
  'a//b with its parent listed': () => [dir('ok'), dataFile('ok/data'), dir('a'), dir('a/'), dataFile('a//b')],
  'a path over 4096 bytes': () => [dir('ok'), dataFile('ok/data'), emptyFile('p'.repeat(5000))],
  'a path of 1,400 characters, 4,200 bytes in UTF-8': () => [dir('ok'), dataFile('ok/data'), emptyFile('€'.repeat(1400))],
};

for (const [name, build] of Object.entries(UNSAFE)) {
  test(`UNSAFE_PATH: ${name}; nothing is written anywhere`, async () => {
    await using tmp = await tempDir('bunker-hostile-');
    const { target, outside } = await sandbox(tmp.path);
    const passwd = await readFile('/etc/passwd').catch(() => undefined);
    const before = await snapshotTree(tmp.path);
    const crafted = await craft([header, ...build(outside)]);
    assertCode(await restoreError(crafted, target), 'UNSAFE_PATH', `trees/${base.id}`, name);
    assert.equal(await snapshotTree(tmp.path), before, 'nothing written inside or outside the target');
    assert.equal(await readFile('/etc/passwd').catch(() => undefined), passwd, '/etc/passwd untouched');
    // Every reader of the manifest refuses it, not only restore.
    const written: Uint8Array[] = [];
    try {
      await dumpFile(crafted.repo, crafted.point, 'ok/data', async (b) => void written.push(b));
      assert.unreachable('dump read a hostile manifest');
    } catch (error) {
      assertCode(error, 'UNSAFE_PATH', `trees/${base.id}`, `${name} (dump)`);
    }
    assert.is(written.length, 0);
    const sink = new MemorySink();
    try {
      await restore(crafted.repo, crafted.point, sink);
      assert.unreachable('restored into a memory sink');
    } catch (error) {
      assertCode(error, 'UNSAFE_PATH', `trees/${base.id}`, `${name} (memory sink)`);
    }
    assert.not.ok(sink.began, 'the sink was never even started');
  });
}

/** A well-formed zstd frame of `size` copies of one byte, in RLE blocks: tiny, whatever its size. */
function rleFrame(size: number, byte: number): Uint8Array {
  const BLOCK = 128 * 1024;
  const blocks = Math.ceil(size / BLOCK);
  const out = new Uint8Array(10 + blocks * 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0xfd2fb528, true);
  out[4] = 0x80; // a 4-byte content size, then a window descriptor
  out[5] = 7 << 3; // a 128 KiB window: one block
  view.setUint32(6, size, true);
  for (let i = 0, at = 10; i < blocks; i++, at += 4) {
    const header = (Math.min(BLOCK, size - i * BLOCK) << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0); // size, RLE, last
    out.set([header & 0xff, (header >>> 8) & 0xff, header >>> 16, byte], at);
  }
  return out;
}

test('a sealed manifest whose zstd body is cut, padded, doubled, garbage or too large is refused as TAMPERED, by the WASM build and by native zstd', async () => {
  const plaintext = encoder.encode([header, dir('ok'), dataFile('ok/data')].map((l) => JSON.stringify(l)).join('\n') + '\n');
  const { repo: wasmRepo } = await craft([header]);
  const frame = wasmRepo.zstd.compress(plaintext, 3);
  const skippable = new Uint8Array([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]);
  const join2 = (a: Uint8Array, b: Uint8Array) => Uint8Array.from([...a, ...b]);
  const bodies: [string, Uint8Array][] = [
    ['cut short', frame.subarray(0, frame.length - 3)],
    ['one byte of garbage after it', join2(frame, new Uint8Array([7]))],
    ['two frames', join2(frame, frame)],
    ['not zstd at all', encoder.encode('{"version":1}\n')],
    ['a content size of 2 GiB', Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x80, 0, 0, 0, 0x80, 0, 0, 0, 0])],
    // Well formed, and one byte past what a reader accepts (FORMAT.md §4.3): refused before decoding.
    ['a valid frame of 2^30 + 1 bytes', rleFrame(2 ** 30 + 1, 0x0a)],
  ];
  const native = nativeMetadataZstd();
  for (const [label, body] of bodies) {
    for (const reader of ['wasm', 'native'] as const) {
      if (reader === 'native' && native === undefined) continue; // Deno: the WASM build only (tested in pipeline.test.ts)
      const crafted = await craft([header]);
      crafted.storage.objects.set(`trees/${base.id}`, await sealStream(crafted.point.cipher, 'manifest', crafted.point.id, body, 1));
      if (reader === 'native') crafted.repo.metadataZstd = native!;
      // Whole (restore, check), and entry by entry as a rerun reads its parent (native: in pieces).
      for (const read of [() => crafted.repo.readManifest(crafted.point), () => crafted.repo.scanManifest(crafted.point, () => {})]) {
        try {
          await read();
          assert.unreachable(`${label} (${reader}) was read`);
        } catch (error) {
          assertCode(error, 'TAMPERED', `trees/${base.id}`, `${label} (${reader})`);
          assert.match((error as Error).message, 'invalid compressed body', `${label} (${reader})`);
        }
      }
    }
  }
  // A skippable frame after the manifest's frame: native refuses it (FORMAT.md: one frame); WASM reads the first frame.
  if (native !== undefined) {
    const crafted = await craft([header]);
    crafted.storage.objects.set(`trees/${base.id}`, await sealStream(crafted.point.cipher, 'manifest', crafted.point.id, join2(frame, skippable), 1));
    crafted.repo.metadataZstd = native;
    await crafted.repo.readManifest(crafted.point).then(() => assert.unreachable('native read a trailing frame'), (error) => assertCode(error, 'TAMPERED', `trees/${base.id}`, 'skippable frame (native)'));
    await crafted.repo.scanManifest(crafted.point, () => {}).then(() => assert.unreachable('native read a trailing frame in pieces'), (error) => assertCode(error, 'TAMPERED', `trees/${base.id}`, 'skippable frame (native, in pieces)'));
  }
});

test('control: a crafted manifest with safe paths restores, so the cases above reach the path check', async () => {
  await using tmp = await tempDir('bunker-hostile-');
  const { target } = await sandbox(tmp.path);
  const crafted = await craft([header, dir('ok'), dataFile('ok/data'), emptyFile('ok/..hidden..'), emptyFile('.x')]);
  await restore(crafted.repo, crafted.point, new DirectoryRestoreSink(target));
  assert.equal(new Uint8Array(await readFile(join(target, 'ok', 'data'))), DATA);
  const after = await snapshotTree(target);
  assert.equal(Object.keys(after).sort(), ['.x', 'keep.txt', 'ok', 'ok/..hidden..', 'ok/data']);
});

test('a symlink entry pointing outside is restored as a link, and nothing is written through it', async () => {
  await using tmp = await tempDir('bunker-hostile-');
  const { target, outside } = await sandbox(tmp.path);
  const crafted = await craft([header, dir('d'), link('d/out', outside), link('d/up', '../../outside'), dataFile('d/after')]);
  await restore(crafted.repo, crafted.point, new DirectoryRestoreSink(target));
  const after = await snapshotTree(tmp.path);
  assert.is(after['target/d/out'], `symlink -> ${outside}`);
  assert.is(after['target/d/up'], 'symlink -> ../../outside');
  assert.is(after['outside'], 'dir');
  assert.equal(Object.keys(after).filter((k) => k.startsWith('outside/')), [], 'nothing written through the links');
});

test('a symlink already in the target, where the manifest has a directory: ALREADY_EXISTS, nothing written through it', async () => {
  await using tmp = await tempDir('bunker-hostile-');
  const { target, outside } = await sandbox(tmp.path);
  await symlink(outside, join(target, 'd'));
  await symlink(join(outside, 'f'), join(target, 'f'));
  for (const lines of [[header, dir('d'), dataFile('d/evil')], [header, dataFile('f')]]) {
    const before = await snapshotTree(tmp.path);
    const error = await restoreError(await craft(lines), target);
    assert.instance(error, BunkerError);
    assert.is((error as BunkerError).code, 'ALREADY_EXISTS', (error as Error).message);
    assert.equal(await snapshotTree(tmp.path), before);
  }
});

test('a duplicate path (a file, then a symlink of the same name) is refused as TAMPERED', async () => {
  await using tmp = await tempDir('bunker-hostile-');
  const { target, outside } = await sandbox(tmp.path);
  const before = await snapshotTree(tmp.path);
  const crafted = await craft([header, dir('ok'), dataFile('ok/x'), link('ok/x', outside)]);
  assertCode(await restoreError(crafted, target), 'TAMPERED', `trees/${base.id}`, 'duplicate');
  assert.equal(await snapshotTree(tmp.path), before);
});

test('a manifest reader checks the tree on every scan until one has read it to the end', async () => {
  const crafted = await craft([header, dir('ok'), dataFile('ok/x'), link('ok/x', '/elsewhere')]);
  const reader = await crafted.repo.openManifest(crafted.point);
  const scanAll = () => {
    try {
      for (const _ of reader.entries());
    } catch (error) {
      return error;
    }
    return undefined;
  };
  // Stopped after one entry: nothing was learnt about the rest.
  for (const _ of reader.entries()) break;
  assertCode(scanAll(), 'TAMPERED', `trees/${base.id}`, 'after a scan stopped early');
  assertCode(scanAll(), 'TAMPERED', `trees/${base.id}`, 'after a scan that failed');
  // A sound manifest scanned twice: the same entries both times.
  const sound = await craft([header, dir('ok'), dataFile('ok/x'), link('ok/y', '/elsewhere')]);
  const soundReader = await sound.repo.openManifest(sound.point);
  const first = [...soundReader.entries()];
  assert.equal([...soundReader.entries()], first);
  assert.equal(first.map((e) => e.path), ['ok', 'ok/x', 'ok/y']);
});

test('a symlink entry whose target holds a NUL is refused as TAMPERED', async () => {
  await using tmp = await tempDir('bunker-hostile-');
  const { target } = await sandbox(tmp.path);
  const crafted = await craft([header, link('l', 'x\u0000y')]);
  assertCode(await restoreError(crafted, target), 'TAMPERED', `trees/${base.id}`, 'NUL target');
});

test('a hostile FSI (../escape, /etc/passwd, a NUL) is refused with UNSAFE_PATH naming the FSI', async () => {
  for (const path of ['../escape', '/etc/passwd', 'a\u0000b', 'a//b']) {
    const crafted = await craft([['ok', 'd', 0, MTIME], [path, 'f', 1, MTIME]], 'fsi');
    try {
      await crafted.repo.readFsi(crafted.point);
      assert.unreachable(path);
    } catch (error) {
      assertCode(error, 'UNSAFE_PATH', `fsi/${base.id}`, JSON.stringify(path));
    }
  }
});

test('the path rule, on every path of up to 7 characters over "a", "." and "/": safe exactly when no component is empty, "." or ".."', () => {
  const accepted = (path: string): boolean => {
    try {
      checkEntryPath(path);
      return true;
    } catch (error) {
      assert.instance(error, BunkerError);
      assert.is((error as BunkerError).code, 'UNSAFE_PATH');
      return false;
    }
  };
  let paths = [''];
  let checked = 0;
  for (let length = 0; length <= 7; length++) {
    for (const path of paths) {
      const safe = path !== '' && !path.split('/').some((part) => part === '' || part === '.' || part === '..');
      assert.is(accepted(path), safe, JSON.stringify(path));
      checked++;
    }
    paths = paths.flatMap((p) => [p + 'a', p + '.', p + '/']);
  }
  assert.is(checked, 3280);
});

// Sealed with the point's key, so they pass authentication and reach the plan: a restore checks
// every file's chunks against the index before it writes anything, not when it reaches the file.
const CORRUPT: Record<string, () => unknown[]> = {
  'a chunk id that is in no index': () => [dir('ok'), dataFile('ok/data'), { ...dataFile('ok/late'), chunks: [...base.chunks.slice(0, -1), 'e'.repeat(64)] }],
  'a size that its chunks do not add up to': () => [dir('ok'), dataFile('ok/data'), { ...dataFile('ok/late'), size: base.size + 1 }],
  'a file that names no chunk but claims bytes': () => [dir('ok'), dataFile('ok/data'), { ...emptyFile('ok/late'), size: 1 }],
};

for (const [name, build] of Object.entries(CORRUPT)) {
  test(`CORRUPTED_POINT before anything is written: ${name}`, async () => {
    await using tmp = await tempDir('bunker-hostile-');
    const { target } = await sandbox(tmp.path);
    const before = await snapshotTree(tmp.path);
    const crafted = await craft([header, ...build()]);
    assertCode(await restoreError(crafted, target), 'CORRUPTED_POINT', `trees/${base.id}`, name);
    assert.equal(await snapshotTree(tmp.path), before, 'nothing written');
    const sink = new MemorySink();
    try {
      await restore(crafted.repo, crafted.point, sink);
      assert.unreachable('restored a corrupted point');
    } catch (error) {
      assertCode(error, 'CORRUPTED_POINT', `trees/${base.id}`, `${name} (memory sink)`);
    }
    assert.is(sink.began, false, 'the sink was never begun');
  });
}

// A restore reads the manifest entry by entry, but reports what a whole read would report
// first: damage anywhere in it, then a path asked for that it lacks, then a missing chunk,
// then something in the target's way. Nothing is written in any case.
const missingChunk = () => ({ ...dataFile('ok/early'), chunks: [...base.chunks.slice(0, -1), 'e'.repeat(64)] });
const PRECEDENCE: { name: string; lines: () => unknown[]; include?: string[]; inTarget?: Record<string, string>; targetIsFile?: boolean; code: string }[] = [
  { name: 'a missing chunk, then a line that is not an object', lines: () => [dir('ok'), missingChunk(), 'not an object'], code: 'TAMPERED' },
  { name: 'a missing chunk, then ../escape', lines: () => [dir('ok'), missingChunk(), dataFile('../escape')], code: 'UNSAFE_PATH' },
  { name: 'a file in the way of directory ok, then ../escape', lines: () => [dir('ok'), dataFile('ok/data'), dataFile('../escape')], inTarget: { ok: 'in the way' }, code: 'UNSAFE_PATH' },
  { name: 'a file in the way, then a missing chunk', lines: () => [dir('ok'), dataFile('ok/data'), missingChunk()], inTarget: { ok: 'in the way' }, code: 'CORRUPTED_POINT' },
  { name: '--include of a file with a missing chunk and of a path not there', lines: () => [dir('ok'), missingChunk()], include: ['ok/early', 'nope'], code: 'NOT_FOUND' },
  { name: '--include / and a path not there', lines: () => [dir('ok'), dataFile('ok/data')], include: ['/', 'nope'], code: 'NOT_FOUND' },
  { name: '--include of a path not there, into a target that is a file', lines: () => [dir('ok'), dataFile('ok/data')], include: ['ok/nope'], targetIsFile: true, code: 'NOT_FOUND' },
];

for (const { name, lines, include, inTarget, targetIsFile, code } of PRECEDENCE) {
  test(`${code} first: ${name}; nothing written`, async () => {
    await using tmp = await tempDir('bunker-hostile-');
    let { target } = await sandbox(tmp.path);
    if (inTarget) for (const [path, text] of Object.entries(inTarget)) await writeFile(join(target, path), text);
    if (targetIsFile) await writeFile(target = join(tmp.path, 'a-file'), 'not a directory');
    const before = await snapshotTree(tmp.path);
    const crafted = await craft([header, ...lines()]);
    for (const heldManifestBytes of [undefined, 0]) {
      const error = await restore(crafted.repo, crafted.point, new DirectoryRestoreSink(target), { ...(include ? { include } : {}), ...(heldManifestBytes === undefined ? {} : { heldManifestBytes }) })
        .then(() => undefined, (e: unknown) => e);
      assert.is((error as BunkerError)?.code, code, `${name}: ${String(error)}`);
      assert.equal(await snapshotTree(tmp.path), before, 'nothing written');
    }
  });
}

test('a damaged manifest is reported before a missing index, whichever read fails first', async () => {
  await using tmp = await tempDir('bunker-hostile-');
  const { target } = await sandbox(tmp.path);
  const before = await snapshotTree(tmp.path);
  const crafted = await craft([header, dir('ok'), dataFile('ok/data'), 'not an object']);
  const indexKeys = [...crafted.storage.objects.keys()].filter((key) => key.startsWith('index/'));
  assert.ok(indexKeys.length > 0);
  for (const key of indexKeys) crafted.storage.objects.delete(key);
  assertCode(await restoreError(crafted, target), 'TAMPERED', `trees/${base.id}`, 'manifest and index damaged');
  assert.equal(await snapshotTree(tmp.path), before, 'nothing written');
});

test('check names a chunk that is in no index and the file that uses it, and reads the rest', async () => {
  const crafted = await craft([header, dir('ok'), dataFile('ok/data'), { ...dataFile('ok/late'), chunks: [...base.chunks.slice(0, -1), 'e'.repeat(64)] }]);
  const report = await checkRepository(crafted.repo, { readData: true, resolver: fixedResolver(PASSWORD) });
  assert.equal(report.problems, [{ code: 'CORRUPTED_POINT', object: `trees/${base.id}`, message: `chunk ${'e'.repeat(16)} of "ok/late" is in no index` }]);
  assert.is(report.chunksChecked, base.chunks.length, 'every indexed chunk was still read, each once');
});

test.run();
