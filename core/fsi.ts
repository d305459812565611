/**
 * The file-system index (FORMAT.md §10): a compact listing of one point (path, type, size,
 * mtime) without chunk lists, so browsing and `find` across many points read little.
 * Stored at `fsi/<point id>` as a STREAM object (kind fsi) under the run's DEK; plaintext
 * is zstd-compressed NDJSON arrays: [path, type, size, mtimeMs].
 */
import { BunkerError } from './errors.ts';
import { utf8Lines } from './format/utf8-lines.ts';
import { checkEntryPath, type EntryType, type ManifestEntry } from './manifest.ts';
import { Utf8Builder } from './format/utf8-builder.ts';

export interface FsiEntry {
  readonly path: string;
  readonly type: EntryType;
  readonly size: number;
  readonly mtimeMs: number;
}

// FORMAT.md §10
const TYPE_CODES: Record<EntryType, string> = { file: 'f', dir: 'd', symlink: 'l' };
const CODE_TYPES: ReadonlyMap<unknown, EntryType> = new Map([['f', 'file'], ['d', 'dir'], ['l', 'symlink']]);

export function fsiFromManifest(entries: readonly ManifestEntry[]): FsiEntry[] {
  return entries.map(({ path, type, size, mtimeMs }) => ({ path, type, size, mtimeMs }));
}

/** One line of the FSI's plaintext. */
export function fsiLine(e: FsiEntry): string {
  return JSON.stringify([e.path, TYPE_CODES[e.type], e.size, e.mtimeMs]) + '\n';
}

export function encodeFsi(entries: readonly FsiEntry[]): Uint8Array {
  const out = new Utf8Builder();
  for (const e of entries) out.append(fsiLine(e));
  return out.finish();
}

export function parseFsi(bytes: Uint8Array, objectName: string): FsiEntry[] {
  const out: FsiEntry[] = [];
  scanFsi(bytes, objectName, (entry) => out.push(entry));
  return out;
}

/** Parses and checks an FSI entry by entry, for readers that keep none (check). */
export function scanFsi(bytes: Uint8Array, objectName: string, visit: (entry: FsiEntry) => void): void {
  const damaged = (): never => {
    throw new BunkerError('TAMPERED', `${objectName} is malformed`, { object: objectName });
  };
  for (const line of utf8Lines(bytes, damaged)) {
    if (line === '') continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      damaged();
    }
    if (!Array.isArray(row) || row.length !== 4 || !CODE_TYPES.has(row[1]) || typeof row[2] !== 'number' || typeof row[3] !== 'number') damaged();
    const [path, code, size, mtimeMs] = row as [string, string, number, number];
    visit({ path: checkEntryPath(path, objectName), type: CODE_TYPES.get(code)!, size, mtimeMs });
  }
}
