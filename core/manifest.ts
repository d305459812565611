/**
 * The manifest (FORMAT.md §9): the file tree of one recovery point and each file's chunks.
 * Stored at `trees/<point id>` as a STREAM object (kind manifest) under the run's DEK;
 * plaintext is zstd-compressed NDJSON: a header line, then one entry per line, every
 * directory before its contents.
 */
import { BunkerError } from './errors.ts';
import { isLowerHex, utf8 } from './format/bytes.ts';
import { utf8Lines, utf8LinesOfPieces } from './format/utf8-lines.ts';
import { CHUNK_ID_BYTES } from './chunk-id.ts';
import { Utf8Builder } from './format/utf8-builder.ts';

export const MANIFEST_VERSION = 1;
export const MAX_PATH_BYTES = 4096;

export type EntryType = 'file' | 'dir' | 'symlink';

export interface ManifestEntry {
  /** Relative, '/'-separated; see checkEntryPath. */
  readonly path: string;
  readonly type: EntryType;
  /** Permission bits (0..0o7777). */
  readonly mode: number;
  readonly mtimeMs: number;
  readonly size: number;
  /** Owner and group (numeric ids) as the source saw them; absent when it did not say (a tar upload). */
  readonly uid?: number;
  readonly gid?: number;
  /** File identity as the source saw it, for change detection on the next run. */
  readonly inode?: number;
  /** Chunk ids (hex), in order; files only. */
  readonly chunks?: readonly string[];
  /** Link target, verbatim; symlinks only. */
  readonly target?: string;
}

export interface ManifestHeader {
  readonly version: number;
  /** The source paths as given on the command line. */
  readonly sources: readonly string[];
  readonly host: string;
}

export interface Manifest {
  readonly header: ManifestHeader;
  readonly entries: readonly ManifestEntry[];
}

/**
 * A manifest path is confined to the restore target: relative, no empty, '.' or '..'
 * components, no NUL, bounded length. Checked on every parse, because a manifest is input.
 */
export function checkEntryPath(path: unknown, objectName = 'manifest'): string {
  const bad = (why: string): never => {
    throw new BunkerError('UNSAFE_PATH', `${objectName} holds an unsafe path ${JSON.stringify(String(path)).slice(0, 200)} (${why}); refusing to restore it`, { object: objectName });
  };
  if (typeof path !== 'string' || path.length === 0) return bad('empty');
  // UTF-8 takes at most 3 bytes per UTF-16 unit: only a long path needs encoding to be measured.
  if (path.length * 3 > MAX_PATH_BYTES && utf8(path).length > MAX_PATH_BYTES) bad('too long');
  if (path.startsWith('/')) bad('absolute');
  if (path.includes('\0')) bad('NUL byte');
  // Component by component without splitting: every restore and check runs this on every entry.
  for (let start = 0; start <= path.length; ) {
    let end = path.indexOf('/', start);
    if (end === -1) end = path.length;
    const length = end - start;
    if (length === 0) bad('empty component');
    if (length <= 2 && path.charCodeAt(start) === 0x2e && (length === 1 || path.charCodeAt(start + 1) === 0x2e)) {
      bad(length === 2 ? 'parent reference' : 'empty component');
    }
    start = end + 1;
  }
  return path;
}

export function parentPath(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}

/** One line of the manifest's plaintext: the header, or an entry. */
export function manifestLine(value: ManifestHeader | ManifestEntry): string {
  return JSON.stringify(value) + '\n';
}

export function encodeManifest(manifest: Manifest): Uint8Array {
  const out = new Utf8Builder();
  out.append(manifestLine(manifest.header));
  for (const entry of manifest.entries) out.append(manifestLine(entry));
  return out.finish();
}

const isUint = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** A manifest's plaintext: whole, or in pieces as it is decompressed (each valid until the next). */
export type ManifestContent = Uint8Array | Iterable<Uint8Array>;

/**
 * Parses and validates a manifest: safe unique paths, every parent a directory listed
 * before its children, well-formed fields. Anything else is refused before a byte is restored.
 */
export function parseManifest(content: ManifestContent, objectName: string): Manifest {
  const entries: ManifestEntry[] = [];
  const header = scanManifest(content, objectName, (entry) => entries.push(entry));
  return { header, entries };
}

/**
 * Parses and checks a manifest entry by entry, handing each to `visit` in order, for readers
 * that keep less than every entry (a rerun keeps its parent's files in typed arrays). A
 * malformed manifest throws part-way: whatever `visit` built is then to be dropped.
 */
export function scanManifest(content: ManifestContent, objectName: string, visit: (entry: ManifestEntry) => void): ManifestHeader {
  const entries = manifestEntries(content, objectName);
  try {
    for (;;) {
      const step = entries.next();
      if (step.done === true) return step.value;
      visit(step.value);
    }
  } finally {
    // A visit that throws leaves the scan suspended: close its decoder.
    entries.return(undefined as never);
  }
}

/**
 * The same scan as a generator, for readers that pull entries as they go (a restore) and may
 * stop early: returning it closes the decoder behind `content`. The header is its return value.
 * `treeChecked`: these very bytes were scanned to the end before, so the checks of the tree's
 * shape, which hold every path, are skipped; each entry is still checked on its own.
 */
export function* manifestEntries(content: ManifestContent, objectName: string, treeChecked = false): Generator<ManifestEntry, ManifestHeader, undefined> {
  const damaged = (why: string): never => {
    throw new BunkerError('TAMPERED', `${objectName} is malformed (${why})`, { object: objectName });
  };
  let lines: Generator<string>;
  if (content instanceof Uint8Array) {
    if (content[content.length - 1] !== 0x0a) damaged('missing final newline');
    lines = utf8Lines(content, () => damaged('not UTF-8'));
  } else {
    // Decompressed as it is read: the end is known only when it comes.
    lines = utf8LinesOfPieces(content, () => damaged('not UTF-8'), () => damaged('missing final newline'));
  }
  // Closed however the scan ends: a decoder behind the pieces holds a context until then.
  try {
    const parse = (line: string): Record<string, unknown> => {
      try {
        const value = JSON.parse(line);
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
      } catch {
        // fall through
      }
      return damaged('invalid JSON line');
    };
    const head = parse(lines.next().value ?? '');
    if (typeof head.version === 'number' && head.version > MANIFEST_VERSION) {
      throw new BunkerError('UNSUPPORTED_VERSION', `${objectName} has manifest version ${head.version}; this bunker reads version ${MANIFEST_VERSION}. Upgrade bunker to read it.`, { object: objectName });
    }
    if (head.version !== MANIFEST_VERSION) damaged('bad version');
    const header: ManifestHeader = {
      version: MANIFEST_VERSION,
      sources: Array.isArray(head.sources) ? head.sources.map(String) : [],
      host: String(head.host ?? ''),
    };
    const shape = treeChecked ? undefined : new TreeShape();
    for (const line of lines) {
      const raw = parse(line);
      const path = checkEntryPath(raw.path, objectName);
      const type = raw.type;
      // The tree's shape (unique paths, parents before children, directories) depends on the
      // whole text only: a second scan of text that passed once need not keep every path again.
      // A bad type is refused below, before the shape reads what it was told.
      const problem = shape?.add(path, type as EntryType);
      if (problem === 'duplicate') damaged(`duplicate path ${JSON.stringify(path)}`);
      if (problem === 'orphan') {
        throw new BunkerError('UNSAFE_PATH', `${objectName} places ${JSON.stringify(path)} under something that is not a directory; refusing to restore it`, { object: objectName });
      }
      if (type !== 'file' && type !== 'dir' && type !== 'symlink') return damaged(`bad type for ${JSON.stringify(path)}`);
      yield entryOf(raw, path, type, objectName, damaged);
    }
    return header;
  } finally {
    lines.return(undefined);
  }
}

/**
 * Whether `path` comes after `previous` in tree order: depth first, each directory's children
 * by UTF-16 code units, as fs-source walks. That is the paths' order with '/' below every other
 * character (and a path's end below '/').
 */
export function isAfterInTree(previous: string, path: string): boolean {
  const shorter = Math.min(previous.length, path.length);
  for (let i = 0; i < shorter; i++) {
    const a = previous.charCodeAt(i);
    const b = path.charCodeAt(i);
    if (a !== b) return (b === 0x2f ? -1 : b) > (a === 0x2f ? -1 : a);
  }
  return path.length > previous.length;
}

/**
 * The checks of a manifest's shape: no path twice, and each path's parent an earlier `dir`.
 * A manifest in tree order (a backup of files is) has no path twice, and its parents are the
 * directories open along the way: checked with a stack, no lookup in a table of every path.
 * At the first entry out of that order (a tar's own order, or a hand-made manifest) the paths
 * so far go into a table, which checks the rest.
 */
class TreeShape {
  private readonly paths: string[] = [];
  private readonly types: EntryType[] = [];
  /** The directories from the top down to the latest entry's parent, while in tree order. */
  private readonly open: string[] = [];
  private table: Map<string, EntryType> | undefined;
  /** The parent checked last (table mode): entries of one directory come together, checked once. */
  private checkedParent = '';

  add(path: string, type: EntryType): 'duplicate' | 'orphan' | undefined {
    const slash = path.lastIndexOf('/');
    if (this.table === undefined) {
      const previous = this.paths.at(-1);
      if (previous === undefined || isAfterInTree(previous, path)) {
        const open = this.open;
        while (open.length > 0) {
          const top = open.at(-1)!;
          if (path.length > top.length && path.charCodeAt(top.length) === 0x2f && path.startsWith(top)) break;
          open.pop();
        }
        // In tree order, the entries since a directory are all below it: if the parent was listed
        // as a directory, it is still open, and it is the innermost one.
        if (slash !== -1 && open.at(-1)?.length !== slash) return 'orphan';
        if (type === 'dir') open.push(path);
        this.paths.push(path);
        this.types.push(type);
        return undefined;
      }
      this.table = new Map(this.paths.map((p, i) => [p, this.types[i]!]));
      this.paths.length = 0;
      this.types.length = 0;
      this.open.length = 0;
    }
    const table = this.table;
    const known = table.size;
    table.set(path, type);
    if (table.size === known) return 'duplicate';
    if (slash !== -1 && !(slash === this.checkedParent.length && path.startsWith(this.checkedParent))) {
      const parent = path.slice(0, slash);
      if (table.get(parent) !== 'dir') return 'orphan';
      this.checkedParent = parent;
    }
    return undefined;
  }
}

/** An entry's fields, checked, once its path and type are. */
function entryOf(raw: Record<string, unknown>, path: string, type: EntryType, objectName: string, damaged: (why: string) => never): ManifestEntry {
  if (!isUint(raw.mode) || raw.mode > 0o7777 || typeof raw.mtimeMs !== 'number' || !Number.isFinite(raw.mtimeMs) || !isUint(raw.size)) {
    damaged(`bad attributes for ${JSON.stringify(path)}`);
  }
  const entry: { -readonly [K in keyof ManifestEntry]: ManifestEntry[K] } = {
    path,
    type,
    mode: raw.mode as number,
    mtimeMs: raw.mtimeMs as number,
    size: raw.size as number,
  };
  // 2^32 - 1 is chown's "leave unchanged": never an owner to give.
  if (isUint(raw.uid) && raw.uid < 0xffffffff) entry.uid = raw.uid;
  if (isUint(raw.gid) && raw.gid < 0xffffffff) entry.gid = raw.gid;
  if (isUint(raw.inode)) entry.inode = raw.inode;
  if (type === 'file') {
    if (!isChunkList(raw.chunks)) damaged(`bad chunk list for ${JSON.stringify(path)}`);
    entry.chunks = raw.chunks as string[];
  } else if (type === 'symlink') {
    if (typeof raw.target !== 'string' || raw.target.length === 0 || raw.target.includes('\0')) damaged(`bad link target for ${JSON.stringify(path)}`);
    entry.target = raw.target as string;
  }
  return entry;
}

function isChunkList(value: unknown): value is string[] {
  if (!Array.isArray(value)) return false;
  for (const id of value) if (!isLowerHex(id, CHUNK_ID_BYTES * 2)) return false;
  return true;
}
