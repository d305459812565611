/**
 * ByteRing and the backup read-ahead that reads small files into it: every file's bytes come
 * back exact, and no range is handed out twice while a read into it may still be running.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteRing, type RingSlice } from '../core/byte-ring.ts';
import { prefetch } from '../core/prefetch.ts';
import type { SourceEntry } from '../core/source.ts';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsSource } from '../core/host/fs-source.ts';
import { tempDir } from './helpers.ts';

function overlaps(a: Uint8Array, b: Uint8Array): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;
}

test('ring: ranges never overlap a live one, wrap around, and come back oldest first', () => {
  const ring = new ByteRing(100);
  const a = ring.take(40)!;
  const b = ring.take(40)!;
  assert.is(ring.take(30), undefined, 'only 20 bytes left at the end, none before the oldest');
  a.release();
  const c = ring.take(30)!;
  assert.is(c.bytes.byteOffset, 0, 'wrapped to the start');
  assert.not.ok(overlaps(c.bytes, b.bytes));
  assert.is(ring.take(11), undefined, 'only 10 bytes between the newest and the oldest');
  const d = ring.take(10)!;
  assert.is(d.bytes.byteOffset, 30);
  assert.is(ring.usedBytes, 80);
  // Released out of order: b's room returns only when the older ranges before it are gone.
  d.release();
  assert.is(ring.take(5), undefined);
  b.release();
  c.release();
  assert.is(ring.usedBytes, 0);
  assert.is(ring.take(100)!.bytes.length, 100);
});

test('ring: once disposed, no more ranges; those taken keep their bytes', () => {
  const ring = new ByteRing(10);
  const slice = ring.take(4)!;
  slice.bytes.set([1, 2, 3, 4]);
  ring.dispose();
  assert.is(ring.take(1), undefined);
  assert.equal([...slice.bytes], [1, 2, 3, 4]);
});

test('ring: a range larger than the ring, or empty, is refused', () => {
  const ring = new ByteRing(10);
  assert.is(ring.take(11), undefined);
  assert.throws(() => ring.take(0), /at least 1 byte/);
  assert.throws(() => new ByteRing(0), /positive/);
});

test('ring: random take/release never hands out a byte twice', () => {
  const ring = new ByteRing(1000);
  const live: RingSlice[] = [];
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let taken = 0;
  for (let i = 0; i < 20_000; i++) {
    if (live.length > 0 && random() < 0.45) {
      live.splice(Math.floor(random() * live.length), 1)[0]!.release();
      continue;
    }
    const length = 1 + Math.floor(random() * 300);
    const slice = ring.take(length);
    if (slice === undefined) continue;
    taken++;
    assert.is(slice.bytes.length, length);
    for (const other of live) assert.not.ok(overlaps(slice.bytes, other.bytes), `overlap at step ${i}`);
    live.push(slice);
  }
  assert.ok(taken > 5000);
});

/** Files whose readAll(into) end when the test says so; a read that starts in memory another read still uses is recorded. */
function slowFiles(count: number, size: number) {
  const running = new Map<string, Uint8Array>();
  const gates = new Map<string, () => void>();
  const clashes: string[] = [];
  let intoRing = 0;
  const entries: SourceEntry[] = Array.from({ length: count }, (_, i) => {
    const path = `f${i}`;
    return {
      path, type: 'file', mode: 0o644, mtimeMs: 0, size,
      open: () => Promise.reject(new Error('not used')),
      readAll: async (into) => {
        if (into !== undefined) {
          intoRing++;
          for (const [other, range] of running) if (overlaps(range, into)) clashes.push(`${path} over ${other}`);
          running.set(path, into);
        }
        await new Promise<void>((resolve) => gates.set(path, resolve));
        const out = into !== undefined && into.length > size ? into : new Uint8Array(size);
        out.fill(i, 0, size);
        running.delete(path);
        return out.subarray(0, size);
      },
    };
  });
  return { entries, gates, clashes, intoRing: () => intoRing };
}

test('read-ahead: a range a file is still being read into is not given to another file', async () => {
  const files = slowFiles(60, 60);
  async function* entries() {
    yield* files.entries;
  }
  // A ring of 200 + 3 × 101 bytes: a few files at a time.
  const walk = prefetch(entries(), { smallFileBytes: 100, maxEntries: 8, maxBytes: 200, shouldRead: () => true });
  let seen = 0;
  for await (const item of walk) {
    seen++;
    const index = Number(item.entry.path.slice(1));
    // Every third file's content is left unawaited: its read goes on after the consumer moves on,
    // and ends some files later.
    if (index % 3 === 0) continue;
    while (!files.gates.has(item.entry.path)) await new Promise((resolve) => setTimeout(resolve, 0));
    files.gates.get(item.entry.path)!();
    files.gates.delete(item.entry.path);
    assert.equal(await item.content, new Uint8Array(60).fill(index), `content of ${item.entry.path}`);
    if (index % 12 === 11) {
      for (const [path, open] of [...files.gates]) {
        if (Number(path.slice(1)) % 3 !== 0 || Number(path.slice(1)) > index) continue;
        open();
        files.gates.delete(path);
      }
    }
  }
  for (const open of files.gates.values()) open();
  assert.is(seen, 60);
  assert.equal(files.clashes, []);
  assert.ok(files.intoRing() > 30, `most files read into the ring (${files.intoRing()})`);
});

test('read-ahead: a file that grew past its ring range comes back whole', async () => {
  const grown = new Uint8Array(500).map((_, i) => i & 0xff);
  const entry: SourceEntry = {
    path: 'grew', type: 'file', mode: 0o644, mtimeMs: 0, size: 10,
    open: () => Promise.reject(new Error('not used')),
    readAll: async (into) => {
      assert.is(into?.length, 11);
      return grown.slice();
    },
  };
  async function* entries() {
    yield entry;
  }
  const items = [];
  for await (const item of prefetch(entries(), { smallFileBytes: 100, maxEntries: 8, maxBytes: 200, shouldRead: () => true })) items.push(await item.content);
  assert.equal(items, [grown]);
});

test('read-ahead: an error from the walk reaches the consumer after the entries before it', async () => {
  const files = slowFiles(5, 10);
  async function* entries() {
    yield* files.entries;
    throw new Error('the disk went away');
  }
  const seen: string[] = [];
  const walk = prefetch(entries(), { smallFileBytes: 100, maxEntries: 8, maxBytes: 200, shouldRead: () => true });
  const error = await (async () => {
    for await (const item of walk) {
      seen.push(item.entry.path);
      // A slow consumer: the walk has failed in the background by the time it asks again.
      await new Promise((resolve) => setTimeout(resolve, 5));
      for (const open of files.gates.values()) open();
    }
  })().then(() => undefined, (e: unknown) => e);
  assert.equal(seen, ['f0', 'f1', 'f2', 'f3', 'f4']);
  assert.match(String(error), 'the disk went away');
});

test('read-ahead: a consumer faster than the walk gets every entry, and the end, while it waits on an empty queue', async () => {
  const later = () => new Promise((resolve) => setTimeout(resolve, 1));
  async function* entries(): AsyncGenerator<SourceEntry> {
    for (let i = 0; i < 20; i++) {
      await later();
      yield { path: `d${i}`, type: 'dir', mode: 0o755, mtimeMs: 0, size: 0 };
    }
    // The walk ends after the consumer has emptied the queue: only the end of the pull wakes it.
    await later();
  }
  const seen: string[] = [];
  for await (const item of prefetch(entries(), { smallFileBytes: 100, maxEntries: 8, maxBytes: 200, shouldRead: () => true })) seen.push(item.entry.path);
  assert.equal(seen, Array.from({ length: 20 }, (_, i) => `d${i}`));
});

test('read-ahead: limits of 0 still hand out every entry, one at a time, with its content', async () => {
  const files = slowFiles(4, 10);
  async function* entries() {
    yield* files.entries;
  }
  const seen: [string, number][] = [];
  for await (const item of prefetch(entries(), { smallFileBytes: 100, maxEntries: 0, maxBytes: 0, shouldRead: () => true })) {
    files.gates.get(item.entry.path)!();
    const content = await item.content;
    seen.push([item.entry.path, content instanceof Uint8Array ? content.length : -1]);
  }
  assert.equal(seen, [['f0', 10], ['f1', 10], ['f2', 10], ['f3', 10]]);
});

test('read-ahead: an entry whose size is not a byte count is still handed out', async () => {
  const odd: SourceEntry = { path: 'odd', type: 'file', mode: 0o644, mtimeMs: 0, size: -1, open: () => Promise.reject(new Error('unreadable')) };
  const files = slowFiles(2, 10);
  async function* entries() {
    yield files.entries[0]!;
    yield odd;
    yield files.entries[1]!;
  }
  const seen: string[] = [];
  for await (const item of prefetch(entries(), { smallFileBytes: 100, maxEntries: 8, maxBytes: 200, shouldRead: () => true })) {
    seen.push(item.entry.path);
    for (const open of files.gates.values()) open();
    if (item.entry.path === 'odd') assert.instance(await item.content, Error);
  }
  assert.equal(seen, ['f0', 'odd', 'f1']);
});

test('fs source: a small file is read into the range given, and past it when it grew since it was listed', async () => {
  await using dir = await tempDir();
  await writeFile(join(dir.path, 'a'), 'hello');
  await writeFile(join(dir.path, 'b'), 'short');
  const byPath = new Map<string, SourceEntry>();
  for await (const entry of (await fsSource([dir.path])).entries()) byPath.set(entry.path.split('/').pop()!, entry);
  const range = new Uint8Array(64).subarray(10, 16);
  const a = await byPath.get('a')!.readAll!(range);
  assert.equal(a, new TextEncoder().encode('hello'));
  assert.is(a.buffer, range.buffer, 'read where it was told');
  assert.is(a.byteOffset, 10);
  await appendFile(join(dir.path, 'b'), ' no longer');
  const b = await byPath.get('b')!.readAll!(new Uint8Array(6));
  assert.equal(new TextDecoder().decode(b), 'short no longer');
});

test('fs source: walked again after a walk stopped early, every entry comes out, in order', async () => {
  await using dir = await tempDir();
  for (let d = 0; d < 40; d++) {
    await mkdir(join(dir.path, `d${String(d).padStart(2, '0')}`));
    for (let f = 0; f < 30; f++) await writeFile(join(dir.path, `d${String(d).padStart(2, '0')}`, `f${String(f).padStart(2, '0')}`), `${d}.${f}`);
  }
  const source = await fsSource([dir.path]);
  const paths = async (limit: number): Promise<string[]> => {
    const out: string[] = [];
    for await (const entry of source.entries()) {
      out.push(entry.path);
      if (out.length === limit) break;
    }
    return out;
  };
  const whole = await paths(Infinity);
  assert.is(whole.length, 1 + 40 + 40 * 30);
  assert.equal(whole, [...whole].sort(), 'manifest order');
  assert.equal(await paths(3), whole.slice(0, 3));
  assert.equal(await paths(Infinity), whole, 'a second walk after one stopped early');
  assert.equal(await paths(Infinity), whole);
});

test('fs source: a walk that ends while another is under way takes nothing from it', async () => {
  await using dir = await tempDir();
  for (let d = 0; d < 200; d++) {
    const sub = join(dir.path, `d${String(d).padStart(3, '0')}`);
    await mkdir(sub);
    for (let f = 0; f < 5; f++) await writeFile(join(sub, `f${f}`), `${d}.${f}`);
  }
  const warnings: string[] = [];
  const source = await fsSource([dir.path], { onWarning: (w) => void warnings.push(w) });
  const whole: string[] = [];
  for await (const entry of source.entries()) whole.push(entry.path);
  const b = source.entries()[Symbol.asyncIterator]();
  const seen: string[] = [];
  for (let i = 0; i < 2; i++) seen.push((await b.next()).value!.path);
  // Another walk of the same source starts and stops (a failed backup) while b has listings queued.
  const a = source.entries()[Symbol.asyncIterator]();
  await a.next();
  await a.return!(undefined);
  for (let step = await b.next(); !step.done; step = await b.next()) seen.push(step.value.path);
  assert.equal(warnings, []);
  assert.equal(seen, whole);
});

test.run();
