/**
 * ParentFiles answers what a rerun asks of its parent's manifest: is there a file at this path,
 * is it the file as it is now (size, mtime, inode, every chunk indexed), and what are its
 * chunks. Checked against the manifest entries it was built from, through several growths.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ParentFiles } from '../core/parent-files.ts';
import { ChunkIndex } from '../core/repo/chunk-index.ts';
import { MAX_PATH_BYTES, type ManifestEntry } from '../core/manifest.ts';
import { toHex } from '../core/format/bytes.ts';
import { pseudoRandomBytes } from './helpers.ts';

const PACK = 'a'.repeat(64);
const RUN = '1'.repeat(64);

function ids(count: number, seed: number): string[] {
  const bytes = pseudoRandomBytes(count * 32, seed);
  return Array.from({ length: count }, (_, i) => toHex(bytes.subarray(i * 32, (i + 1) * 32)));
}

function indexOf(chunkIds: Iterable<string>): ChunkIndex {
  const index = new ChunkIndex();
  for (const id of chunkIds) index.set(id, { packId: PACK, offset: 0, length: 1, rawLength: 1, codec: 0, runId: RUN });
  return index;
}

function file(path: string, chunks: string[], extra: Partial<ManifestEntry> = {}): ManifestEntry {
  return { path, type: 'file', mode: 0o644, mtimeMs: 1_700_000_000_123.5, size: chunks.length * 1000, inode: 4242, chunks, ...extra };
}

test('every entry is found, files with their chunks in order, through many growths; directories and links are never unchanged; strangers are not found', () => {
  const entries: ManifestEntry[] = [];
  const names = ['plain', 'été', '日本語', 'emoji-😀', 'a b', 'x'.repeat(300)];
  for (let i = 0; i < 6000; i++) {
    const dir = `d${i % 37}`;
    if (i < 37) entries.push({ path: dir, type: 'dir', mode: 0o755, mtimeMs: 1, size: 0 });
    entries.push(file(`${dir}/${names[i % names.length]}-${i}`, ids(i % 7, i + 1), { inode: i, size: i * 3 }));
    if (i % 100 === 0) entries.push({ path: `${dir}/link-${i}`, type: 'symlink', mode: 0o777, mtimeMs: 1, size: 0, target: 'x' });
  }
  const files = new ParentFiles();
  for (const entry of entries) files.add(entry);
  assert.is(files.size, entries.length);
  const index = indexOf(entries.flatMap((e) => e.chunks ?? []));
  for (const entry of entries) {
    const n = files.find(entry.path);
    assert.ok(n !== -1, entry.path);
    assert.equal(files.chunkIds(n), entry.chunks ?? [], entry.path);
    // A directory or link is never an unchanged file, whatever is asked.
    assert.is(files.isUnchanged(n, entry.size, entry.mtimeMs, entry.inode ?? 0, index), entry.type === 'file', entry.path);
  }
  // Prefixes, extensions and near misses of stored paths.
  assert.ok(files.find('d0/plain-0') !== -1 && files.find('d1/été-1') !== -1);
  for (const stranger of ['d0/', 'd0/plain-0x', 'd0/plain-', 'd0/plain-0/', 'd1/ete-1', 'd1/été-10', 'd7/plain-0', '', 'D0/plain-0']) {
    assert.is(files.find(stranger), -1, stranger);
  }
});

test('paths that differ only in their last byte are told apart, present or not', () => {
  // Fixed-width names put thousands of near twins in the same table, so probe chains cross.
  const files = new ParentFiles();
  const name = (k: number): string => `f/${String(k).padStart(5, '0')}`;
  for (let k = 0; k < 20_000; k += 2) files.add(file(name(k), ids(1, k + 1)));
  for (let k = 0; k < 20_000; k++) {
    const n = files.find(name(k));
    if (k % 2 === 1) assert.is(n, -1, name(k));
    else assert.equal(files.chunkIds(n), ids(1, k + 1), name(k));
  }
});

test('a path longer than any manifest can hold is not found; a lone surrogate is found only as itself', () => {
  const files = new ParentFiles();
  files.add(file('a', ids(1, 1)));
  files.add(file('a\uD800', ids(1, 2), { inode: 1 }));
  files.add(file('a\uDC00', ids(1, 3), { inode: 2 }));
  for (let i = 0; i < 600; i++) files.add(file(`grow-${i}`, [])); // rehashes: the odd paths stay apart
  assert.is(files.find('a'.repeat(MAX_PATH_BYTES + 1)), -1);
  assert.is(files.find('\u{1F600}'.repeat(MAX_PATH_BYTES / 2)), -1);
  // UTF-8 would make each lone surrogate U+FFFD: all three would share one path.
  assert.equal(files.chunkIds(files.find('a\uD800')), ids(1, 2));
  assert.equal(files.chunkIds(files.find('a\uDC00')), ids(1, 3));
  assert.is(files.find('a\uFFFD'), -1);
  assert.is(files.find('a\uD800\uDC00'), -1);
  assert.is(files.find(''), -1);
  assert.equal(files.chunkIds(files.find('a')), ids(1, 1));
});

test('unchanged only with the same size, mtime and inode and every chunk still indexed', () => {
  const chunks = ids(3, 9);
  const files = new ParentFiles();
  files.add(file('f', chunks, { size: 3000, mtimeMs: 1234.5, inode: 77 }));
  files.add(file('no-inode', chunks, { size: 3000, mtimeMs: 1234.5, inode: undefined }));
  files.add(file('empty', [], { size: 0, mtimeMs: 5, inode: 78 }));
  const index = indexOf(chunks);
  const f = files.find('f');
  assert.is(files.isUnchanged(f, 3000, 1234.5, 77, index), true);
  assert.is(files.isUnchanged(f, 3001, 1234.5, 77, index), false, 'size');
  assert.is(files.isUnchanged(f, 3000, 1234.25, 77, index), false, 'mtime');
  assert.is(files.isUnchanged(f, 3000, 1234.5, 78, index), false, 'inode');
  assert.is(files.isUnchanged(f, 3000, 1234.5, undefined, index), false, 'no inode now');
  assert.is(files.isUnchanged(f, 3000, 1234.5, 77, indexOf(chunks.slice(0, 2))), false, 'a chunk no longer indexed');
  assert.is(files.isUnchanged(files.find('no-inode'), 3000, 1234.5, 77, index), false, 'no inode in the parent');
  assert.is(files.isUnchanged(files.find('no-inode'), 3000, 1234.5, undefined, index), false, 'no inode either side');
  assert.is(files.isUnchanged(files.find('empty'), 0, 5, 78, new ChunkIndex()), true, 'an empty file has no chunk to miss');
  // A directory or link with the numbers of an unchanged empty file is still not one.
  files.add({ path: 'd', type: 'dir', mode: 0o755, mtimeMs: 5, size: 0, inode: 7 });
  files.add({ path: 'l', type: 'symlink', mode: 0o777, mtimeMs: 5, size: 0, inode: 8, target: 'x' });
  assert.is(files.isUnchanged(files.find('d'), 0, 5, 7, new ChunkIndex()), false, 'a directory');
  assert.is(files.isUnchanged(files.find('l'), 0, 5, 8, new ChunkIndex()), false, 'a link');
  assert.equal(files.chunkIds(files.find('empty')), []);
});

test('ChunkIndex.hasBytes finds an id by its bytes wherever they lie', () => {
  const [a, b] = ids(2, 3) as [string, string];
  const index = indexOf([a]);
  const buffer = new Uint8Array(100);
  buffer.set(pseudoRandomBytes(32, 3).subarray(0, 32), 17);
  assert.is(toHex(buffer.subarray(17, 49)), a);
  assert.is(index.hasBytes(buffer, 17), true);
  assert.is(index.hasBytes(buffer, 16), false);
  buffer.set(new Uint8Array(32), 17);
  assert.is(index.hasBytes(buffer, 17), false);
  assert.is(index.has(b), false);
});

test.run();
