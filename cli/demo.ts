#!/usr/bin/env node
/**
 * `npm run demo [-- PATH]`: the main job end to end on the embedded defaults. Backs up PATH
 * (default: this checkout, without node_modules and .git) into the default repository under
 * BUNKER_HOME, restores it into a fresh directory, and verifies every byte.
 */
import './threadpool.ts';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdtemp, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { runBackup } from './commands/backup.ts';
import { runRestore } from './commands/restore.ts';
import { dataHome, repositoryPath } from './context.ts';
import { processIo } from './io.ts';

const io = processIo();
const source = resolve(process.argv[2] ?? new URL('..', import.meta.url).pathname);
const home = dataHome(io.env);
const env: Record<string, string | undefined> = { ...io.env };
if (!env.BUNKER_PASSWORD && !env.BUNKER_PASSWORD_FILE) {
  // A generated password in a 0600 file, so the demo runs unattended; its path is printed, never the password.
  const file = join(home, 'demo-password');
  try {
    await readFile(file);
  } catch {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(home, { recursive: true, mode: 0o700 });
    await writeFile(file, randomBytes(24).toString('base64url'), { mode: 0o600 });
  }
  await chmod(file, 0o600);
  env.BUNKER_PASSWORD_FILE = file;
  io.err(`demo: using the generated password in ${file}\n`);
}
const demoIo = { ...io, env };

async function tree(root: string, rel = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of (await readdir(join(root, rel))).sort()) {
    if (rel === '' && (name === 'node_modules' || name === '.git')) continue;
    if (rel === 'bench' && (name === 'data' || name === 'work')) continue;
    const path = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(root, path));
    if (st.isSymbolicLink()) out.set(path, `link:${await readlink(join(root, path))}`);
    else if (st.isDirectory()) for (const [k, v] of await tree(root, path)) out.set(k, v);
    else if (st.isFile()) out.set(path, Buffer.from(await crypto.subtle.digest('SHA-256', await readFile(join(root, path)))).toString('hex'));
  }
  return out;
}

try {
  io.out(`demo: backing up ${source}\n      into ${repositoryPath({}, env)}\n\n`);
  const backup = await runBackup({ paths: [source], exclude: [`${basename(source)}/node_modules`, `${basename(source)}/.git`, `${basename(source)}/bench/data`, `${basename(source)}/bench/work`] }, demoIo);
  const target = await mkdtemp(join(tmpdir(), 'bunker-demo-restore-'));
  io.out('\n');
  await runRestore({ point: backup.pointId, target }, demoIo);
  const [before, after] = await Promise.all([tree(source), tree(join(target, basename(source)))]);
  const differences = [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k));
  if (differences.length > 0) {
    io.err(`demo: restored tree differs in ${differences.length} entries, e.g. ${differences.slice(0, 5).join(', ')}\n`);
    process.exitCode = 1;
  } else {
    io.out(`\ndemo: verified ${before.size} files and links byte for byte in ${target}\n`);
    const passwordHint = env.BUNKER_PASSWORD_FILE && !io.env.BUNKER_PASSWORD_FILE ? ` BUNKER_PASSWORD_FILE=${env.BUNKER_PASSWORD_FILE}` : '';
    io.out(`demo: next, try (with BUNKER_HOME=${home}${passwordHint}):\n      npx bunker points   npx bunker find '*.md'   npx bunker check --read-data\n`);
  }
} catch (error) {
  io.err(`demo: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
