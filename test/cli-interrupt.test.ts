/**
 * Ctrl-C and SIGTERM: the first asks the command to stop cleanly (a backup commits nothing, a
 * restore leaves nothing under its target) and the CLI exits CANCELLED (14); a second stops the
 * process at once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { main } from '../cli/cli.ts';
import { memoryIo, pseudoRandomBytes, ROOT, RUNTIME, tempDir, TEST_KDF_FLAG } from './helpers.ts';

const MiB = 1024 * 1024;

test('the first SIGINT aborts the command\'s signal and says so; the second ends the process (130)', async () => {
  const bin = join(ROOT, 'node_modules', '.bin', RUNTIME);
  const script = join(ROOT, 'test', 'fixtures', 'interrupt-child.ts');
  const child = spawn(bin, RUNTIME === 'deno' ? ['run', '-A', '--quiet', script] : [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiting: (() => void)[] = [];
  child.stdout.on('data', (d) => {
    stdout += d;
    for (const wake of waiting.splice(0)) wake();
  });
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // Fails rather than hangs if the child ends first (its default action on a signal it missed).
  const seen = async (text: string): Promise<void> => {
    while (!stdout.includes(text)) {
      const ended = await Promise.race([new Promise<false>((wake) => waiting.push(() => wake(false))), exited.then(() => true)]);
      if (ended && !stdout.includes(text)) throw new Error(`the child ended before printing ${text}: ${stdout} ${stderr}`);
    }
  };
  await seen('ready');
  // process.kill, not child.kill: Deno's ChildProcess sends a signal once only.
  process.kill(child.pid!, 'SIGINT');
  await seen('aborted');
  process.kill(child.pid!, 'SIGINT');
  assert.is(await exited, 130);
  assert.match(stderr, 'interrupted: stopping cleanly (again to stop at once)');
});

test('backup --stdin interrupted part-way: exit 14 CANCELLED, as JSON too, and no point is committed', async () => {
  await using dir = await tempDir();
  const repo = join(dir.path, 'repo');
  const controller = new AbortController();
  const piece = pseudoRandomBytes(MiB, 4);
  // Changed in place: memoryIo's output methods write to the object it made.
  const io = Object.assign(memoryIo({ BUNKER_PASSWORD: 'pw', BUNKER_HOME: join(dir.path, 'home') }), {
    interruption: () => controller.signal,
    async *stdin() {
      for (let i = 0; i < 6; i++) yield piece.slice();
      controller.abort(); // Ctrl-C while the stream still has data to come
      for (let i = 0; i < 40; i++) {
        pulledAfter++;
        yield piece.slice();
      }
    },
  });
  let pulledAfter = 0;
  const code = await main(['backup', '--stdin', '--stdin-name', 'db.sql', '--repo', repo, '--kdf', TEST_KDF_FLAG, '--json'], io);
  assert.is(code, 14, io.stderr);
  // It stops at the next chunk (a read buffer of up to two 4 MiB chunks), not at the stream's end.
  assert.ok(pulledAfter <= 10, `${pulledAfter} MiB of stdin read after the interrupt`);
  assert.is(JSON.parse(io.stdout).error.code, 'CANCELLED');
  assert.equal(await readdir(join(repo, 'points')).catch(() => []), [], 'no point');
});

test('restore interrupted inside a large file: exit 14 CANCELLED, and nothing under the target', async () => {
  await using dir = await tempDir();
  const repo = join(dir.path, 'repo');
  const env = { BUNKER_PASSWORD: 'pw', BUNKER_HOME: join(dir.path, 'home') };
  const made = memoryIo(env, pseudoRandomBytes(24 * MiB, 9));
  assert.is(await main(['backup', '--stdin', '--stdin-name', 'big.bin', '--repo', repo, '--kdf', TEST_KDF_FLAG], made), 0, made.stderr);
  const target = join(dir.path, 'target');
  // Interrupted once the file is part-written: the check before each of its chunks sees the
  // staged copy, which then holds the chunks before it and not yet the rest.
  const stagedSize = (): number => {
    const staging = (existsSync(target) ? readdirSync(target) : []).find((name) => name.startsWith('.bunker-restore-'));
    const file = staging === undefined ? undefined : join(target, staging, 'big.bin');
    return file !== undefined && existsSync(file) ? statSync(file).size : 0;
  };
  let sizeAtStop = -1;
  const signal = {
    get aborted() {
      const size = stagedSize();
      if (size > 0 && sizeAtStop === -1) sizeAtStop = size;
      return size > 0;
    },
  } as AbortSignal;
  const io = Object.assign(memoryIo(env), { interruption: () => signal });
  const code = await main(['restore', 'latest', '--repo', repo, '--target', target, '--json'], io);
  assert.is(code, 14, io.stderr);
  assert.is(JSON.parse(io.stdout).error.code, 'CANCELLED');
  assert.ok(sizeAtStop > 0 && sizeAtStop < 24 * MiB, `stopped inside the file, at ${sizeAtStop} bytes`);
  assert.equal(await readdir(target), [], 'no staging directory, no file');
});

test.run();
