/**
 * The parallel pipeline (codec workers): same repository and bytes whatever the worker count,
 * WASM and native zstd read each other's chunks, a dying worker fails the backup cleanly,
 * and memory stays flat over a 1 GiB stream.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { readdir, readFile } from 'node:fs/promises';
import { backup, bytesReader, MemoryStorage, Repository, restore, checkRepository, type Source } from '../core/mod.ts';
import { planChunks, readChunks, selectEntries } from '../core/restore.ts';
import { inlineCodecPool } from '../core/codec-pool.ts';
import { fsSource } from '../core/host/fs-source.ts';
import { DirectoryRestoreSink } from '../core/host/fs-restore-sink.ts';
import { INLINE_BELOW_BYTES, nativeMetadataZstd, workerCodecPool } from '../core/host/worker-codec-pool.ts';
import { useWorkers } from '../cli/context.ts';
import { packKey } from '../core/repo/pack.ts';
import { Profile } from '../core/profile.ts';
import { webCryptoSealPrimitives } from '../core/chunk-sealer.ts';
import { nodeSealPrimitives } from '../core/host/node-seal-primitives.ts';
import type { Storage } from '../core/storage/storage.ts';
import { fixedResolver, memoryRepo, pseudoRandomBytes, RUNTIME, tempDir, TEST_KDF } from './helpers.ts';
import { ageTree, snapshotTree, writeTree } from './tree.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';

// Loaded here, not by whichever test happens to run first: each test can run on its own.
await loadWasmFromPackages();

const CHUNKER = { minBytes: 64 * 1024, avgBytes: 128 * 1024, maxBytes: 512 * 1024 };

function mixedTree(): Record<string, Uint8Array | string> {
  const text = new TextEncoder().encode('the quick brown fox jumps over the lazy dog\n'.repeat(40_000));
  return {
    'random.bin': pseudoRandomBytes(1_500_000, 11),
    'text.txt': text,
    'small.txt': 'small',
    'sub/mixed.bin': new Uint8Array([...pseudoRandomBytes(300_000, 12), ...text.subarray(0, 500_000)]),
  };
}

/** Pack contents in order of their appearance in the index, with pack ids replaced by sequence numbers. */
async function packSequence(repo: Repository, storage: MemoryStorage): Promise<string[]> {
  const point = await repo.unlock(await repo.resolvePoint('latest'), undefined);
  const index = await repo.readIndex(point);
  const packs = [...new Set([...index.values()].map((e) => e.packId))];
  const out: string[] = [];
  for (const [id, e] of [...index.entries()].sort((a, b) => packs.indexOf(a[1].packId) - packs.indexOf(b[1].packId) || a[1].offset - b[1].offset)) {
    const blob = storage.objects.get(packKey(e.packId))!.subarray(e.offset, e.offset + e.length);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", blob as BufferSource));
    out.push(`${packs.indexOf(e.packId)}:${e.offset}:${id}:${e.codec}:${Array.from(digest.subarray(0, 8)).join('.')}`);
  }
  return out;
}

test('identical packs and restored bytes whatever the worker count (unencrypted, so bytes are comparable)', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  await writeTree(src, mixedTree());
  const results: string[][] = [];
  for (const workers of [0, 1, 2]) {
    const { repo, storage } = await memoryRepo({ chunker: CHUNKER });
    const pool = workers === 0 ? undefined : workerCodecPool({ workers, inline: repo.codecs });
    if (pool) repo.codecs = pool;
    try {
      await backup(repo, await fsSource([src]), { series: 's', encrypt: false, compressionLevel: 3, concurrency: 6 });
      results.push(await packSequence(repo, storage));
      const out = join(dir.path, `out${workers}`);
      await restore(repo, await repo.unlock(await repo.resolvePoint('latest'), undefined), new DirectoryRestoreSink(out));
      assert.equal(await snapshotTree(join(out, 'src')), await snapshotTree(src));
    } finally {
      await pool?.close();
    }
  }
  assert.ok(results[0]!.length > 10);
  assert.equal(results[1], results[0]);
  assert.equal(results[2], results[0]);
});

test('chunks compressed by native zstd restore with the WASM build, and the other way round', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  await writeTree(src, mixedTree());
  for (const [writeNative, readNative] of [[true, false], [false, true]]) {
    const { repo, storage } = await memoryRepo({ chunker: CHUNKER });
    const writer = workerCodecPool({ workers: 1, native: writeNative, inline: repo.codecs });
    repo.codecs = writer;
    await backup(repo, await fsSource([src]), { series: 's', encrypt: true, compressionLevel: 3, resolver: fixedResolver('pw'), kdf: TEST_KDF });
    await writer.close();
    const reopened = await Repository.open(storage);
    const reader = workerCodecPool({ workers: 1, native: readNative, inline: reopened.codecs });
    reopened.codecs = reader;
    const out = join(dir.path, `out-${writeNative}`);
    await restore(reopened, await reopened.unlock(await reopened.resolvePoint('latest'), fixedResolver('pw')), new DirectoryRestoreSink(out));
    await reader.close();
    assert.equal(await snapshotTree(join(out, 'src')), await snapshotTree(src));
    assert.equal(new Uint8Array(await readFile(join(out, 'src', 'text.txt'))), mixedTree()['text.txt']);
  }
});

test('a large run index, manifest and FSI are compressed on the codec threads (native zstd) and read back by the WASM build', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  const tree: Record<string, string> = {};
  for (let i = 0; i < 1500; i++) tree[`dir-${i % 30}/file-with-a-longish-name-${i}.txt`] = `content ${i}`;
  await writeTree(src, tree);
  const { repo, storage } = await memoryRepo({ chunker: CHUNKER });
  const pool = workerCodecPool({ workers: 1, native: true, inline: repo.codecs });
  const onThreads: number[] = [];
  repo.codecs = { ...pool, compress: (buffer, length, level) => {
    if (length >= INLINE_BELOW_BYTES) onThreads.push(length);
    return pool.compress(buffer, length, level);
  } };
  try {
    await backup(repo, await fsSource([src]), { series: 's', encrypt: true, compressionLevel: 3, resolver: fixedResolver('pw'), kdf: TEST_KDF });
  } finally {
    await pool.close();
  }
  assert.is(onThreads.length, 3, 'run index, manifest and FSI went to the codec thread');
  const reopened = await Repository.open(storage);
  const point = await reopened.unlock(await reopened.resolvePoint('latest'), fixedResolver('pw'));
  assert.is(storage.objects.get(`trees/${point.id}`)![7], 1, 'the manifest is a zstd STREAM');
  assert.is(storage.objects.get(`fsi/${point.id}`)![7], 1, 'the FSI is a zstd STREAM');
  const out = join(dir.path, 'out');
  await restore(reopened, point, new DirectoryRestoreSink(out));
  assert.equal(await snapshotTree(join(out, 'src')), await snapshotTree(src));
  assert.ok((await checkRepository(reopened, { resolver: fixedResolver('pw'), readData: true })).isOk, 'check passes');
});

test('metadata compressed by native zstd on the calling thread is read by the WASM build, and the other way round; the CLI uses it on Node only', async () => {
  const native = nativeMetadataZstd();
  const cli = await memoryRepo({ chunker: CHUNKER });
  useWorkers(cli.repo, { BUNKER_WORKERS: '0' });
  const wasmOnly = await memoryRepo({ chunker: CHUNKER });
  useWorkers(wasmOnly.repo, { BUNKER_WORKERS: '0', BUNKER_ZSTD: 'wasm' });
  assert.is(wasmOnly.repo.metadataZstd, wasmOnly.repo.zstd, 'BUNKER_ZSTD=wasm keeps the WASM build');
  if (RUNTIME === 'deno') {
    assert.is(native, undefined, 'Deno keeps the WASM build for metadata');
    assert.is(cli.repo.metadataZstd, cli.repo.zstd);
    return;
  }
  assert.ok(native !== undefined && cli.repo.metadataZstd === native, 'the CLI reads and writes metadata with native zstd');
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  const tree: Record<string, string> = {};
  for (let i = 0; i < 800; i++) tree[`dir-${i % 20}/file-${i}.txt`] = `content ${i}`;
  await writeTree(src, tree);
  await ageTree(src); // the rerun must find every file unchanged
  for (const writeNative of [true, false]) {
    const { repo, storage } = await memoryRepo({ chunker: CHUNKER });
    const options = { series: 's', encrypt: true, compressionLevel: 3, resolver: fixedResolver('pw'), kdf: TEST_KDF } as const;
    await backup(repo, await fsSource([src]), options);
    // A rerun that reads no file compresses its index, manifest and FSI on this thread.
    const calls = { compress: 0, decompress: 0 };
    const counted = (use: boolean) => (use ? {
      compress: (data: Uint8Array, level: number) => (calls.compress++, native.compress(data, level)),
      decompress: (frame: Uint8Array, size: number) => (calls.decompress++, native.decompress(frame, size)),
    } : repo.zstd);
    repo.metadataZstd = counted(writeNative);
    await backup(repo, await fsSource([src]), options);
    const reopened = await Repository.open(storage);
    reopened.metadataZstd = counted(!writeNative);
    const out = join(dir.path, `out-${writeNative}`);
    await restore(reopened, await reopened.unlock(await reopened.resolvePoint('latest'), fixedResolver('pw')), new DirectoryRestoreSink(out));
    assert.equal(await snapshotTree(join(out, 'src')), await snapshotTree(src));
    // Writing: the rerun's run index, manifest and FSI; reading: both runs' indexes, then the manifest.
    assert.equal(calls, writeNative ? { compress: 3, decompress: 2 } : { compress: 0, decompress: 3 }, `written by ${writeNative ? 'native' : 'WASM'}`);
  }
});

test('a worker dying mid-backup fails the backup with nothing committed; the next backup succeeds', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  await writeTree(src, mixedTree());
  const { repo, storage } = await memoryRepo({ chunker: CHUNKER });
  const pool = workerCodecPool({ workers: 2, inline: inlineCodecPool(repo.zstd) });
  let calls = 0;
  repo.codecs = {
    ...pool,
    threads: pool.threads,
    async startRun(keys, known) {
      const sealer = await pool.startRun(keys, known);
      return {
        ...sealer,
        sealBatch(buffer, items) {
          if (++calls === 3) pool.crashOneWorker();
          return sealer.sealBatch(buffer, items);
        },
      };
    },
  };
  const options = { series: 's', encrypt: true, compressionLevel: 3, resolver: fixedResolver('pw'), kdf: TEST_KDF } as const;
  let failure: unknown;
  try {
    await backup(repo, await fsSource([src]), options);
  } catch (error) {
    failure = error;
  }
  await pool.close();
  assert.instance(failure, Error);
  assert.match(String((failure as Error).message), 'codec worker');
  assert.equal(await repo.listPoints(), []);
  const report = await checkRepository(repo, { readData: true, resolver: fixedResolver('pw') });
  assert.is(report.isOk, true);
  assert.ok([...storage.objects.keys()].every((k) => !k.startsWith('points/')));

  repo.codecs = inlineCodecPool(repo.zstd);
  await backup(repo, await fsSource([src]), options);
  const out = join(dir.path, 'out');
  await restore(repo, await repo.unlock(await repo.resolvePoint('latest'), fixedResolver('pw')), new DirectoryRestoreSink(out));
  assert.equal(await snapshotTree(join(out, 'src')), await snapshotTree(src));
});

test('restore closes its opening threads however it ends, and a dead worker fails it cleanly (no crash)', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  await writeTree(src, mixedTree());
  const { repo } = await memoryRepo({ chunker: CHUNKER });
  const pool = workerCodecPool({ workers: 1, inline: inlineCodecPool(repo.zstd) });
  let opened = 0;
  let closed = 0;
  repo.codecs = {
    ...pool,
    threads: pool.threads,
    async startOpen(runKeys, verify) {
      const opener = await pool.startOpen(runKeys, verify);
      opened++;
      return { ...opener, async close() { closed++; await opener.close(); } };
    },
  };
  try {
    await backup(repo, await fsSource([src]), { series: 's', encrypt: true, compressionLevel: 3, resolver: fixedResolver('pw'), kdf: TEST_KDF });
    const point = await repo.unlock(await repo.resolvePoint('latest'), fixedResolver('pw'));
    // Success.
    await restore(repo, point, new DirectoryRestoreSink(join(dir.path, 'ok')));
    assert.equal([opened, closed], [1, 1], 'closed after a restore that succeeded');
    // The sink refuses before any data is read (something in the way).
    const blocked = join(dir.path, 'blocked');
    await writeTree(blocked, { src: 'a file where the point has a directory' });
    const refused = await restore(repo, point, new DirectoryRestoreSink(blocked)).then(() => undefined, (e: unknown) => e);
    assert.is((refused as { code?: string })?.code, 'ALREADY_EXISTS');
    assert.equal([opened, closed], [2, 2], 'closed after the sink refused');
    // The only worker is gone: starting the opening threads fails, and the restore says so.
    pool.crashOneWorker();
    const out = join(dir.path, 'dead');
    const failed = await restore(repo, point, new DirectoryRestoreSink(out)).then(() => undefined, (e: unknown) => e);
    assert.match(String((failed as Error)?.message), 'codec worker');
    assert.equal(await readdir(out).catch(() => []), [], 'nothing left in the target');
  } finally {
    await pool.close();
  }
});

/** Keeps small objects, discards pack bodies (but remembers they were written). */
class DiscardingStorage extends MemoryStorage {
  override async put(key: string, data: Uint8Array): Promise<boolean> {
    return super.put(key, key.startsWith('packs/') ? new Uint8Array(0) : data);
  }
}

test('peak memory stays flat while backing up a 1 GiB generated stream', async () => {
  const total = 1024 * 1024 * 1024;
  const block = new Uint8Array(1 << 20);
  const alphabet = pseudoRandomBytes(block.length, 99);
  // 16 symbols: compressible (about 2x), and a counter in every 4 KiB so nothing deduplicates.
  for (let i = 0; i < block.length; i++) block[i] = 0x41 + (alphabet[i]! & 0x0f);
  const generated = (total: number): Source => ({
    sources: ['generated'],
    host: 'test',
    async *entries() {
      let produced = 0;
      yield {
        path: 'stream.bin', type: 'file', mode: 0o600, mtimeMs: 0, size: total,
        open: async () => ({
          async read(into: Uint8Array) {
            const n = Math.min(into.length, total - produced, block.length);
            for (let i = 0; i < n; i += 4096) new DataView(block.buffer).setFloat64(i, produced + i);
            into.set(block.subarray(0, n));
            produced += n;
            return n;
          },
          async close() {},
        }),
      };
    },
  });
  const storage: Storage = new DiscardingStorage();
  const repo = await Repository.init(storage);
  const pool = workerCodecPool({ inline: repo.codecs });
  repo.codecs = pool;
  const options = { series: 's', encrypt: true, compressionLevel: 1, resolver: fixedResolver('pw'), kdf: TEST_KDF } as const;
  let baseline = 0;
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  try {
    // A first, small run brings up the threads, their WASM memories and the buffer pools: what
    // is measured after it is what grows with the data, whatever ran before in this process.
    await backup(repo, generated(64 * 1024 * 1024), { ...options, series: 'warm-up' });
    baseline = peak = process.memoryUsage().rss;
    const result = await backup(repo, generated(total), options);
    assert.is(result.stats.bytesRead, total);
    assert.ok(result.stats.chunksNew >= 256, `only ${result.stats.chunksNew} chunks`);
  } finally {
    clearInterval(timer);
    await pool.close();
  }
  const grownMiB = (peak - baseline) / (1 << 20);
  // Generous: buffers in flight are a few tens of MiB, and when V8 and glibc give memory back
  // varies (21-318 MiB grown in 20 runs of this test alone); holding half the stream fails it.
  assert.ok(grownMiB < 512, `RSS grew by ${grownMiB.toFixed(0)} MiB`);
});

test('restore holds at most 32 MiB of decompressed data read ahead, plus the read being handed out and one more (8 MiB each at most), however well the data compresses', async () => {
  // 96 MiB of text that compresses ~30-fold, a counter in every line so nothing deduplicates.
  const total = 96 * 1024 * 1024;
  const line = (n: number) => `line ${String(n).padStart(12, '0')} of a file that compresses very well indeed\n`;
  let text = '';
  for (let n = 0; text.length < total; n++) text += line(n);
  const data = new TextEncoder().encode(text.slice(0, total));
  const source: Source = {
    sources: ['generated'],
    host: 'test',
    async *entries() {
      yield { path: 'big.txt', type: 'file', mode: 0o600, mtimeMs: 0, size: data.length, open: async () => bytesReader(data) };
    },
  };
  const { repo, storage } = await memoryRepo({ chunker: CHUNKER });
  await backup(repo, source, { series: 's', encrypt: true, compressionLevel: 3, resolver: fixedResolver('pw'), kdf: TEST_KDF });
  const point = await repo.unlock(await repo.resolvePoint('latest'), fixedResolver('pw'));
  const [manifest, index] = await Promise.all([repo.readManifest(point), repo.readIndex(point)]);
  const refs = planChunks(selectEntries(manifest, undefined), index, point.id);
  const stored = refs.reduce((n, r) => n + r.entry.length, 0);
  assert.ok(stored * 10 < total, `the data compresses (${stored} bytes stored)`);
  // What each read from a pack holds once decompressed, from the index.
  const rawAt = new Map(refs.map((r) => [`${packKey(r.entry.packId)}@${r.entry.offset}`, r.entry] as const));
  const reads: number[] = [];
  const getRange = storage.getRange.bind(storage);
  storage.getRange = (key, offset, length) => {
    let raw = 0;
    for (let at = offset; at < offset + length;) {
      const entry = rawAt.get(`${key}@${at}`)!;
      raw += entry.rawLength;
      at += entry.length;
    }
    reads.push(raw);
    return getRange(key, offset, length);
  };
  const chunks = readChunks(repo, point, refs, { concurrency: 64 });
  let consumed = 0;
  let readsBefore = 0;
  for await (const chunk of chunks) {
    consumed += chunk.length;
    // Everything requested and not yet handed out is what waits in memory.
    const requested = reads.reduce((n, r) => n + r, 0);
    assert.ok(Math.max(...reads) <= 8 << 20, `a read of ${Math.max(...reads)} bytes decompressed`);
    assert.ok(requested - consumed <= (32 << 20) + 2 * (8 << 20), `${requested - consumed} bytes read ahead`);
    readsBefore = reads.length;
  }
  assert.is(consumed, total);
  assert.ok(readsBefore >= 12, `${readsBefore} reads: the bound was exercised`);
});

test('node:crypto sealing primitives produce the same bytes as the WebCrypto ones', async () => {
  const data = pseudoRandomBytes(100_000, 21);
  const payload = pseudoRandomBytes(40_000, 22);
  for (const keys of [
    { chunkIdAlgorithm: 1 as const, chunkIdKey: pseudoRandomBytes(32, 1), dataKey: pseudoRandomBytes(32, 2), level: 3 },
    { chunkIdAlgorithm: 1 as const, level: 3 },
  ]) {
    const web = await webCryptoSealPrimitives(keys);
    const node = await nodeSealPrimitives(keys);
    const id = await web.chunkId(data);
    assert.equal(new Uint8Array(await node.chunkId(data)), new Uint8Array(id));
    for (const codec of [0, 1] as const) {
      assert.equal(new Uint8Array(await node.seal(77, id, codec, 123_456, payload)), new Uint8Array(await web.seal(77, id, codec, 123_456, payload)));
    }
  }
});

test('--profile reports every stage: backup read, chunk, hash, compress, encrypt, write; restore fetch, decrypt, decompress, output', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  await writeTree(src, mixedTree());
  for (const workers of [0, 1]) {
    const { repo } = await memoryRepo({ chunker: CHUNKER });
    const pool = workers === 0 ? undefined : workerCodecPool({ workers, inline: repo.codecs });
    if (pool) repo.codecs = pool;
    try {
      const backupProfile = new Profile();
      const made = await backup(repo, await fsSource([src]), { series: 's', encrypt: true, compressionLevel: 3, resolver: fixedResolver('pw'), kdf: TEST_KDF, profile: backupProfile });
      const restoreProfile = new Profile();
      const point = await repo.unlock(await repo.resolvePoint('latest'), fixedResolver('pw'));
      await restore(repo, point, new DirectoryRestoreSink(join(dir.path, `out${workers}`)), { profile: restoreProfile });
      const label = workers === 0 ? 'inline' : 'on a worker';
      for (const stage of ['walk', 'read', 'chunk', 'hash', 'compress', 'encrypt', 'seal', 'write'] as const) {
        assert.type(backupProfile.ms[stage], 'number', `backup ${stage} (${label})`);
        assert.ok(backupProfile.ms[stage]! >= 0, `backup ${stage} (${label})`);
      }
      assert.equal(Object.keys(made.profile ?? {}).sort(), Object.keys(backupProfile.ms).sort(), 'the result carries the profile');
      for (const stage of ['plan', 'fetch', 'open', 'decrypt', 'decompress', 'output', 'commit'] as const) {
        assert.type(restoreProfile.ms[stage], 'number', `restore ${stage} (${label})`);
        assert.ok(restoreProfile.ms[stage]! >= 0, `restore ${stage} (${label})`);
      }
      // Sealing and opening happen inside the batch round trips they are part of.
      assert.ok(backupProfile.ms.hash! + backupProfile.ms.compress! + backupProfile.ms.encrypt! > 0, `some sealing time is seen (${label})`);
      assert.ok(restoreProfile.ms.decrypt! + restoreProfile.ms.decompress! > 0, `some opening time is seen (${label})`);
    } finally {
      await pool?.close();
    }
  }
});

test.run();
