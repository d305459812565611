/**
 * Shared by the HTTP API tests: an app on a fresh BUNKER_HOME (in-process, `app.request()`),
 * tokens of every scope, and a real `bunker serve` child process on 127.0.0.1 for socket
 * tests. Everything a test starts, it stops (`await using`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openCatalog } from '../core/host/catalog-home.ts';
import type { Catalog } from '../core/mod.ts';
import type { TokenScope } from '../core/catalog/records.ts';
import { createApp, type BunkerApp } from '../server/app.ts';
import type { ServerDeps } from '../server/deps.ts';
import { serverDeps } from '../server/host.ts';
import { loadWasmFromPackages } from '../wasm/packages.ts';
import { ROOT, RUNTIME, tempDir } from './helpers.ts';

export interface TestServer {
  readonly app: BunkerApp;
  readonly deps: ServerDeps;
  readonly catalog: Catalog;
  readonly home: string;
  readonly reposRoot: string;
  readonly restoreRoot: string;
  readonly tokens: Readonly<Record<TokenScope, string>>;
  readonly log: string[];
  /** `app.request` with the token of `scope` (default admin); `init.headers` are added. */
  request(path: string, init?: RequestInit & { scope?: TokenScope | null }): Promise<Response>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function testServer(options: { workers?: number; maxBodyBytes?: number; maxObjectBytes?: number } = {}): Promise<TestServer> {
  await loadWasmFromPackages();
  const dir = await tempDir('bunker-server-');
  const home = join(dir.path, 'home');
  const reposRoot = join(dir.path, 'repos');
  const restoreRoot = join(dir.path, 'restore');
  await mkdir(restoreRoot, { recursive: true });
  const catalog = (await openCatalog(home, { create: true }))!;
  const tokens = {
    read: await catalog.createToken('reader', 'read'),
    backup: await catalog.createToken('backer', 'backup'),
    admin: await catalog.createToken('admin', 'admin'),
  };
  const log: string[] = [];
  const deps = await serverDeps({
    catalog, reposRoot, restoreRoots: [restoreRoot], workers: options.workers ?? 0,
    ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}),
    ...(options.maxObjectBytes ? { maxObjectBytes: options.maxObjectBytes } : {}),
    log: (line) => void log.push(line),
  });
  const app = createApp(deps);
  return {
    app, deps, catalog, home, reposRoot, restoreRoot: deps.files.restoreRoots[0]!, tokens, log,
    request(path, init = {}) {
      const { scope = 'admin', ...rest } = init;
      const headers = new Headers(rest.headers);
      if (scope !== null) headers.set('authorization', `Bearer ${tokens[scope]}`);
      return Promise.resolve(app.request(path, { ...rest, headers }));
    },
    async [Symbol.asyncDispose]() {
      await deps.jobs.close();
      catalog.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stderr(): string;
  /** SIGTERM and wait; `kill('SIGKILL')` for a crash. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** `bunker serve --port 0` as a child process on `runtime`, BUNKER_HOME `home`; resolves once it listens. */
export function serveProcess(home: string, args: string[] = [], options: { runtime?: 'node' | 'deno'; env?: Record<string, string> } = {}): Promise<ServerProcess> {
  const runtime = options.runtime ?? RUNTIME;
  const bin = join(ROOT, 'node_modules', '.bin', runtime);
  const cli = join(ROOT, 'cli', 'main.ts');
  const argv = runtime === 'deno' ? ['run', '-A', '--quiet', cli] : [cli];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, NO_COLOR: '1', BUNKER_HOME: home, BUNKER_WORKERS: '1', ...options.env })) if (v !== undefined) env[k] = v;
  const child = spawn(bin, [...argv, 'serve', '--port', '0', '--json', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bunker serve did not start in 30 s: ${stderr}`)), 30_000);
    child.on('exit', () => reject(new Error(`bunker serve exited: ${stderr}`)));
    child.stdout!.on('data', (d) => {
      stdout += d;
      const line = stdout.split('\n')[0]!;
      if (!stdout.includes('\n')) return;
      clearTimeout(timer);
      const { url } = JSON.parse(line) as { url: string };
      const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        return exited;
      };
      resolve({ url, child, stderr: () => stderr, stop, [Symbol.asyncDispose]: async () => void (await stop('SIGKILL')) });
    });
  });
}

export { RUNTIME };
