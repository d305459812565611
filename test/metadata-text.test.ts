/**
 * A backup's manifest and FSI held compressed as they grow (core/metadata-text.ts): the streamed
 * frame declares its size, decodes to the very bytes encodeManifest gives with native and WASM
 * zstd, and a backup whose manifest is streamed restores byte for byte; a rerun reads its parent's
 * manifest decoded in pieces; a small document stays
 * as before; a document past what readers accept stops the run with TOO_LARGE.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backup, checkRepository, isBunkerError, Repository, restore, type Source } from '../core/mod.ts';
import { bytesEqual, joinBytes, utf8 } from '../core/format/bytes.ts';
import { sealStream } from '../core/crypto/stream.ts';
import { encodeFsi, fsiFromManifest } from '../core/fsi.ts';
import { encodeManifest, type ManifestEntry, type ManifestHeader } from '../core/manifest.ts';
import { MAX_METADATA_CONTENT_BYTES, type MetadataPlaintext, MetadataText } from '../core/metadata-text.ts';
import { TreeWriter } from '../core/tree-writer.ts';
import { nativeMetadataZstd } from '../core/host/worker-codec-pool.ts';
import { nativeZstd } from '../core/host/native-zstd.ts';
import { ZstdCodec } from '../wasm/mod.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';
import type { ZstdFrameWriter } from '../core/repository.ts';
import { memorySource, MemorySink, type TreeEntry } from './bad-input-kit.ts';
import { fixedResolver, memoryRepo, pseudoRandomBytes, RUNTIME, TEST_KDF } from './helpers.ts';

await loadWasmFromPackages();
const wasm = new ZstdCodec();
const native = nativeZstd();
const HEADER: ManifestHeader = { version: 1, sources: ['/data'], host: 'host-a' };
const id = (n: number) => n.toString(16).padStart(64, '0');

/** The tree's files with inode numbers, as a file system gives them: a rerun needs them to skip a file. */
function withInodes(source: Source): Source {
  return {
    ...source,
    async *entries() {
      let inode = 1;
      for await (const entry of source.entries()) yield entry.type === 'file' ? { ...entry, inode: inode++ } : entry;
    },
  };
}

function frameOf(plaintext: MetadataPlaintext | undefined): { frame: Uint8Array; contentBytes: number } {
  assert.is(plaintext?.kind, 'zstd', 'compressed as it grew');
  return plaintext as Extract<MetadataPlaintext, { kind: 'zstd' }>;
}

test('where zstd can stream, a manifest and FSI are compressed as they grow; each frame declares its size and decodes to the same bytes', () => {
  if (native?.frameWriter === undefined) return assert.is(RUNTIME, 'deno', 'only Deno lacks a streaming zstd');
  const tree = new TreeWriter(HEADER, true, { openFrame: () => native.frameWriter!(3), streamAfterBytes: 0 });
  const entries: ManifestEntry[] = [{ path: 'd', type: 'dir', mode: 0o755, mtimeMs: 1_700_000_000_000, size: 0 }];
  tree.add(entries[0]!);
  for (let i = 0; i < 20_000; i++) {
    const entry: ManifestEntry = { path: `d/file-${i}.txt`, type: 'file', mode: 0o644, mtimeMs: 1_700_000_000_000 + i, size: i, inode: i, chunks: [id(i)] };
    tree.add(entry);
    entries.push(entry);
  }
  const { manifest, fsi } = tree.finish();
  for (const [name, plaintext, expected] of [
    ['manifest', manifest, encodeManifest({ header: HEADER, entries })],
    ['fsi', fsi, encodeFsi(fsiFromManifest(entries))],
  ] as const) {
    const { frame, contentBytes } = frameOf(plaintext);
    assert.is(contentBytes, expected.length, `${name}: content size`);
    assert.is(wasm.frameContentSize(frame), expected.length, `${name}: the frame header declares the size (FORMAT.md §4.3)`);
    assert.is(frame[4], 0x80, `${name}: the header form FORMAT.md §4.3 gives (stream_zstd_streamed_header)`);
    assert.is(new DataView(frame.buffer, frame.byteOffset).getUint32(6, true), expected.length, `${name}: the size as u32le after the window descriptor`);
    assert.ok(frame.length * 4 < expected.length, `${name}: held compressed (${frame.length} of ${expected.length} bytes)`);
    assert.ok(bytesEqual(wasm.decompress(frame, expected.length), expected), `${name}: the WASM build decodes the streamed frame`);
    assert.ok(bytesEqual(native.decompress(frame, expected.length), expected), `${name}: native zstd decodes it`);
  }
});

test('a streamed frame fed in pieces of every size, or nothing at all, declares its size and decodes exactly', () => {
  if (native?.frameWriter === undefined) return assert.is(RUNTIME, 'deno', 'only Deno lacks a streaming zstd');
  const text = utf8('bunker manifest line '.repeat(40_000) + 'end');
  for (const piece of [1, 7, 4096, 131_072, 262_145, text.length]) {
    for (const total of [0, 1, 300, text.length]) {
      const writer = native.frameWriter(3);
      for (let at = 0; at < total; at += piece) writer.write(text.subarray(at, Math.min(total, at + piece)));
      const frame = writer.end();
      const label = `${total} bytes in pieces of ${piece}`;
      assert.is(wasm.frameContentSize(frame), total, label);
      assert.ok(bytesEqual(wasm.decompress(frame, total), text.subarray(0, total)), label);
    }
  }
});

test('a streamed frame whose end falls exactly at the end of an output piece is one frame, read strictly by native zstd', () => {
  if (native?.frameWriter === undefined) return assert.is(RUNTIME, 'deno', 'only Deno lacks a streaming zstd');
  // Incompressible bytes are stored as raw blocks (3-byte header each), so these lengths make the
  // frame fill the writer's 256 KiB output pieces exactly; ending it there once added a second, empty frame.
  for (const exact of [262_132, 524_270, 786_408]) {
    for (const length of [exact - 1, exact, exact + 1]) {
      const data = pseudoRandomBytes(length, length);
      const writer = native.frameWriter(3);
      writer.write(new Uint8Array(0));
      for (let at = 0; at < length; at += 65_536) writer.write(data.subarray(at, Math.min(length, at + 65_536)));
      const frame = writer.end();
      assert.ok(bytesEqual(native.decompress(frame, length), data), `${length} bytes: native, whole`);
      assert.ok(bytesEqual(joinBytes([...native.decompressPieces!(frame, length)].map((piece) => piece.slice())), data), `${length} bytes: native, in pieces`);
      assert.ok(bytesEqual(wasm.decompress(frame, length), data), `${length} bytes: WASM`);
    }
  }
  const empty = native.frameWriter(3);
  empty.write(new Uint8Array(0));
  assert.is(wasm.frameContentSize(empty.end()), 0, 'an empty write adds nothing: the frame still declares 0 bytes');
});

test('a manifest read entry by entry in pieces (a rerun) without its final newline, or not UTF-8, is TAMPERED, its last line never visited', async () => {
  const streaming = nativeMetadataZstd();
  if (streaming?.decompressPieces === undefined) return assert.is(RUNTIME, 'deno', 'Deno keeps the WASM build for metadata, which cannot decode in pieces');
  const { repo, storage } = await memoryRepo();
  const options = { series: 's', encrypt: true, compressionLevel: 3, resolver: fixedResolver('pw'), kdf: TEST_KDF } as const;
  const { pointId } = await backup(repo, memorySource([{ path: 'r', type: 'dir' }, { path: 'r/a', type: 'file', data: utf8('a') }]), options);
  repo.metadataZstd = streaming;
  const point = await repo.unlock(await repo.resolvePoint('latest'), fixedResolver('pw'));
  const text = encodeManifest({ header: HEADER, entries: [{ path: 'd', type: 'dir', mode: 0o755, mtimeMs: 1, size: 0 }, { path: 'd/last', type: 'dir', mode: 0o755, mtimeMs: 1, size: 0 }] });
  const badUtf8 = text.slice();
  badUtf8[badUtf8.length - 4] = 0xff;
  for (const [label, content, why] of [['no final newline', text.subarray(0, text.length - 1), 'missing final newline'], ['not UTF-8', badUtf8, 'not UTF-8']] as const) {
    storage.objects.set(`trees/${pointId}`, await sealStream(point.cipher, 'manifest', pointId, wasm.compress(content, 3), 1));
    const seen: string[] = [];
    await repo.scanManifest(point, (entry) => seen.push(entry.path)).then(
      () => assert.unreachable(`${label}: read`),
      (error) => {
        assert.ok(isBunkerError(error, 'TAMPERED'), `${label}: ${error}`);
        assert.match((error as Error).message, why, label);
      },
    );
    // Lines before a final line without its newline come out; bytes that are not UTF-8 stop their whole block.
    assert.equal(seen, why === 'not UTF-8' ? [] : ['d'], `${label}: never the last entry`);
  }
});

test('a cancelled backup whose manifest is being streamed closes its frame and commits nothing', async () => {
  const streaming = nativeMetadataZstd();
  if (streaming?.frameWriter === undefined) return assert.is(RUNTIME, 'deno', 'Deno keeps the WASM build for metadata, which cannot stream');
  const tree: TreeEntry[] = [{ path: 'r', type: 'dir' }];
  for (let f = 0; f < 9000; f++) tree.push({ path: `r/a-file-with-a-rather-long-name-for-the-manifest-${f}.txt`, type: 'file', data: utf8(`content ${f}`) });
  const { repo, storage } = await memoryRepo();
  const frames = { opened: 0, closed: 0, ended: 0 };
  repo.metadataZstd = {
    compress: (data, level) => streaming.compress(data, level),
    decompress: (frame, size) => streaming.decompress(frame, size),
    frameWriter: (level) => {
      frames.opened++;
      const frame = streaming.frameWriter!(level);
      return { write: (data) => frame.write(data), end: () => (frames.ended++, frame.end()), close: () => (frames.closed++, frame.close()) };
    },
  };
  const cancel = new AbortController();
  let files = 0;
  const failure = await backup(repo, withInodes(memorySource(tree)), {
    series: 's', encrypt: true, compressionLevel: 3, resolver: fixedResolver('pw'), kdf: TEST_KDF, signal: cancel.signal,
    onProgress: () => void (++files === 8500 && cancel.abort()),
  }).then(() => undefined, (error: unknown) => error);
  assert.ok(isBunkerError(failure, 'CANCELLED'), String(failure));
  assert.is(frames.opened, 1, 'the manifest was being streamed');
  assert.is(frames.ended, 0);
  assert.ok(frames.closed >= 1, 'its frame was closed');
  assert.equal(await repo.listPoints(), []);
  assert.ok([...storage.objects.keys()].every((key) => !key.startsWith('points/') && !key.startsWith('trees/')), 'no point or manifest written');
});

test('a document below the threshold is kept as it is, without opening a frame', () => {
  let opened = 0;
  const openFrame = (): ZstdFrameWriter => {
    opened++;
    throw new Error('no frame expected');
  };
  const text = new MetadataText('the manifest', { openFrame, streamAfterBytes: 1024 * 1024 });
  const line = '{"path":"a","type":"dir"}\n';
  for (let i = 0; i < 30_000; i++) text.append(line);
  const plaintext = text.finish();
  assert.is(opened, 0);
  assert.is(plaintext.kind, 'raw');
  assert.ok(bytesEqual((plaintext as Extract<MetadataPlaintext, { kind: 'raw' }>).bytes, utf8(line.repeat(30_000))));
});

test('a document past what readers accept (1 GiB) stops the run with TOO_LARGE', () => {
  assert.is(MAX_METADATA_CONTENT_BYTES, 2 ** 30, 'FORMAT.md §4.3: at most 2^30 bytes');
  // A frame that only counts: the limit is the text's, whatever the compressor.
  let written = 0;
  let closed = 0;
  const counting: ZstdFrameWriter = { write: (data) => void (written += data.length), end: () => new Uint8Array(0), close: () => void closed++ };
  const text = new MetadataText('the manifest', { openFrame: () => counting, streamAfterBytes: 0 });
  const piece = 'x'.repeat(4 * 1024 * 1024 - 1) + '\n';
  let failure: unknown;
  try {
    for (let i = 0; i <= 256; i++) text.append(piece);
  } catch (error) {
    failure = error;
  }
  assert.ok(isBunkerError(failure, 'TOO_LARGE'), String(failure));
  assert.match((failure as Error).message, /the manifest of this backup would exceed 1073741824 bytes/);
  assert.is(text.length, 2 ** 30 + piece.length, 'it failed on the first piece past the limit');
  assert.ok(written <= 2 ** 30, 'nothing past the limit reached the compressor');
  text.close();
  assert.is(closed, 1, 'closing frees the frame');
});

test('a backup whose manifest is streamed restores byte for byte, read by the WASM build or by native zstd; check passes; a rerun that reads its parent manifest in pieces finds every file unchanged', async () => {
  const streaming = nativeMetadataZstd();
  if (streaming?.frameWriter === undefined) return assert.is(RUNTIME, 'deno', 'Deno keeps the WASM build for metadata, which cannot stream');
  // ~9,000 entries of ~190 bytes: a manifest past the 1 MiB after which it is streamed.
  const tree: TreeEntry[] = [{ path: 'r', type: 'dir' }];
  for (let d = 0; d < 30; d++) {
    tree.push({ path: `r/directory-${d}`, type: 'dir' });
    for (let f = 0; f < 300; f++) tree.push({ path: `r/directory-${d}/a-file-with-a-rather-long-name-${f}.txt`, type: 'file', data: utf8(`content ${d}/${f}`) });
  }
  const { repo, storage } = await memoryRepo();
  let frames = 0;
  repo.metadataZstd = {
    compress: (data, level) => streaming.compress(data, level),
    decompress: (frame, size) => streaming.decompress(frame, size),
    frameWriter: (level) => (frames++, streaming.frameWriter!(level)),
  };
  const options = { series: 's', encrypt: true, compressionLevel: 3, resolver: fixedResolver('pw'), kdf: TEST_KDF } as const;
  const result = await backup(repo, withInodes(memorySource(tree)), options);
  const sealed = storage.objects.get(`trees/${result.pointId}`)!;
  assert.is(frames, 1, 'the manifest was streamed (the FSI, under 1 MiB, was not)');
  assert.is(sealed[7], 1, 'the manifest is a zstd STREAM');
  assert.ok(sealed.length < 1024 * 1024 / 2, `sealed manifest of ${sealed.length} bytes`);

  const reopened = await Repository.open(storage); // reads metadata with the WASM build
  assert.is(reopened.metadataZstd, reopened.zstd);
  const point = await reopened.unlock(await reopened.resolvePoint('latest'), fixedResolver('pw'));
  const manifest = await reopened.readManifest(point);
  assert.is(manifest.entries.length, tree.length);
  const sink = new MemorySink();
  await restore(reopened, point, sink);
  assert.is(sink.files.size, 30 * 300);
  for (const entry of tree) if (entry.type === 'file') assert.ok(bytesEqual(sink.files.get(entry.path)!, entry.data), entry.path);
  assert.is((await reopened.readFsi(point))?.length, tree.length, 'the streamed FSI lists every entry');
  assert.ok((await checkRepository(reopened, { resolver: fixedResolver('pw'), readData: true })).isOk);

  // Native zstd: a rerun reads the parent's manifest in pieces and finds every file unchanged; a restore is exact.
  let pieceReads = 0;
  const inPieces = await Repository.open(storage);
  inPieces.metadataZstd = {
    compress: (data, level) => streaming.compress(data, level),
    decompress: (frame, size) => streaming.decompress(frame, size),
    frameWriter: (level) => streaming.frameWriter!(level),
    decompressPieces: (frame, size) => (pieceReads++, streaming.decompressPieces!(frame, size)),
  };
  const rerun = await backup(inPieces, withInodes(memorySource(tree)), options);
  assert.is(pieceReads, 1, "the parent's manifest was read in pieces");
  assert.is(rerun.stats.filesUnchanged, 30 * 300);
  const second = await inPieces.unlock(await inPieces.resolvePoint('latest'), fixedResolver('pw'));
  const again = new MemorySink();
  await restore(inPieces, second, again);
  assert.is(pieceReads, 2, 'a restore of a manifest this small keeps its entries and decodes it in pieces once');
  assert.is(again.files.size, 30 * 300);
  for (const entry of tree) if (entry.type === 'file') assert.ok(bytesEqual(again.files.get(entry.path)!, entry.data), entry.path);
  const unheld = new MemorySink();
  await restore(inPieces, second, unheld, { heldManifestBytes: 100_000 });
  assert.is(pieceReads, 4, 'past the manifest size it holds entries for, twice: to plan, and to write');
  assert.equal([...unheld.files.keys()], [...again.files.keys()], 'the same files in the same order');
  for (const entry of tree) if (entry.type === 'file') assert.ok(bytesEqual(unheld.files.get(entry.path)!, entry.data), entry.path);
});

test.run();
