/**
 * `bunker backup --stdin` streams: standard input is one file of unknown size (0 when listed),
 * and the backup's read-ahead must not take it for a small file and hold all of it before the
 * first chunk is stored. Measured by how much of stdin was pulled when the first pack is written.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backup, MemoryStorage, Repository, restore, type Storage } from '../core/mod.ts';
import { stdinSource } from '../cli/commands/backup.ts';
import { fixedResolver, memoryIo, pseudoRandomBytes, SMALL_CHUNKER, TEST_KDF } from './helpers.ts';
import { MemorySink } from './bad-input-kit.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';

await loadWasmFromPackages();
const MiB = 1024 * 1024;
const PIECES = 48;

test('stdin streams into the backup: the first pack is stored long before stdin is all read; the bytes restore exactly', async () => {
  const piece = pseudoRandomBytes(MiB, 17);
  let pulled = 0;
  const io = { ...memoryIo(), stdin: async function* () {
    for (let i = 0; i < PIECES; i++) {
      pulled += MiB;
      yield piece.slice();
    }
  } };
  const inner = new MemoryStorage();
  let pulledAtFirstPack: number | undefined;
  const storage: Storage = Object.assign(Object.create(Object.getPrototypeOf(inner)), inner, {
    put: (key: string, data: Uint8Array) => {
      if (key.startsWith('packs/')) pulledAtFirstPack ??= pulled;
      return inner.put(key, data);
    },
  });
  const repo = await Repository.init(storage, { chunker: SMALL_CHUNKER, packTargetBytes: MiB });
  const result = await backup(repo, stdinSource(io, 'dump.bin'), { series: 's', encrypt: true, compressionLevel: 1, resolver: fixedResolver('pw'), kdf: TEST_KDF });
  assert.is(result.stats.bytes, PIECES * MiB);
  assert.ok(pulledAtFirstPack !== undefined && pulledAtFirstPack <= 16 * MiB, `${(pulledAtFirstPack ?? 0) / MiB} MiB of stdin pulled before the first pack was stored`);
  const sink = new MemorySink();
  const reopened = await Repository.open(inner);
  await restore(reopened, await reopened.unlock(await reopened.resolvePoint(result.pointId), fixedResolver('pw')), sink);
  const back = sink.files.get('dump.bin')!;
  assert.is(back.length, PIECES * MiB);
  for (let i = 0; i < PIECES; i++) {
    const part = back.subarray(i * MiB, (i + 1) * MiB);
    assert.ok(part.every((b, j) => b === piece[j]), `piece ${i} exact`);
  }
});

test.run();
