/** TreeWriter: the manifest and FSI bytes of encodeManifest/encodeFsi, built as entries become final. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TreeWriter } from '../core/tree-writer.ts';
import { bytesEqual } from '../core/format/bytes.ts';
import { encodeManifest, type ManifestEntry, type ManifestHeader } from '../core/manifest.ts';
import { encodeFsi, fsiFromManifest } from '../core/fsi.ts';
import type { MetadataPlaintext } from '../core/metadata-text.ts';

/** The document's bytes, which a small document keeps uncompressed. */
function raw(plaintext: MetadataPlaintext | undefined): Uint8Array {
  assert.is(plaintext?.kind, 'raw');
  return (plaintext as Extract<MetadataPlaintext, { kind: 'raw' }>).bytes;
}

const HEADER: ManifestHeader = { version: 1, sources: ['/data'], host: 'host-a' };
const id = (n: number) => n.toString(16).padStart(64, '0');
const base = (path: string, type: ManifestEntry['type'], size = 0) => ({ path, type, mode: 0o644, mtimeMs: 1_700_000_000_123, size });

test('pending files, corrected sizes and dropped files give the bytes of the final entry list', () => {
  const tree = new TreeWriter(HEADER, true);
  tree.add(base('d', 'dir'));
  const aChunks: string[] = [];
  const a = tree.addPending({ ...base('d/a', 'file', 10), inode: 7, chunks: aChunks });
  tree.add({ ...base('d/l', 'symlink'), target: '../x' });
  const gone = tree.addPending({ ...base('d/gone', 'file', 5), chunks: [] });
  gone.drop();
  const bChunks: string[] = [];
  const b = tree.addPending({ ...base('d/b', 'file', 3), chunks: bChunks });
  tree.add({ ...base('d/c', 'file', 4), inode: 9, chunks: [id(3)] });
  assert.is(tree.entries, 1, 'only the directory is final: d/a is being read');
  a.read(2);
  aChunks[0] = id(1);
  tree.flush();
  assert.is(tree.entries, 1, 'd/a waits for its second chunk');
  aChunks[1] = id(2);
  b.read(1, 2); // read 2 bytes, not the 3 listed
  tree.flush();
  assert.is(tree.entries, 3, 'd/a and the link are final; d/b waits for its chunk');
  bChunks[0] = id(4);
  const { manifest, fsi } = tree.finish();
  const expected: ManifestEntry[] = [
    base('d', 'dir'),
    { ...base('d/a', 'file', 10), inode: 7, chunks: [id(1), id(2)] },
    { ...base('d/l', 'symlink'), target: '../x' },
    { ...base('d/b', 'file', 2), chunks: [id(4)] },
    { ...base('d/c', 'file', 4), inode: 9, chunks: [id(3)] },
  ];
  assert.equal(raw(manifest), encodeManifest({ header: HEADER, entries: expected }));
  assert.equal(raw(fsi), encodeFsi(fsiFromManifest(expected)));
});

test('an empty file is final with no chunks; without an FSI only the manifest is built', () => {
  const tree = new TreeWriter(HEADER, false);
  const empty = tree.addPending({ ...base('e', 'file'), chunks: [] });
  empty.read(0);
  const { manifest, fsi } = tree.finish();
  assert.is(fsi, undefined);
  assert.equal(raw(manifest), encodeManifest({ header: HEADER, entries: [{ ...base('e', 'file'), chunks: [] }] }));
});

test('many entries behind one slow file keep their order', () => {
  const tree = new TreeWriter(HEADER, true);
  const slowChunks: string[] = [];
  const slow = tree.addPending({ ...base('slow', 'file', 1), chunks: slowChunks });
  const expected: ManifestEntry[] = [{ ...base('slow', 'file', 1), chunks: [id(0)] }];
  for (let i = 0; i < 5000; i++) {
    const entry = { ...base(`f${i}`, 'file', 1), chunks: [id(i + 1)] };
    tree.add(entry);
    expected.push(entry);
  }
  assert.is(tree.entries, 0);
  slow.read(1);
  slowChunks[0] = id(0);
  const { manifest } = tree.finish();
  assert.ok(bytesEqual(raw(manifest), encodeManifest({ header: HEADER, entries: expected })));
});

test('finish refuses while an entry is still being read', () => {
  const tree = new TreeWriter(HEADER, true);
  tree.addPending({ ...base('f', 'file', 1), chunks: [] });
  assert.throws(() => tree.finish(), /never became final/);
});

test.run();
