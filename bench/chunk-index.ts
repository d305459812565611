/**
 * ChunkIndex under the two shapes that once made it quadratic: a point of many small runs (one
 * reserve per run) and ids that share a long prefix (a damaged or crafted index). In-memory,
 * one process; prints each case's median in ms.
 *
 *   node bench/chunk-index.ts [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { ChunkIndex } from '../core/repo/chunk-index.ts';
import { encodeRunIndex, parseRunIndex } from '../core/repo/run-index.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(values.rounds);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
const entry = (i: number, runId: string) => ({ packId: hex(i % 97, 64), offset: i, length: 1000, rawLength: 2000, codec: 1 as const, runId });

function manyRuns(runs: number, perRun: number): () => void {
  const encoded = Array.from({ length: runs }, (_, r) => {
    const index = new ChunkIndex();
    for (let i = 0; i < perRun; i++) index.set(hex(r, 32) + hex(i, 32), entry(i, hex(r, 64)));
    return encodeRunIndex(index);
  });
  return () => {
    const into = new ChunkIndex();
    encoded.forEach((bytes, r) => parseRunIndex(bytes, hex(r, 64), into));
    if (into.size !== runs * perRun) throw new Error('lost entries');
  };
}

function sharedPrefix(count: number, shared: number): () => void {
  const prefix = 'ab'.repeat(shared);
  const ids = Array.from({ length: count }, (_, i) => prefix + hex(i, 64 - 2 * shared));
  return () => {
    const index = new ChunkIndex();
    ids.forEach((id, i) => index.set(id, entry(i, hex(0, 64))));
    for (const id of ids) if (!index.has(id)) throw new Error('lost an id');
  };
}

const cases: [string, () => void][] = [
  ['1000 runs x 40 entries, parsed into one index', manyRuns(1000, 40)],
  ['40,000 ids sharing their first 8 bytes', sharedPrefix(40_000, 8)],
  ['40,000 ids sharing their first 24 bytes', sharedPrefix(40_000, 24)],
];
for (const [name, run] of cases) {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  console.log(`${name}: first ${times[0]!.toFixed(0)} ms, median ${median(times).toFixed(0)} ms`);
}
