/**
 * Native zstd per chunk: node:zlib's one-shot calls against the kept context of
 * core/host/native-zstd.ts, on the benchmark's data set cut into pieces.
 *
 *   node bench/zstd-native.ts [--size 1024] [--piece 1048576] [--level 3] [--mb 700]
 *
 * Reads the set's files (after `npm run bench` or `node bench/dataset.ts create --size N` made it),
 * in directory order, up to --mb megabytes, cuts them into pieces and prints MB/s for each way.
 */
import * as zlib from 'node:zlib';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { nativeZstd } from '../core/host/native-zstd.ts';

const { values } = parseArgs({
  options: { size: { type: 'string', default: '1024' }, piece: { type: 'string', default: String(1 << 20) }, level: { type: 'string', default: '3' }, mb: { type: 'string', default: '700' } },
});
const root = join(import.meta.dirname, 'data', `${values.size}MiB`, 'tree');
const piece = Number(values.piece);
const level = Number(values.level);
const limit = Number(values.mb) * 1e6;

const pieces: Uint8Array[] = [];
let total = 0;
const walk = (dir: string): void => {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (total >= limit) return;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.isFile()) {
      const bytes = new Uint8Array(readFileSync(path));
      for (let at = 0; at < bytes.length && total < limit; at += piece) {
        const p = bytes.subarray(at, Math.min(bytes.length, at + piece));
        pieces.push(p);
        total += p.length;
      }
    }
  }
};
walk(root);
if (pieces.length === 0) throw new Error(`no data under ${root}: create the data set first (npm run bench, or node bench/dataset.ts create --size ${values.size})`);

const kept = nativeZstd();
if (kept === undefined || !kept.reusesContext) throw new Error('this runtime has no node:zlib zstd handle to keep');
const params = { [zlib.constants.ZSTD_c_compressionLevel]: level };
const frames = pieces.map((p) => kept.compress(p, level));

function time(label: string, run: (i: number) => unknown): void {
  const start = performance.now();
  for (let i = 0; i < pieces.length; i++) run(i);
  const seconds = (performance.now() - start) / 1000;
  console.log(`${label.padEnd(40)} ${seconds.toFixed(2)} s  ${(total / 1e6 / seconds).toFixed(0)} MB/s`);
}

console.log(`${pieces.length} pieces of up to ${piece} bytes, ${(total / 1e6).toFixed(0)} MB, level ${level}`);
for (let round = 0; round < 2; round++) {
  time('compress, one-shot zstdCompressSync', (i) => zlib.zstdCompressSync(pieces[i]!, { params }));
  time('compress, kept context', (i) => kept.compress(pieces[i]!, level));
  time('decompress, one-shot zstdDecompressSync', (i) => zlib.zstdDecompressSync(frames[i]!, { maxOutputLength: Math.max(1, pieces[i]!.length) }));
  time('decompress, kept context', (i) => kept.decompress(frames[i]!, pieces[i]!.length));
}
