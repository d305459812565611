/**
 * The benchmark's data set: a reproducible tree under bench/data/<SIZE>MiB/tree.
 *
 *   node bench/dataset.ts generate [--size MiB] [--force]   make it (kept and reused while its parameters match)
 *   node bench/dataset.ts change   [--size MiB]             modify 1% of the files (originals saved for revert)
 *   node bench/dataset.ts revert   [--size MiB]             undo `change`
 *   node bench/dataset.ts digest DIR                        checksum of a tree (content, modes, symlinks)
 *
 * Composition for SIZE = 1024 (everything scales with SIZE, default BENCH_SIZE_MIB or 1024):
 *   random/  200 MiB incompressible (AES-256-CTR keystream from a fixed seed): two blobs and 1 MiB "media" files
 *   large/   192 MiB in three files: a text log, a database-like file of 4 KiB pages, a disk image (zeros, random, text)
 *   small/   24,000 generated files of 32 B–32 KiB (log-uniform): prose, code, CSV, JSON, some binary (~110 MiB)
 *   sys/     the rest (~520 MiB): a copy of files from /usr/lib and /usr/share, chosen by a keyed hash of
 *            their path (stable when a few packages change), taken in that order up to the byte budget, copied sorted.
 * Every file and directory gets a fixed mtime (2024-01-01) and mode 0644/0755 (executable bits kept for copies).
 * The sys/ part depends on the machine's /usr: the data set's digest, recorded in dataset.json and the results,
 * says whether two machines benchmarked the same bytes.
 */
import { createCipheriv, createHash } from 'node:crypto';
import {
  closeSync, copyFileSync, existsSync, fstatSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, readFileSync,
  readlinkSync, readSync, rmSync, symlinkSync, utimesSync, writeFileSync, writeSync, chmodSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';

export const GENERATOR_VERSION = 1;
const SEED = 'bunker-bench-v1';
const BASE_MTIME = Date.UTC(2024, 0, 1) / 1000;
const CHANGED_MTIME = BASE_MTIME + 86_400;
const MiB = 1024 * 1024;
const SYS_ROOTS = ['/usr/lib', '/usr/share'];
const SYS_MAX_FILE = 64 * MiB;

export const BENCH_DIR = dirname(new URL(import.meta.url).pathname);

export function defaultSizeMiB(): number {
  const size = Number(process.env.BENCH_SIZE_MIB ?? 1024);
  if (!Number.isInteger(size) || size < 16) throw new Error(`BENCH_SIZE_MIB must be an integer >= 16, got ${process.env.BENCH_SIZE_MIB}`);
  return size;
}

export function datasetDir(sizeMiB: number): string {
  return join(BENCH_DIR, 'data', `${sizeMiB}MiB`);
}

// ---------------------------------------------------------------- deterministic randomness

/** sfc32, seeded from SHA-256 of a label: fast, 32-bit, reproducible everywhere. */
export class Rng {
  a: number;
  b: number;
  c: number;
  d: number;
  constructor(label: string) {
    const h = createHash('sha256').update(`${SEED}/${label}`).digest();
    this.a = h.readUInt32LE(0);
    this.b = h.readUInt32LE(4);
    this.c = h.readUInt32LE(8);
    this.d = h.readUInt32LE(12) | 1;
    for (let i = 0; i < 16; i++) this.next();
  }
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  float(): number {
    return this.next() / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** Incompressible bytes: the AES-256-CTR keystream under a key derived from `label`. */
class RandomStream {
  cipher: ReturnType<typeof createCipheriv>;
  zeros = Buffer.alloc(MiB);
  constructor(label: string) {
    const key = createHash('sha256').update(`${SEED}/random/${label}`).digest();
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }
  bytes(n: number): Buffer {
    if (n > this.zeros.length) this.zeros = Buffer.alloc(n);
    return this.cipher.update(this.zeros.subarray(0, n));
  }
}

// ---------------------------------------------------------------- text

const SYLLABLES = ['ka', 'to', 'ri', 'en', 'mo', 'sa', 'lu', 'ne', 'di', 'por', 'an', 'tre', 'vi', 'ok', 'se', 'ma', 'ul', 'qua', 'be', 'ion', 'ter', 'st', 'ra', 'gen', 'li', 'co', 'ex', 'un', 'da', 'fi'];

class Words {
  words: string[] = [];
  zipf = new Uint16Array(65536);
  constructor() {
    const rng = new Rng('vocabulary');
    const seen = new Set<string>();
    while (this.words.length < 4096) {
      let w = '';
      const n = 1 + rng.int(4);
      for (let i = 0; i < n; i++) w += rng.pick(SYLLABLES);
      if (!seen.has(w)) {
        seen.add(w);
        this.words.push(w);
      }
    }
    // Zipf-like frequencies, as in natural text: a lookup table from 16 random bits to a word index.
    const weights = this.words.map((_, i) => 1 / Math.pow(i + 1, 1.07));
    const total = weights.reduce((a, b) => a + b, 0);
    let acc = 0;
    let slot = 0;
    for (let i = 0; i < weights.length && slot < 65536; i++) {
      acc += weights[i]! / total;
      const end = Math.min(65536, Math.round(acc * 65536));
      for (; slot < end; slot++) this.zipf[slot] = i;
    }
    for (; slot < 65536; slot++) this.zipf[slot] = this.words.length - 1;
  }
  word(rng: Rng): string {
    return this.words[this.zipf[rng.next() & 0xffff]!]!;
  }
}

let wordsCache: Words | undefined;
function words(): Words {
  return (wordsCache ??= new Words());
}

function sentence(rng: Rng): string {
  const w = words();
  const n = 4 + rng.int(16);
  let s = w.word(rng);
  s = s[0]!.toUpperCase() + s.slice(1);
  for (let i = 1; i < n; i++) s += (rng.int(12) === 0 ? ', ' : ' ') + w.word(rng);
  return s + (rng.int(8) === 0 ? '?' : '.');
}

/** Text of about `size` bytes (returns at least `size` ASCII bytes; the caller cuts). */
function textOfKind(rng: Rng, kind: string, size: number): string {
  const w = words();
  const parts: string[] = [];
  let len = 0;
  const push = (s: string) => {
    parts.push(s);
    len += s.length;
  };
  switch (kind) {
    case 'txt':
    case 'md':
      if (kind === 'md') push(`# ${sentence(rng)}\n\n`);
      while (len < size) {
        const n = 1 + rng.int(6);
        let p = '';
        for (let i = 0; i < n; i++) p += (i ? ' ' : '') + sentence(rng);
        push(p + '\n\n');
      }
      break;
    case 'c':
    case 'js':
    case 'py': {
      let depth = 0;
      while (len < size) {
        const r = rng.int(10);
        const ind = '    '.repeat(depth);
        if (r < 2 && depth < 4) {
          push(`${ind}${kind === 'py' ? 'def' : 'function'} ${w.word(rng)}_${w.word(rng)}(${w.word(rng)}, ${w.word(rng)})${kind === 'py' ? ':' : ' {'}\n`);
          depth++;
        } else if (r < 3 && depth > 0) {
          depth--;
          if (kind !== 'py') push(`${'    '.repeat(depth)}}\n`);
        } else if (r < 4) {
          push(`${ind}// ${sentence(rng)}\n`);
        } else {
          push(`${ind}${w.word(rng)} = ${w.word(rng)}(${rng.int(1000)}, ${w.word(rng)}.${w.word(rng)});\n`);
        }
      }
      break;
    }
    case 'csv':
      push('id,name,category,amount,ratio,comment\n');
      for (let id = 1; len < size; id++) {
        push(`${id},${w.word(rng)},${w.word(rng)},${rng.int(100000)},${(rng.float() * 10).toFixed(4)},${w.word(rng)} ${w.word(rng)}\n`);
      }
      break;
    case 'json':
      push('[\n');
      while (len < size) {
        push(`  {"id": ${rng.int(1e9)}, "${w.word(rng)}": "${w.word(rng)} ${w.word(rng)}", "count": ${rng.int(500)}, "enabled": ${rng.int(2) === 1}, "tags": ["${w.word(rng)}", "${w.word(rng)}"]},\n`);
      }
      push(']\n');
      break;
    default:
      throw new Error(`unknown text kind ${kind}`);
  }
  return parts.join('');
}

function logLine(rng: Rng, t: number): string {
  const w = words();
  const ts = new Date((BASE_MTIME - 30 * 86_400) * 1000 + t).toISOString();
  const level = rng.int(20) === 0 ? 'WARN' : rng.int(50) === 0 ? 'ERROR' : 'INFO';
  return `${ts} ${level} [worker-${rng.int(16)}] ${w.word(rng)}.${w.word(rng)} id=${rng.next().toString(16).padStart(8, '0')} path=/${w.word(rng)}/${w.word(rng)}/${rng.int(10000)} status=${rng.pick([200, 200, 200, 201, 204, 304, 404, 500])} took=${rng.int(2000)}ms ${sentence(rng)}\n`;
}

// ---------------------------------------------------------------- writers

function writeFileWith(path: string, size: number, produce: (n: number) => Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w', 0o644);
  try {
    let left = size;
    while (left > 0) {
      const piece = produce(Math.min(left, MiB));
      const n = Math.min(left, piece.length);
      writeSync(fd, piece, 0, n);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
}

function writeRandomFile(path: string, size: number, label: string): void {
  const stream = new RandomStream(label);
  writeFileWith(path, size, (n) => stream.bytes(n));
}

function writeLogFile(path: string, size: number): void {
  const rng = new Rng('large/log');
  let t = 0;
  writeFileWith(path, size, (n) => {
    const lines: string[] = [];
    let len = 0;
    while (len < n) {
      t += rng.int(500);
      const line = logLine(rng, t);
      lines.push(line);
      len += line.length;
    }
    return Buffer.from(lines.join(''), 'latin1');
  });
}

/** 4 KiB pages: a header, records of text and integers, zero free space: compresses about 2-3x. */
function dbPage(rng: Rng, pageNo: number): Buffer {
  const page = Buffer.alloc(4096);
  page.writeUInt32LE(pageNo, 0);
  page.writeUInt32LE(rng.next(), 4);
  page.writeUInt32LE(rng.next(), 8);
  let off = 16;
  const fill = 1200 + rng.int(2800);
  while (off < fill) {
    const rec = `${rng.int(1e6)}|${words().word(rng)}|${words().word(rng)} ${words().word(rng)}|${rng.int(1e4)}|`;
    if (off + rec.length + 8 > 4096) break;
    page.writeUInt32LE(rng.next(), off);
    page.writeUInt32LE(rec.length, off + 4);
    off += 8 + page.write(rec, off + 8, 'latin1');
  }
  return page;
}

function writeDbFile(path: string, size: number): void {
  const rng = new Rng('large/db');
  let pageNo = 0;
  writeFileWith(path, size, (n) => {
    const pages: Buffer[] = [];
    for (let len = 0; len < n; len += 4096) pages.push(dbPage(rng, pageNo++));
    return Buffer.concat(pages);
  });
}

/** 1 MiB blocks: 40% zeros, 30% incompressible, 30% database pages, like a VM disk image. */
function writeDiskImage(path: string, size: number): void {
  const rng = new Rng('large/disk');
  const random = new RandomStream('large/disk');
  let pageNo = 0;
  writeFileWith(path, size, (n) => {
    const r = rng.int(10);
    if (r < 4) return Buffer.alloc(n);
    if (r < 7) return random.bytes(n);
    const pages: Buffer[] = [];
    for (let len = 0; len < n; len += 4096) pages.push(dbPage(rng, pageNo++));
    return Buffer.concat(pages);
  });
}

// ---------------------------------------------------------------- system files

interface SysEntry {
  path: string;
  size: number;
  mode: number;
  link?: string;
  key: string;
}

function walkSystem(root: string, out: SysEntry[]): void {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  for (const name of names) {
    const full = join(root, name);
    let st;
    try {
      st = lstatSync(full);
    } catch {
      continue;
    }
    const key = createHash('sha256').update(`${SEED}/sys/${full}`).digest('hex');
    if (st.isDirectory()) walkSystem(full, out);
    else if (st.isFile() && st.size <= SYS_MAX_FILE) out.push({ path: full, size: st.size, mode: st.mode, key });
    else if (st.isSymbolicLink()) out.push({ path: full, size: 0, mode: 0, link: readlinkSync(full), key });
  }
}

/** Files from /usr/lib and /usr/share in keyed-hash order up to `budget` bytes, returned sorted by path. */
function selectSystemFiles(budget: number): { selected: SysEntry[]; bytes: number } {
  const all: SysEntry[] = [];
  for (const root of SYS_ROOTS) walkSystem(root, all);
  all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const selected: SysEntry[] = [];
  let bytes = 0;
  for (const e of all) {
    if (budget - bytes < 4096) break;
    if (bytes + e.size > budget) continue;
    try {
      // Readable? (root reads everything; others may not)
      if (!e.link) closeSync(openSync(e.path, 'r'));
    } catch {
      continue;
    }
    selected.push(e);
    bytes += e.size;
  }
  selected.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { selected, bytes };
}

// ---------------------------------------------------------------- tree digest

export interface TreeDigest {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  digest: string;
  /** One line per entry (path, type, mode, size, SHA-256 or link target), for showing differences. */
  lines: string[];
}

/** A checksum of a tree: every path, type, permission bits, size, content SHA-256 and symlink target. Not mtimes. */
export function treeDigest(root: string): TreeDigest {
  const result: TreeDigest = { files: 0, dirs: 0, symlinks: 0, bytes: 0, digest: '', lines: [] };
  const buf = Buffer.allocUnsafe(4 * MiB);
  const walk = (dir: string, rel: string) => {
    const names = readdirSync(dir).sort();
    for (const name of names) {
      const full = join(dir, name);
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(full);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) {
        result.symlinks++;
        result.lines.push(`l ${path} -> ${readlinkSync(full)}`);
      } else if (st.isDirectory()) {
        result.dirs++;
        result.lines.push(`d ${path} ${mode}`);
        walk(full, path);
      } else if (st.isFile()) {
        const hash = createHash('sha256');
        const fd = openSync(full, 'r');
        let size = 0;
        try {
          for (;;) {
            const n = readSync(fd, buf, 0, buf.length, null);
            if (n === 0) break;
            hash.update(buf.subarray(0, n));
            size += n;
          }
        } finally {
          closeSync(fd);
        }
        result.files++;
        result.bytes += size;
        result.lines.push(`f ${path} ${mode} ${size} ${hash.digest('hex')}`);
      } else {
        result.lines.push(`? ${path}`);
      }
    }
  };
  walk(root, '');
  result.digest = createHash('sha256').update(result.lines.join('\n')).digest('hex');
  return result;
}

/** The first `limit` differences between two digests' lines, for an error message. */
export function digestDifferences(expected: TreeDigest, actual: TreeDigest, limit = 10): string[] {
  const want = new Set(expected.lines);
  const have = new Set(actual.lines);
  const out: string[] = [];
  for (const l of expected.lines) if (!have.has(l) && out.length < limit) out.push(`missing/different: ${l}`);
  for (const l of actual.lines) if (!want.has(l) && out.length < 2 * limit) out.push(`unexpected:        ${l}`);
  return out;
}

// ---------------------------------------------------------------- generate

export interface DatasetManifest {
  generatorVersion: number;
  seed: string;
  sizeMiB: number;
  tree: string;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  digest: string;
  changedDigest: string;
  parts: Record<string, { files: number; bytes: number }>;
  sysSources: string[];
  generatedAt: string;
  generateSeconds: number;
}

function setTreeTimes(root: string): void {
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      const st = lstatSync(full);
      if (st.isDirectory()) {
        walk(full);
        chmodSync(full, 0o755);
        utimesSync(full, BASE_MTIME, BASE_MTIME);
      } else if (st.isSymbolicLink()) {
        lutimesSync(full, BASE_MTIME, BASE_MTIME);
      } else {
        utimesSync(full, BASE_MTIME, BASE_MTIME);
      }
    }
  };
  walk(root);
  chmodSync(root, 0o755);
  utimesSync(root, BASE_MTIME, BASE_MTIME);
}

export function generate(sizeMiB: number, log: (s: string) => void = console.log): DatasetManifest {
  const started = Date.now();
  const dir = datasetDir(sizeMiB);
  const tree = join(dir, 'tree');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  const total = sizeMiB * MiB;
  const parts: DatasetManifest['parts'] = {};
  const count = (part: string, bytes: number) => {
    const p = (parts[part] ??= { files: 0, bytes: 0 });
    p.files++;
    p.bytes += bytes;
  };

  // random/: 200/1024 of the total, incompressible.
  const randomBytes = Math.floor((total * 200) / 1024);
  const blob0 = Math.floor(randomBytes / 2);
  const blob1 = Math.floor(randomBytes / 4);
  log(`  random/: ${(randomBytes / MiB).toFixed(0)} MiB incompressible`);
  writeRandomFile(join(tree, 'random', 'blob-0.bin'), blob0, 'blob-0');
  count('random', blob0);
  writeRandomFile(join(tree, 'random', 'blob-1.bin'), blob1, 'blob-1');
  count('random', blob1);
  let left = randomBytes - blob0 - blob1;
  for (let i = 0; left > 0; i++) {
    const n = Math.min(MiB, left);
    writeRandomFile(join(tree, 'random', 'media', `img-${String(i).padStart(4, '0')}.jpg`), n, `media-${i}`);
    count('random', n);
    left -= n;
  }

  // large/: 192/1024 of the total in three files.
  const largeBytes = Math.floor((total * 192) / 1024);
  log(`  large/: ${(largeBytes / MiB).toFixed(0)} MiB in 3 files`);
  const logSize = Math.floor(largeBytes * 0.5);
  const dbSize = Math.floor(largeBytes * 0.3);
  const diskSize = largeBytes - logSize - dbSize;
  writeLogFile(join(tree, 'large', 'server.log'), logSize);
  count('large', logSize);
  writeDbFile(join(tree, 'large', 'records.db'), dbSize);
  count('large', dbSize);
  writeDiskImage(join(tree, 'large', 'disk.img'), diskSize);
  count('large', diskSize);

  // small/: 24,000 per GiB, 32 B-32 KiB log-uniform.
  const smallCount = Math.max(500, Math.round((24_000 * sizeMiB) / 1024));
  const rng = new Rng('small');
  const kinds = ['txt', 'txt', 'md', 'c', 'js', 'py', 'csv', 'json', 'json', 'bin'];
  for (let i = 0; i < smallCount; i++) {
    const size = Math.floor(32 * Math.pow(1024, rng.float()));
    const kind = rng.pick(kinds);
    const name = `${words().word(rng)}-${String(i).padStart(6, '0')}.${kind}`;
    const path = join(tree, 'small', String(Math.floor(i / 2000)).padStart(2, '0'), String(Math.floor(i / 100) % 20).padStart(2, '0'), name);
    const data = kind === 'bin'
      ? new RandomStream(`small-${i}`).bytes(size)
      : Buffer.from(textOfKind(rng, kind, size), 'latin1').subarray(0, size);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data, { mode: 0o644 });
    count('small', size);
  }
  log(`  small/: ${smallCount} files, ${(parts.small!.bytes / MiB).toFixed(0)} MiB`);

  // sys/: the remainder, copied from /usr.
  const budget = total - randomBytes - largeBytes - parts.small!.bytes;
  const { selected, bytes } = selectSystemFiles(budget);
  for (const e of selected) {
    const dest = join(tree, 'sys', e.path);
    mkdirSync(dirname(dest), { recursive: true });
    if (e.link !== undefined) {
      symlinkSync(e.link, dest);
    } else {
      copyFileSync(e.path, dest);
      chmodSync(dest, e.mode & 0o111 ? 0o755 : 0o644);
      count('sys', e.size);
    }
  }
  log(`  sys/: ${parts.sys?.files ?? 0} files (${selected.length - (parts.sys?.files ?? 0)} symlinks) from ${SYS_ROOTS.join(', ')}, ${(bytes / MiB).toFixed(0)} MiB`);

  // Fill up with generated text if /usr had too little.
  let short = total - randomBytes - largeBytes - parts.small!.bytes - bytes;
  if (short > 64 * 1024) {
    log(`  fill/: ${(short / MiB).toFixed(0)} MiB of generated text (/usr had too little)`);
    const frng = new Rng('fill');
    for (let i = 0; short > 0; i++) {
      const n = Math.min(short, 4 * MiB);
      const path = join(tree, 'fill', `text-${String(i).padStart(5, '0')}.txt`);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, Buffer.from(textOfKind(frng, 'txt', n), 'latin1').subarray(0, n));
      count('fill', n);
      short -= n;
    }
  }

  setTreeTimes(tree);
  const d = treeDigest(tree);
  // The digest the tree has after `change` (restores are compared with it), computed once here.
  applyChange(sizeMiB);
  const changed = treeDigest(tree);
  revertChange(sizeMiB);
  const manifest: DatasetManifest = {
    generatorVersion: GENERATOR_VERSION,
    seed: SEED,
    sizeMiB,
    tree,
    files: d.files,
    dirs: d.dirs,
    symlinks: d.symlinks,
    bytes: d.bytes,
    digest: d.digest,
    changedDigest: changed.digest,
    parts,
    sysSources: SYS_ROOTS,
    generatedAt: new Date().toISOString(),
    generateSeconds: (Date.now() - started) / 1000,
  };
  writeFileSync(join(dir, 'dataset.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

export function readManifest(sizeMiB: number): DatasetManifest | undefined {
  const path = join(datasetDir(sizeMiB), 'dataset.json');
  if (!existsSync(path)) return undefined;
  const m = JSON.parse(readFileSync(path, 'utf8')) as DatasetManifest;
  return m.generatorVersion === GENERATOR_VERSION && m.seed === SEED && m.sizeMiB === sizeMiB ? m : undefined;
}

/** The data set of `sizeMiB`, generated if missing or stale; an interrupted `change` is undone first. */
export function ensureDataset(sizeMiB: number, log: (s: string) => void = console.log, force = false): DatasetManifest {
  let manifest = force ? undefined : readManifest(sizeMiB);
  if (manifest) {
    if (existsSync(changesPath(sizeMiB))) {
      log('  undoing an interrupted 1% change');
      revertChange(sizeMiB);
    }
    const d = treeDigest(manifest.tree);
    if (d.digest === manifest.digest) {
      log(`  reusing ${manifest.tree} (digest ${manifest.digest.slice(0, 16)} verified)`);
      return manifest;
    }
    log('  the existing tree does not match its digest: generating it again');
  }
  log(`  generating ${sizeMiB} MiB under ${datasetDir(sizeMiB)}`);
  manifest = generate(sizeMiB, log);
  log(`  done in ${manifest.generateSeconds.toFixed(0)} s: ${manifest.files} files, ${manifest.symlinks} symlinks, ${(manifest.bytes / MiB).toFixed(1)} MiB, digest ${manifest.digest.slice(0, 16)}`);
  return manifest;
}

// ---------------------------------------------------------------- the 1% change

function changesPath(sizeMiB: number): string {
  return join(datasetDir(sizeMiB), 'changes.json');
}

function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const st = lstatSync(full);
      if (st.isDirectory()) walk(full);
      else if (st.isFile()) out.push(full);
    }
  };
  walk(root);
  return out;
}

/**
 * Modifies 1% of the regular files (a seeded sample): overwrites up to 64 bytes at a seeded offset with
 * different bytes, keeps the size, and sets the mtime one day later. Originals go to .orig/ for revertChange.
 */
export function applyChange(sizeMiB: number): { files: number; bytesModified: number } {
  const dir = datasetDir(sizeMiB);
  const tree = join(dir, 'tree');
  if (existsSync(changesPath(sizeMiB))) throw new Error('a 1% change is already applied; revert it first');
  const files = listFiles(tree);
  const n = Math.ceil(files.length / 100);
  const rng = new Rng('change');
  // Partial Fisher-Yates: the first n of a seeded shuffle.
  const order = files.map((_, i) => i);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(order.length - i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const chosen = order.slice(0, n).sort((a, b) => a - b).map((i) => files[i]!);
  const orig = join(dir, '.orig');
  rmSync(orig, { recursive: true, force: true });
  writeFileSync(changesPath(sizeMiB), JSON.stringify(chosen.map((f) => relative(tree, f))) + '\n');
  let bytesModified = 0;
  for (const file of chosen) {
    const rel = relative(tree, file);
    const saved = join(orig, rel);
    mkdirSync(dirname(saved), { recursive: true });
    copyFileSync(file, saved);
    const fd = openSync(file, 'r+');
    try {
      const size = fstatSync(fd).size;
      if (size === 0) {
        // Nothing to overwrite: an empty file stays empty, only its mtime changes.
      } else {
        const len = Math.min(size, 16 + rng.int(49));
        const offset = rng.int(size - len + 1);
        const buf = Buffer.alloc(len);
        readSync(fd, buf, 0, len, offset);
        for (let i = 0; i < len; i++) buf[i] = buf[i]! ^ (1 + rng.int(255));
        writeSync(fd, buf, 0, len, offset);
        bytesModified += len;
      }
    } finally {
      closeSync(fd);
    }
    utimesSync(file, CHANGED_MTIME, CHANGED_MTIME);
  }
  return { files: chosen.length, bytesModified };
}

/** Puts back the originals saved by applyChange, with the data set's fixed mtime. */
export function revertChange(sizeMiB: number): number {
  const dir = datasetDir(sizeMiB);
  const tree = join(dir, 'tree');
  const path = changesPath(sizeMiB);
  if (!existsSync(path)) return 0;
  const changed = JSON.parse(readFileSync(path, 'utf8')) as string[];
  for (const rel of changed) {
    const saved = join(dir, '.orig', rel);
    if (existsSync(saved)) {
      copyFileSync(saved, join(tree, rel));
      utimesSync(join(tree, rel), BASE_MTIME, BASE_MTIME);
    }
  }
  rmSync(join(dir, '.orig'), { recursive: true, force: true });
  rmSync(path);
  return changed.length;
}

// ---------------------------------------------------------------- command line

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

if (import.meta.main) {
  const [command, ...args] = process.argv.slice(2);
  const size = argValue(args, '--size') !== undefined ? Number(argValue(args, '--size')) : defaultSizeMiB();
  switch (command) {
    case 'generate': {
      const m = ensureDataset(size, console.log, args.includes('--force'));
      console.log(JSON.stringify({ ...m }, null, 2));
      break;
    }
    case 'change':
      console.log(JSON.stringify(applyChange(size)));
      break;
    case 'revert':
      console.log(`reverted ${revertChange(size)} files`);
      break;
    case 'digest': {
      const dir = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--size');
      const d = treeDigest(dir ?? join(datasetDir(size), 'tree'));
      console.log(JSON.stringify({ files: d.files, dirs: d.dirs, symlinks: d.symlinks, bytes: d.bytes, digest: d.digest }));
      break;
    }
    default:
      console.error('usage: node bench/dataset.ts generate|change|revert [--size MiB] [--force] | digest DIR');
      process.exitCode = 2;
  }
}
