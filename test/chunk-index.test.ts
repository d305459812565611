/**
 * ChunkIndex reads like the Map<string, IndexEntry> it replaced: the same entries, the same
 * order, a later entry for an id winning in place. Checked against a Map under the operations a
 * backup, a restore and a check make, through several growths of the arrays and the table.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChunkIndex, type IndexEntry } from '../core/repo/chunk-index.ts';
import { encodeRunIndex, parseRunIndex } from '../core/repo/run-index.ts';
import { BunkerError } from '../core/errors.ts';

function tampered(run: () => unknown): void {
  assert.throws(run, (error: unknown) => error instanceof BunkerError && error.code === 'TAMPERED');
}

/** A small deterministic generator, so a failure names a reproducible case. */
function generator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return s;
  };
}

function hexId(next: () => number): string {
  let out = '';
  for (let i = 0; i < 8; i++) out += next().toString(16).padStart(8, '0');
  return out;
}

const PACKS = ['a', 'b', 'c', 'd'].map((c) => c.repeat(64));
const RUNS = ['1', '2', '3'].map((c) => c.repeat(64));

function randomEntry(next: () => number): IndexEntry {
  return { packId: PACKS[next() % PACKS.length]!, offset: next(), length: next() % 5_000_000, rawLength: next() % 5_000_000, codec: (next() % 2) as 0 | 1, runId: RUNS[next() % RUNS.length]! };
}

test('set, get, has and iteration match a Map through many growths, overwrites in place', () => {
  const next = generator(7);
  const index = new ChunkIndex();
  const reference = new Map<string, IndexEntry>();
  const ids: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    // One set in ten overwrites an id set before.
    const id = ids.length > 0 && next() % 10 === 0 ? ids[next() % ids.length]! : hexId(next);
    if (!reference.has(id)) ids.push(id);
    const entry = randomEntry(next);
    index.set(id, entry);
    reference.set(id, entry);
  }
  assert.is(index.size, reference.size);
  assert.equal([...index], [...reference], 'entries, in insertion order');
  assert.equal([...index.keys()], [...reference.keys()]);
  for (const id of ids) assert.equal(index.get(id), reference.get(id));
  for (let i = 0; i < 1000; i++) {
    const absent = hexId(next);
    assert.is(index.has(absent), false);
    assert.is(index.get(absent), undefined);
  }
  const bytes = index.idBytes();
  assert.is(bytes.length, 32 * reference.size);
  assert.is([...bytes.subarray(32, 64)].map((b) => b.toString(16).padStart(2, '0')).join(''), ids[1]);
});

test('packEnds: per pack, the end of its last entry, as the entries say after overwrites and merges', () => {
  const next = generator(77);
  const index = new ChunkIndex();
  const model = new Map<string, IndexEntry>();
  const packs = ['p1', 'p2', 'p3', 'p4'];
  for (let i = 0; i < 3000; i++) {
    const id = i % 7 === 6 ? [...model.keys()][next() % model.size]! : hexId(next);
    const entry: IndexEntry = { packId: packs[next() % packs.length]!, offset: 16 + (next() % 100_000), length: 1 + (next() % 5000), rawLength: 1, codec: 0, runId: 'r' };
    index.set(id, entry);
    model.set(id, entry);
  }
  // p4's only entry is set again in p1: p4 is then in no entry.
  const only = hexId(next);
  index.set(only, { packId: 'p5', offset: 16, length: 10, rawLength: 10, codec: 0, runId: 'r' });
  index.set(only, { packId: 'p1', offset: 16, length: 10, rawLength: 10, codec: 0, runId: 'r' });
  model.set(only, { packId: 'p1', offset: 16, length: 10, rawLength: 10, codec: 0, runId: 'r' });
  const expected = new Map<string, number>();
  for (const e of model.values()) expected.set(e.packId, Math.max(expected.get(e.packId) ?? 0, e.offset + e.length));
  assert.equal(new Map([...index.packEnds()].sort()), new Map([...expected].sort()));
  assert.not.ok(index.packEnds().has('p5'));
  const merged = new ChunkIndex();
  merged.merge(index);
  assert.equal(new Map([...merged.packEnds()].sort()), new Map([...expected].sort()));
});

test('an id that is not 64 lowercase hex digits is absent, and cannot be set', () => {
  const index = ChunkIndex.from([['ab'.repeat(32), randomEntry(generator(1))]]);
  assert.ok(index.has('ab'.repeat(32)));
  assert.is(index.has('AB'.repeat(32)), false);
  assert.is(index.get('ab'.repeat(31)), undefined);
  assert.is(index.has('zz'.repeat(32)), false);
  assert.throws(() => index.set('AB'.repeat(32), randomEntry(generator(2))), /lowercase hex/);
  assert.is(index.size, 1);
});

test('merge: the other index\'s entries in its order, a later run winning, as readIndex needs', () => {
  const next = generator(11);
  const first = new ChunkIndex();
  const second = new ChunkIndex();
  const reference = new Map<string, IndexEntry>();
  const shared: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const id = hexId(next);
    const entry = randomEntry(next);
    first.set(id, entry);
    reference.set(id, entry);
    if (i % 3 === 0) shared.push(id);
  }
  for (let i = 0; i < 3000; i++) {
    const id = i < shared.length ? shared[i]! : hexId(next);
    const entry = { ...randomEntry(next), packId: 'e'.repeat(64), runId: '4'.repeat(64) };
    second.set(id, entry);
  }
  const merged = new ChunkIndex();
  merged.merge(first);
  merged.merge(second);
  for (const [id, entry] of second) reference.set(id, entry);
  assert.equal([...merged], [...reference]);
});

test('encode then parse gives the same index; pack numbers follow first use whatever the index order', () => {
  const next = generator(5);
  const index = new ChunkIndex();
  // Packs named in the order d, a, ... so that the index's own numbering differs from first use
  // after the first entries are overwritten.
  for (let i = 0; i < 500; i++) index.set(hexId(next), { ...randomEntry(next), runId: RUNS[0]! });
  const encoded = encodeRunIndex(index);
  const parsed = new ChunkIndex();
  parseRunIndex(encoded, RUNS[0]!, parsed);
  assert.equal([...parsed], [...index]);
  const firstUse = [...new Set([...index.values()].map((e) => e.packId))];
  const packCount = new DataView(encoded.buffer).getUint32(0);
  assert.is(packCount, firstUse.length);
  const listed = Array.from({ length: packCount }, (_, i) => [...encoded.subarray(4 + 32 * i, 36 + 32 * i)].map((b) => b.toString(16).padStart(2, '0')).join(''));
  assert.equal(listed, firstUse);
});

test('a malformed run index is refused (TAMPERED) and adds nothing', () => {
  const next = generator(3);
  const good = new ChunkIndex();
  for (let i = 0; i < 10; i++) good.set(hexId(next), { ...randomEntry(next), runId: RUNS[1]! });
  const encoded = encodeRunIndex(good);
  const into = new ChunkIndex();
  const kept = hexId(next);
  into.set(kept, randomEntry(next));
  // The last entry's codec byte set to 2.
  const badCodec = encoded.slice();
  badCodec[badCodec.length - 1] = 2;
  tampered(() => parseRunIndex(badCodec, RUNS[1]!, into));
  // The last entry's pack number out of range.
  const badPack = encoded.slice();
  new DataView(badPack.buffer).setUint32(badPack.length - 49 + 32, 99);
  tampered(() => parseRunIndex(badPack, RUNS[1]!, into));
  tampered(() => parseRunIndex(encoded.subarray(0, encoded.length - 1), RUNS[1]!, into));
  assert.equal([...into.keys()], [kept], 'nothing added by a refused index');
});

test('the pack list follows first use by the entries, not the order packs were first named', () => {
  const [first, second] = [hexId(generator(21)), hexId(generator(22))];
  const index = new ChunkIndex();
  const entry = (packId: string): IndexEntry => ({ packId, offset: 0, length: 1, rawLength: 1, codec: 0, runId: RUNS[0]! });
  index.set(first, entry(PACKS[0]!));
  index.set(second, entry(PACKS[1]!));
  // `first` moves to a third pack: pack a is no longer used, and c is used before b.
  index.set(first, entry(PACKS[2]!));
  const encoded = encodeRunIndex(index);
  const view = new DataView(encoded.buffer);
  assert.is(view.getUint32(0), 2);
  const listed = [0, 1].map((i) => [...encoded.subarray(4 + 32 * i, 36 + 32 * i)].map((b) => b.toString(16).padStart(2, '0')).join(''));
  assert.equal(listed, [PACKS[2], PACKS[1]]);
  const parsed = new ChunkIndex();
  parseRunIndex(encoded, RUNS[0]!, parsed);
  assert.equal([...parsed], [...index]);
});

test('a thousand small run indexes read into one index: every entry, the latest run winning', () => {
  const next = generator(31);
  const into = new ChunkIndex();
  const reference = new Map<string, IndexEntry>();
  const ids: string[] = [];
  for (let run = 0; run < 1000; run++) {
    const runId = run.toString(16).padStart(64, '0');
    const entries = new ChunkIndex();
    for (let i = 0; i < 8; i++) {
      // Some entries repeat an id an earlier run stored.
      const id = ids.length > 0 && i % 4 === 0 ? ids[next() % ids.length]! : hexId(next);
      if (!reference.has(id) && !entries.has(id)) ids.push(id);
      entries.set(id, { ...randomEntry(next), runId });
    }
    parseRunIndex(encodeRunIndex(entries), runId, into);
    for (const [id, entry] of entries) reference.set(id, entry);
  }
  assert.is(into.size, reference.size);
  assert.equal([...into], [...reference]);
});

test('ids that share their first 24 bytes are told apart by the last 8', () => {
  const prefix = 'ab'.repeat(24);
  const index = new ChunkIndex();
  const ids = Array.from({ length: 300 }, (_, i) => prefix + i.toString(16).padStart(16, '0'));
  ids.forEach((id, i) => index.set(id, { packId: PACKS[0]!, offset: i, length: 1, rawLength: 1, codec: 0, runId: RUNS[0]! }));
  assert.is(index.size, 300);
  ids.forEach((id, i) => assert.is(index.get(id)?.offset, i, id));
  assert.is(index.has(prefix + 'f'.repeat(16)), false);
});

test('the arrays grow by half at least: a thousand small reserves copy the entries a few times, not a thousand', () => {
  const next = generator(41);
  const index = new ChunkIndex();
  const capacities = new Set<number>();
  for (let run = 0; run < 1000; run++) {
    index.reserve(40);
    for (let i = 0; i < 40; i++) index.set(hexId(next), randomEntry(next));
    capacities.add(index.capacity);
  }
  assert.is(index.size, 40_000);
  assert.ok(index.capacity >= 40_000 && index.capacity < 40_000 * 2, `capacity ${index.capacity}`);
  // 40 → 40,000 by ×1.5 is 17 growths; growing to the exact size asked would be 1000.
  assert.ok(capacities.size <= 20, `${capacities.size} different capacities`);
});

test.run();
