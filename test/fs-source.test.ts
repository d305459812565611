/**
 * The local-path source (core/host/fs-source.ts) against an independent walk: a plain
 * synchronous recursion with readdirSync and lstatSync that says what a backup must see of the
 * same tree — entries in manifest order with their metadata, links recorded and not followed,
 * other file types, unreadable names and excluded paths skipped.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fsSource } from '../core/host/fs-source.ts';
import type { SourceEntry } from '../core/source.ts';
import { tempDir } from './helpers.ts';

type Seen = Omit<SourceEntry, 'open' | 'readAll'> & { content?: string };

/** What the walk must hand out for `roots`, and its warnings, computed the simple way. */
function expectedWalk(roots: readonly string[], skip: (relative: string) => boolean = () => false): { entries: Seen[]; warnings: string[] } {
  const entries: Seen[] = [];
  const warnings: string[] = [];
  const visit = (path: string, relative: string): void => {
    let st;
    try {
      st = lstatSync(path);
    } catch (error) {
      warnings.push(`cannot read ${path}: ${(error as Error).message}; skipped`);
      return;
    }
    const base = { path: relative, mode: st.mode & 0o7777, mtimeMs: Number(lstatSync(path, { bigint: true }).mtimeNs / 1_000_000n), inode: st.ino, uid: st.uid, gid: st.gid };
    if (st.isDirectory()) {
      entries.push({ ...base, type: 'dir', size: 0 });
      const names = readdirSync(path).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const name of names) if (!skip(`${relative}/${name}`)) visit(join(path, name), `${relative}/${name}`);
    } else if (st.isFile()) {
      entries.push({ ...base, type: 'file', size: st.size });
    } else if (st.isSymbolicLink()) {
      entries.push({ ...base, type: 'symlink', size: 0, target: readlinkSync(path) });
    } else {
      warnings.push(`${path} is not a file, directory or symbolic link; skipped`);
    }
  };
  for (const root of roots) if (!skip(basename(root))) visit(root, basename(root));
  return { entries, warnings };
}

async function walked(roots: readonly string[], exclude: readonly string[] = []): Promise<{ entries: Seen[]; warnings: string[] }> {
  const warnings: string[] = [];
  const entries: Seen[] = [];
  const source = await fsSource(roots, { exclude, onWarning: (message) => warnings.push(message) });
  for await (const { open, readAll, ...entry } of source.entries()) {
    assert.is(typeof open, entry.type === 'file' ? 'function' : 'undefined', `${entry.path}: open`);
    assert.is(typeof readAll, entry.type === 'file' ? 'function' : 'undefined', `${entry.path}: readAll`);
    entries.push(entry);
  }
  return { entries, warnings };
}

/** A tree with depth, siblings that sort in byte order, odd names, links, a FIFO and an empty directory. */
async function buildTree(root: string): Promise<void> {
  const names = ['B', 'a', 'a b', 'a-', 'a.txt', 'é', '日本', 'line\nbreak', '-dash', 'z'];
  for (const [i, name] of names.entries()) {
    const dir = join(root, 'tree', `d${i % 3}`, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'f'), 'x'.repeat(i * 100));
    await mkdir(join(dir, `sub${i}`, 'deeper'), { recursive: true });
    await writeFile(join(dir, `sub${i}`, 'deeper', 'leaf'), name);
  }
  await mkdir(join(root, 'tree', 'empty'));
  await symlink('d0/a', join(root, 'tree', 'link-to-dir'));
  await symlink('../nowhere', join(root, 'tree', 'dangling'));
  const fifo = spawnSync('mkfifo', [join(root, 'tree', 'd1', 'pipe')]);
  assert.is(fifo.status, 0, 'mkfifo');
  await writeFile(join(root, 'single.txt'), 'one file');
  await symlink('single.txt', join(root, 'root-link'));
}

test('the walk hands out every entry of several roots (a directory, a file, a link) in manifest order with its metadata', async () => {
  await using dir = await tempDir();
  await buildTree(dir.path);
  const roots = [join(dir.path, 'tree'), join(dir.path, 'single.txt'), join(dir.path, 'root-link')];
  const expected = expectedWalk(roots);
  const actual = await walked(roots);
  assert.equal(actual, expected);
  assert.ok(expected.entries.length > 50, `${expected.entries.length} entries`);
  assert.equal(expected.warnings, [`${join(dir.path, 'tree', 'd1', 'pipe')} is not a file, directory or symbolic link; skipped`]);
  // Links are recorded, not followed: nothing below link-to-dir.
  assert.not.ok(actual.entries.some((e) => e.path.startsWith('tree/link-to-dir/')));
});

test('the walk skips excluded paths, by base name anywhere or by path, and excluded roots', async () => {
  await using dir = await tempDir();
  await buildTree(dir.path);
  const roots = [join(dir.path, 'tree'), join(dir.path, 'single.txt')];
  const actual = await walked(roots, ['f', 'tree/d0/*', 'single.txt']);
  const expected = expectedWalk(roots, (relative) => basename(relative) === 'f' || /^tree\/d0\/[^/]+$/.test(relative) || relative === 'single.txt');
  assert.equal(actual, expected);
  assert.ok(actual.entries.some((e) => e.path === 'tree/d0'), 'the directory itself is kept');
  assert.not.ok(actual.entries.some((e) => e.path.startsWith('tree/d0/')), 'its children are not');
});

test('a name that is not UTF-8 cannot be read back: a warning, and the walk goes on', async () => {
  await using dir = await tempDir();
  await mkdir(join(dir.path, 'tree'));
  await writeFile(join(dir.path, 'tree', 'after'), 'after');
  await writeFile(join(dir.path, 'tree', 'before'), 'before');
  // readdir hands back U+FFFD for byte 0xFF, a name that does not exist.
  const made = spawnSync('sh', ['-c', 'printf bad > "$1/$(printf "b\\377")"', 'sh', join(dir.path, 'tree')]);
  assert.is(made.status, 0, String(made.stderr));
  const actual = await walked([join(dir.path, 'tree')]);
  assert.equal(actual.entries.map((e) => e.path), ['tree', 'tree/after', 'tree/before']);
  assert.equal(actual.warnings.length, 1);
  assert.is(actual.warnings[0]!, `cannot back up ${join(dir.path, 'tree', 'b\uFFFD')}: its name is not valid UTF-8, which a manifest cannot hold (rename it to back it up); skipped`);
});

test('a consumer that stops early ends the walk; a second walk of the same source starts over', async () => {
  await using dir = await tempDir();
  await buildTree(dir.path);
  const source = await fsSource([join(dir.path, 'tree')]);
  const first: string[] = [];
  for await (const entry of source.entries()) {
    first.push(entry.path);
    if (first.length === 5) break;
  }
  const whole: string[] = [];
  for await (const entry of source.entries()) whole.push(entry.path);
  assert.equal(first, whole.slice(0, 5));
  assert.equal(whole, expectedWalk([join(dir.path, 'tree')]).entries.map((e) => e.path));
});

test('a file gone or replaced by a link after it was listed: reading it fails with the system\'s error, and a link is not followed', async () => {
  await using dir = await tempDir();
  await mkdir(join(dir.path, 'tree'));
  await writeFile(join(dir.path, 'tree', 'gone'), 'soon gone');
  await writeFile(join(dir.path, 'tree', 'swapped'), 'was a file');
  await writeFile(join(dir.path, 'secret'), 'outside the tree');
  const entries = new Map<string, SourceEntry>();
  for await (const entry of (await fsSource([join(dir.path, 'tree')])).entries()) entries.set(entry.path, entry);
  await rm(join(dir.path, 'tree', 'gone'));
  await rm(join(dir.path, 'tree', 'swapped'));
  await symlink('../secret', join(dir.path, 'tree', 'swapped'));
  for (const [path, code] of [['tree/gone', 'ENOENT'], ['tree/swapped', 'ELOOP']] as const) {
    const whole = await entries.get(path)!.readAll!().then(() => undefined, (error: NodeJS.ErrnoException) => error.code);
    assert.is(whole, code, `${path}: readAll`);
    const opened = await entries.get(path)!.open!().then(() => undefined, (error: NodeJS.ErrnoException) => error.code);
    assert.is(opened, code, `${path}: open`);
  }
});

test('mtimes are whole milliseconds cut toward zero, the same on every runtime (Node\'s double mtimeMs rounds some up)', async () => {
  await using dir = await tempDir();
  await mkdir(join(dir.path, 'tree'));
  // Set with nanoseconds by touch(1): utimes() takes seconds as a double and cannot.
  const cases = [
    ['a', '@1700000000.000999999', 1700000000000],
    ['b', '@1700000000.999999999', 1700000000999],
    ['c', '@1700000000.999500000', 1700000000999],
    ['d', '@1700000000.123456789', 1700000000123],
    ['e', '@-1.000000001', -1000],
  ] as const;
  for (const [name, time] of cases) {
    await writeFile(join(dir.path, 'tree', name), name);
    const touched = spawnSync('touch', ['-m', '-d', time, join(dir.path, 'tree', name)]);
    assert.is(touched.status, 0, String(touched.stderr));
  }
  const { entries } = await walked([join(dir.path, 'tree')]);
  assert.equal(
    entries.filter((e) => e.type === 'file').map((e) => [e.path, e.mtimeMs]),
    cases.map(([name, , ms]) => [`tree/${name}`, ms]),
  );
});

test.run();
