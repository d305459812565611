/**
 * Fixtures for the bad-input tests (tamper, hostile manifest and point, fault injection,
 * CLI errors): an in-memory backup source, a memory restore sink, byte damage, and a
 * file-tree snapshot to prove that a refused restore wrote nothing anywhere.
 */
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManifestEntry, RestoreSink, Source, SourceEntry } from '../core/mod.ts';
import { bytesReader } from '../core/mod.ts';
import { toBase64 } from '../core/format/bytes.ts';
import { parseDocument } from '../core/format/document.ts';
import { MemoryStorage } from '../core/storage/memory.ts';

/** One entry of an in-memory tree: a directory, a file with its bytes, or a symlink. */
export type TreeEntry =
  | { readonly path: string; readonly type: 'dir' }
  | { readonly path: string; readonly type: 'file'; readonly data: Uint8Array }
  | { readonly path: string; readonly type: 'symlink'; readonly target: string };

/** A backup Source over an in-memory tree (entries must already be in manifest order). */
export function memorySource(tree: readonly TreeEntry[]): Source {
  return {
    sources: ['/memory'],
    host: 'test-host',
    async *entries(): AsyncGenerator<SourceEntry> {
      for (const e of tree) {
        const base = { path: e.path, mode: e.type === 'dir' ? 0o755 : 0o644, mtimeMs: 1_700_000_000_000 };
        if (e.type === 'dir') yield { ...base, type: 'dir', size: 0 };
        else if (e.type === 'symlink') yield { ...base, type: 'symlink', size: 0, target: e.target };
        else yield { ...base, type: 'file', size: e.data.length, open: async () => bytesReader(e.data) };
      }
    },
  };
}

/** A restore sink that keeps everything in memory and records the calls it got. */
export class MemorySink implements RestoreSink {
  readonly files = new Map<string, Uint8Array>();
  readonly dirs: string[] = [];
  readonly symlinks = new Map<string, string>();
  began = false;
  committed = false;
  aborted = false;

  /** Paths planned, in order. */
  readonly planned: string[] = [];

  async plan(entry: ManifestEntry): Promise<void> {
    this.planned.push(entry.path);
  }
  async begin(): Promise<void> {
    this.began = true;
  }
  async directory(entry: ManifestEntry): Promise<void> {
    this.dirs.push(entry.path);
  }
  async symlink(entry: ManifestEntry): Promise<void> {
    this.symlinks.set(entry.path, entry.target!);
  }
  async file(entry: ManifestEntry, data: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = [];
    for await (const chunk of data) parts.push(chunk.slice());
    this.files.set(entry.path, concat(parts));
  }
  async commit(): Promise<void> {
    this.committed = true;
  }
  async abort(): Promise<void> {
    this.aborted = true;
  }
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A copy of `bytes` with the byte at `at` XORed with `mask` (never 0, so it always changes). */
export function flipByte(bytes: Uint8Array, at: number, mask = 0x01): Uint8Array {
  if (mask === 0 || at < 0 || at >= bytes.length) throw new Error(`flipByte: bad position ${at} of ${bytes.length}`);
  const out = bytes.slice();
  out[at]! ^= mask;
  return out;
}

/** A copy of `storage` (objects are copied too, so damage to one does not reach the other). */
export function cloneStorage(storage: MemoryStorage): MemoryStorage {
  const copy = new MemoryStorage();
  for (const [key, value] of storage.objects) copy.objects.set(key, value.slice());
  return copy;
}

/** Exchanges the contents of two objects. */
export function swapObjects(storage: MemoryStorage, a: string, b: string): void {
  const x = storage.objects.get(a);
  const y = storage.objects.get(b);
  if (x === undefined || y === undefined || a === b) throw new Error(`swapObjects: ${a} / ${b}`);
  storage.objects.set(a, y);
  storage.objects.set(b, x);
}

/** The object at `key`, which must exist (a test fixture error otherwise). */
export function objectOf(storage: MemoryStorage, key: string): Uint8Array {
  const value = storage.objects.get(key);
  if (value === undefined) throw new Error(`fixture: no object ${key}`);
  return value;
}

/** Parses a metadata document (config or point) without any policy: magic, version, flags, body. */
export async function documentBody(bytes: Uint8Array, magic: string, objectName: string): Promise<Record<string, unknown>> {
  return structuredClone((await parseDocument(bytes, magic, 99, objectName)).body);
}

/**
 * Every path under `root` (relative, '/'-separated) with what is there: a directory, a
 * symlink's target or a file's whole content. Two equal snapshots mean nothing was
 * created, removed or changed.
 */
export async function snapshotTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const path = join(dir, name);
      const key = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(path);
      if (st.isSymbolicLink()) out[key] = `symlink -> ${await readlink(path)}`;
      else if (st.isDirectory()) {
        out[key] = 'dir';
        await walk(path, key);
      } else out[key] = `file ${toBase64(new Uint8Array(await readFile(path)))}`;
    }
  };
  await walk(root, '');
  return out;
}
