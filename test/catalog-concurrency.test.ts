/**
 * Two processes writing the product catalog at once (a CLI and a server, DESIGN.md): started
 * together on a fresh data directory, they race to create the database and the master key
 * file, then each creates passwords, records points and increments one shared counter.
 * Nothing is lost: every password (with the right hash), every point, and every increment.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { derivePasswordHash } from '../core/crypto/kdf.ts';
import { openCatalog } from '../core/host/catalog-home.ts';
import { ROOT, RUNTIME, tempDir } from './helpers.ts';

const COUNT = 25;

interface Writer {
  ready: Promise<void>;
  go(): void;
  finished: Promise<{ code: number; output: string }>;
}

function startWriter(runtime: 'node' | 'deno', home: string, who: string): Writer {
  const bin = join(ROOT, 'node_modules', '.bin', runtime);
  const script = join(ROOT, 'test', 'catalog-writer.ts');
  const child = spawn(bin, runtime === 'deno' ? ['run', '-A', '--quiet', script, home, who, String(COUNT)] : [script, home, who, String(COUNT)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let markReady: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout.on('data', (d) => {
    output += d;
    if (output.includes('ready\n')) markReady();
  });
  child.stderr.on('data', (d) => (output += d));
  const finished = new Promise<{ code: number; output: string }>((resolve) => child.on('close', (code) => {
    markReady();
    resolve({ code: code ?? 1, output });
  }));
  return { ready, go: () => child.stdin.end('go\n'), finished };
}

async function race(runtimes: ['node' | 'deno', 'node' | 'deno']): Promise<void> {
  await using dir = await tempDir();
  const home = join(dir.path, 'home');
  const writers = runtimes.map((runtime, i) => startWriter(runtime, home, `w${i}`));
  await Promise.all(writers.map((w) => w.ready));
  for (const w of writers) w.go();
  const results = await Promise.all(writers.map((w) => w.finished));
  for (const r of results) {
    assert.is(r.code, 0, r.output);
    assert.match(r.output, 'done');
  }

  const catalog = (await openCatalog(home, { create: false }))!;
  const passwords = catalog.listPasswords().map((p) => p.name);
  const expected = runtimes.flatMap((_, w) => Array.from({ length: COUNT }, (_, i) => `w${w}-${i}`)).sort();
  assert.equal(passwords, expected, 'every password of both processes');
  for (const name of expected) {
    const version = await catalog.currentPassword(name, 'backup');
    assert.equal(await derivePasswordHash(`${name} secret`, version.salt, version.kdf), version.hash, `${name}: the stored hash is the password's`);
  }
  assert.is(catalog.listPoints().length, 2 * COUNT, 'every point of both processes');
  assert.is(catalog.getSetting('counter'), String(2 * COUNT), 'no increment lost');
  assert.equal((await readdir(home)).filter((n) => n.startsWith('master.key')), ['master.key'], 'one master key, no leftovers');
  catalog.close();
}

test(`two ${RUNTIME} processes at once: nothing lost`, () => race([RUNTIME, RUNTIME]));

test('a Node and a Deno process at once on one database: nothing lost', () => race(['node', 'deno']));

test.run();
