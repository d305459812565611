/**
 * A manifest's shape (FORMAT.md §9: no path twice, every parent an earlier `dir`) is checked with
 * a stack while the entries come in tree order and with a table of every path after that. Both
 * must find exactly what one table of every path finds, in any order a manifest may come in.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BunkerError } from '../core/errors.ts';
import { type EntryType, isAfterInTree, parseManifest } from '../core/manifest.ts';

function generator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return s;
  };
}

/** Component by component, each by UTF-16 code units: the order fs-source walks in. */
function treeCompare(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return x.length - y.length;
}

/** The shape check as one table of every path (what the reader did before the stack). */
function reference(entries: readonly { path: string; type: EntryType }[]): string {
  const types = new Map<string, EntryType>();
  for (const { path, type } of entries) {
    if (types.has(path)) return `TAMPERED duplicate ${path}`;
    types.set(path, type);
    const slash = path.lastIndexOf('/');
    if (slash !== -1 && types.get(path.slice(0, slash)) !== 'dir') return `UNSAFE_PATH ${path}`;
  }
  return 'ok';
}

function outcome(entries: readonly { path: string; type: EntryType }[]): string {
  const lines = [JSON.stringify({ version: 1, sources: ['x'], host: 'h' })];
  for (const { path, type } of entries) {
    lines.push(JSON.stringify({ path, type, mode: 0o644, mtimeMs: 0, size: 0, ...(type === 'file' ? { chunks: [] } : type === 'symlink' ? { target: 't' } : {}) }));
  }
  try {
    parseManifest(new TextEncoder().encode(lines.join('\n') + '\n'), 'm');
    return 'ok';
  } catch (error) {
    if (!(error instanceof BunkerError)) throw error;
    const path = /(?:duplicate path|places) "([^"]*)"/.exec(error.message)?.[1];
    return `${error.code}${error.code === 'TAMPERED' ? ' duplicate' : ''} ${path}`;
  }
}

const NAMES = ['a', 'b', 'a-b', 'a.b', 'a b', 'A', '0', 'é', '\u{1F600}', 'ab', 'z'];

function randomTree(next: () => number): { path: string; type: EntryType }[] {
  const out: { path: string; type: EntryType }[] = [];
  const add = (parent: string, depth: number) => {
    const names = [...new Set(Array.from({ length: 1 + (next() % 4) }, () => NAMES[next() % NAMES.length]!))];
    for (const name of names) {
      const path = parent === '' ? name : `${parent}/${name}`;
      const roll = next() % 10;
      const type: EntryType = depth < 3 && roll < 4 ? 'dir' : roll < 8 ? 'file' : roll < 9 ? 'symlink' : 'dir';
      out.push({ path, type });
      if (type === 'dir' && depth < 3) add(path, depth + 1);
    }
  };
  add('', 0);
  return out;
}

test('isAfterInTree is the component-by-component order', () => {
  const next = generator(5);
  const pick = () => Array.from({ length: 1 + (next() % 3) }, () => NAMES[next() % NAMES.length]!).join('/');
  for (let i = 0; i < 20_000; i++) {
    const a = pick();
    const b = pick();
    assert.is(isAfterInTree(a, b), treeCompare(a, b) < 0, `${JSON.stringify(a)} then ${JSON.stringify(b)}`);
  }
});

test('the shape check finds what one table of every path finds: in tree order, out of it, and with damage', () => {
  const next = generator(9);
  let outOfOrder = 0;
  let failures = 0;
  for (let round = 0; round < 3000; round++) {
    const entries = randomTree(next).sort((x, y) => treeCompare(x.path, y.path));
    const damage = next() % 8;
    const i = next() % entries.length;
    const j = next() % entries.length;
    if (damage === 1) entries.splice(j, 0, { ...entries[i]! }); // a path twice
    if (damage === 2) [entries[i], entries[j]] = [entries[j]!, entries[i]!]; // out of order
    if (damage === 3) entries.splice(i, 1); // a parent may go missing
    if (damage === 4 && entries[i]!.type === 'dir') entries[i] = { ...entries[i]!, type: next() % 2 ? 'file' : 'symlink' };
    if (damage === 5) entries.push({ ...entries[i]! }); // twice, the second at the end
    if (damage === 6) entries.reverse();
    if (entries.some((e, k) => k > 0 && !isAfterInTree(entries[k - 1]!.path, e.path))) outOfOrder++;
    const expected = reference(entries);
    if (expected !== 'ok') failures++;
    assert.is(outcome(entries), expected, JSON.stringify(entries.map((e) => `${e.type[0]} ${e.path}`)));
  }
  // Both ways of checking, and both verdicts, were exercised many times.
  assert.ok(outOfOrder > 500 && failures > 500 && 3000 - failures > 500, `${outOfOrder} out of order, ${failures} refused`);
});

test('the ways a tar or a hand-made manifest is out of tree order still read: roots in any order, children unsorted', () => {
  const entries: { path: string; type: EntryType }[] = [
    { path: 'log', type: 'dir' }, { path: 'log/z', type: 'file' }, { path: 'log/a', type: 'file' },
    { path: 'etc', type: 'dir' }, { path: 'etc/b', type: 'dir' }, { path: 'etc/b/c', type: 'file' }, { path: 'etc/a', type: 'symlink' },
  ];
  assert.is(outcome(entries), 'ok');
  assert.is(outcome([...entries, { path: 'log/z', type: 'file' }]), 'TAMPERED duplicate log/z');
  assert.is(outcome([...entries, { path: 'etc/a/x', type: 'file' }]), 'UNSAFE_PATH etc/a/x');
});

test('owners: a uid or gid that is not a safe integer below 2^32 - 1 (chown\'s "leave unchanged") reads as unknown', () => {
  const line = (uid: unknown, gid: unknown) => JSON.stringify({ path: 'f', type: 'file', mode: 0o4755, mtimeMs: 0, size: 0, uid, gid, chunks: [] });
  const read = (uid: unknown, gid: unknown) => {
    const text = `${JSON.stringify({ version: 1, sources: [], host: 'h' })}\n${line(uid, gid)}\n`;
    const [entry] = parseManifest(new TextEncoder().encode(text), 'm').entries;
    return [entry!.uid, entry!.gid];
  };
  assert.equal(read(1000, 100), [1000, 100]);
  assert.equal(read(0, 0), [0, 0]);
  assert.equal(read(4294967295, 4294967294), [undefined, 4294967294]);
  assert.equal(read(-1, 1.5), [undefined, undefined]);
  assert.equal(read('0', null), [undefined, undefined]);
});

test.run();
