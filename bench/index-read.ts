/**
 * Reading a point's chunk index (every run's index/<run id>, decrypted, decoded and merged) and
 * planning a full restore against it: the work a restore, a rerun and a check do before the
 * first chunk moves. Warm cache, in one process, so only the code's own cost is measured.
 *
 *   BUNKER_PASSWORD=… node --expose-gc bench/index-read.ts --repo DIR [--rounds 10]
 *
 * Prints each step's first (as in a command, cold JIT) and median time in ms, and the memory the
 * index holds once built (with --expose-gc).
 */
import { parseArgs } from 'node:util';
import { DirectoryStorage } from '../core/host/directory-storage.ts';
import { PasswordKeyResolver, Repository } from '../core/mod.ts';
import { checkChunks } from '../core/restore.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';

const { values } = parseArgs({ options: { repo: { type: 'string' }, rounds: { type: 'string', default: '10' } } });
if (values.repo === undefined) throw new Error('usage: node bench/index-read.ts --repo DIR [--rounds N]');
await loadWasmFromPackages();
const repo = await Repository.open(new DirectoryStorage(values.repo));
const record = (await repo.listPoints()).at(-1);
if (record === undefined) throw new Error(`no point in ${values.repo}`);
const point = await repo.unlock(record, new PasswordKeyResolver(async () => process.env.BUNKER_PASSWORD));
const manifest = await repo.readManifest(point);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const gc = (globalThis as { gc?: () => void }).gc;
// The index's own objects and its typed arrays (outside the heap).
const heldBytes = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const read: number[] = [];
const plan: number[] = [];
let held = 0;
let size = 0;
for (let round = 0; round < Number(values.rounds); round++) {
  gc?.();
  const before = heldBytes();
  let started = performance.now();
  const index = await repo.readIndex(point);
  read.push(performance.now() - started);
  gc?.();
  // The first round only: later ones start with the previous index still in a register.
  if (round === 0) held = heldBytes() - before;
  size = index.size;
  started = performance.now();
  checkChunks(manifest.entries, index, point.id);
  plan.push(performance.now() - started);
}
console.log(JSON.stringify({
  runs: record.body.runs.length, entries: size,
  firstReadIndexMs: Number(read[0]!.toFixed(1)), firstPlanMs: Number(plan[0]!.toFixed(1)),
  readIndexMs: Number(median(read).toFixed(1)), planMs: Number(median(plan).toFixed(1)),
  ...(gc ? { firstHeldMiB: Number((held / 2 ** 20).toFixed(1)) } : {}),
}));
