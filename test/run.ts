/**
 * Runs every test/**\/*.test.ts file on one runtime, each in its own process, two at a time
 * (this machine has 2 cores), and ends with the plain line "N passed, N failed".
 * `deno test` does not see uvu tests, hence this runner for both runtimes.
 *
 *   node test/run.ts --runtime node [--filter TEXT]
 *   deno run -A test/run.ts --runtime deno [--filter TEXT]
 *
 * BUNKER_TEST_JOBS sets how many files run at once (2); BUNKER_TEST_FILE_TIMEOUT_S how long one
 * file may run before it is stopped and counted as failed (600).
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const runtime = args[args.indexOf('--runtime') + 1] === 'deno' ? 'deno' : 'node';
const filterAt = args.indexOf('--filter');
const filter = filterAt === -1 ? undefined : args[filterAt + 1];
const jobs = Number(process.env.BUNKER_TEST_JOBS ?? 2);
/** A file still running after this long is stopped and counted as failed: a hang must not eat CI's hour. */
const fileTimeoutMs = Number(process.env.BUNKER_TEST_FILE_TIMEOUT_S ?? 600) * 1000;

async function findTests(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'vectors' && entry.name !== 'fixtures') out.push(...(await findTests(path)));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out.sort();
}

function command(file: string): [string, string[]] {
  const bin = join(root, 'node_modules', '.bin', runtime);
  return runtime === 'deno' ? [bin, ['run', '-A', '--quiet', file]] : [bin, [file]];
}

interface FileResult {
  file: string;
  total: number;
  passed: number;
  skipped: number;
  exitCode: number;
  output: string;
}

/** Process groups of the files running now: a Ctrl-C on the runner stops them too (they are detached). */
const running = new Set<number>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const pid of running) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    process.exit(130);
  });
}

function runFile(file: string): Promise<FileResult> {
  return new Promise((resolve) => {
    const [bin, argv] = command(file);
    // Its own process group, so that a file stopped for its time takes the servers it started along.
    const child = spawn(bin, argv, { cwd: root, detached: true, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', BUNKER_TEST_RUNTIME: runtime } });
    running.add(child.pid!);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n(stopped: still running after ${fileTimeoutMs / 1000} s)\n`;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, fileTimeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      running.delete(child.pid!);
      // eslint-disable-next-line no-control-regex
      const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
      const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(plain)?.[1] ?? 0);
      resolve({ file, total: num('Total'), passed: num('Passed'), skipped: num('Skipped'), exitCode: code ?? 1, output: plain });
    });
  });
}

const files = (await findTests(join(root, 'test'))).filter((f) => filter === undefined || f.includes(filter));
const results: FileResult[] = [];
let next = 0;
await Promise.all(Array.from({ length: Math.max(1, jobs) }, async () => {
  while (next < files.length) {
    const file = files[next++]!;
    const started = Date.now();
    const result = await runFile(file);
    results.push(result);
    const failed = result.total - result.passed - result.skipped;
    const status = result.exitCode === 0 && failed === 0 && result.total > 0 ? 'ok  ' : 'FAIL';
    process.stdout.write(`${status} ${relative(root, file)}  ${result.passed}/${result.total}${result.skipped ? `, ${result.skipped} skipped` : ''}  ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    if (status === 'FAIL') process.stdout.write(result.output.split('\n').map((l) => `    ${l}`).join('\n') + '\n');
  }
}));

let passed = 0;
let failed = 0;
let skipped = 0;
for (const r of results) {
  passed += r.passed;
  skipped += r.skipped;
  // A file that crashed, or ran no test, counts as one failure at least.
  failed += Math.max(r.total - r.passed - r.skipped, r.exitCode !== 0 || r.total === 0 ? 1 : 0);
}
process.stdout.write(`\n[${runtime}] ${files.length} files\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exitCode = failed === 0 && files.length > 0 ? 0 : 1;
