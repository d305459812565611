/** Builds file trees for tests and compares restored trees byte for byte, with modes, times and links. */
import { chmod, lstat, mkdir, readdir, readFile, readlink, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type TreeSpec = Record<string, string | Uint8Array | { link: string } | { dir: true } | { data: string | Uint8Array; mode?: number; mtimeMs?: number }>;

/** Writes `spec` under `root`; keys are relative paths, parents created as needed. */
export async function writeTree(root: string, spec: TreeSpec): Promise<void> {
  for (const [path, value] of Object.entries(spec)) {
    const full = join(root, ...path.split('/'));
    await mkdir(join(full, '..'), { recursive: true });
    if (typeof value === 'string' || value instanceof Uint8Array) {
      await writeFile(full, value);
    } else if ('link' in value) {
      await symlink(value.link, full);
    } else if ('dir' in value) {
      await mkdir(full, { recursive: true });
    } else {
      await writeFile(full, value.data);
      if (value.mode !== undefined) await chmod(full, value.mode);
      if (value.mtimeMs !== undefined) await utimes(full, value.mtimeMs / 1000, value.mtimeMs / 1000);
    }
  }
}

/**
 * Sets the mtime of every regular file under `root` to `ageMs` ago. A backup trusts a file's
 * mtime to tell it unchanged only when it is older than the parent run's start (with a margin
 * for coarse clocks), so a test whose rerun must skip files writes them "earlier".
 */
export async function ageTree(root: string, ageMs = 3_600_000): Promise<void> {
  // Whole seconds: a fraction of a ms in floating point can floor to different ms on Node and Deno.
  const seconds = Math.floor((Date.now() - ageMs) / 1000);
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) await utimes(join(entry.parentPath, entry.name), seconds, seconds);
  }
}

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtimeMs?: number;
  data?: string;
  target?: string;
}

/** A comparable snapshot of a tree: content as base64-ish hex digests would hide diffs, so keep raw hex for small files. */
export async function snapshotTree(root: string, options: { dirTimes?: boolean } = {}): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {};
  const walk = async (dir: string, rel: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const full = join(dir, name);
      const path = rel ? `${rel}/${name}` : name;
      // BigInt stats: the exact millisecond, cut toward zero as the backup records it (FORMAT.md §1.2).
      const st = await lstat(full, { bigint: true });
      const mtimeMs = Number(st.mtimeNs / 1_000_000n);
      const mode = Number(st.mode & 0o7777n);
      if (st.isSymbolicLink()) {
        out[path] = { type: 'symlink', mode: 0, target: await readlink(full) };
      } else if (st.isDirectory()) {
        out[path] = { type: 'dir', mode, ...(options.dirTimes ? { mtimeMs } : {}) };
        await walk(full, path);
      } else {
        const bytes = await readFile(full);
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
        out[path] = { type: 'file', mode, mtimeMs, data: `${bytes.length}:${Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')}` };
      }
    }
  };
  await walk(root, '');
  return out;
}
