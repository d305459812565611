/** Shared test fixtures: temp directories, small KDF parameters, trees, and the CLI in-process or as a process. */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KdfParams } from '../core/mod.ts';
import { PasswordKeyResolver, Repository } from '../core/mod.ts';
import { MemoryStorage } from '../core/storage/memory.ts';
import type { Storage } from '../core/storage/storage.ts';
import type { Io } from '../cli/io.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';

export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
export const RUNTIME = (process.env.BUNKER_TEST_RUNTIME ?? ('Deno' in globalThis ? 'deno' : 'node')) as 'node' | 'deno';

/** Small Argon2id parameters: tests must not spend 64 MiB and a second per derivation. */
export const TEST_KDF: KdfParams = Object.freeze({ algorithm: 'argon2id', memoryKiB: 64, iterations: 1, parallelism: 1 });
export const TEST_KDF_FLAG = 'm=64,t=1,p=1';
/** Small chunker parameters so files cross chunk boundaries without megabytes of data. */
export const SMALL_CHUNKER = Object.freeze({ minBytes: 1024, avgBytes: 4096, maxBytes: 16384 });

export async function tempDir(prefix = 'bunker-test-'): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

export function fixedResolver(password: string | undefined): PasswordKeyResolver {
  return new PasswordKeyResolver(async () => password);
}

export async function memoryRepo(options: Parameters<typeof Repository.init>[1] = {}): Promise<{ repo: Repository; storage: MemoryStorage }> {
  await loadWasmFromPackages();
  const storage = new MemoryStorage();
  return { repo: await Repository.init(storage, options), storage };
}

export async function openRepo(storage: Storage): Promise<Repository> {
  await loadWasmFromPackages();
  return Repository.open(storage);
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function pseudoRandomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** An Io that records output, for run<Verb>() calls in-process. */
export function memoryIo(env: Record<string, string | undefined> = {}, stdinBytes?: Uint8Array): Io & { stdout: string; stderr: string; bytes: Uint8Array[] } {
  const io = {
    stdout: '',
    stderr: '',
    bytes: [] as Uint8Array[],
    out(text: string) {
      io.stdout += text;
    },
    err(text: string) {
      io.stderr += text;
    },
    async writeOut(bytes: Uint8Array) {
      io.bytes.push(bytes.slice());
    },
    env,
    isInteractive: false,
    promptSecret: async () => undefined,
    async *stdin() {
      if (stdinBytes) yield stdinBytes;
    },
  };
  return io;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Uint8Array;
}

/**
 * Runs the real CLI as a child process on `runtime` (default: the one running the test),
 * with stdin closed unless `input` is given.
 */
export function runCli(args: string[], options: { env?: Record<string, string | undefined>; input?: Uint8Array; runtime?: 'node' | 'deno'; cwd?: string } = {}): Promise<CliRun> {
  const runtime = options.runtime ?? RUNTIME;
  const bin = join(ROOT, 'node_modules', '.bin', runtime);
  const argv = runtime === 'deno' ? ['run', '-A', '--quiet', join(ROOT, 'cli', 'main.ts'), ...args] : [join(ROOT, 'cli', 'main.ts'), ...args];
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, NO_COLOR: '1', ...options.env })) if (v !== undefined) env[k] = v;
    const child = spawn(bin, argv, { cwd: options.cwd ?? ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Uint8Array[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Uint8Array) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const total = out.reduce((n, b) => n + b.length, 0);
      const stdoutBytes = new Uint8Array(total);
      let offset = 0;
      for (const b of out) {
        stdoutBytes.set(b, offset);
        offset += b.length;
      }
      resolve({ code: code ?? 1, stdout: new TextDecoder().decode(stdoutBytes), stderr, stdoutBytes });
    });
    if (options.input) child.stdin.end(options.input);
    else child.stdin.end();
  });
}
