/**
 * Runs the comparison: BENCH_RUNS rounds; in each, every step for every tool, tools alternating
 * (the order rotates each round), each step timed under GNU time for its peak RSS, the page cache
 * dropped before every step when possible. Fresh repositories and restore targets every round;
 * every restore is checked against the source tree's digest. Progress goes to stderr, the table to
 * stdout, everything to bench/results/<date>-<host>.json. Started by bench/run.sh.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import {
  applyChange, BENCH_DIR, defaultSizeMiB, digestDifferences, ensureDataset, revertChange, treeDigest, type TreeDigest,
} from './dataset.ts';
import { type Measurement, renderTable, type Results, type Round, summarize } from './report.ts';
import { borgTool, bunkerTool, resticTool, type Command, STEP_LABELS, STEPS, type Tool, type ToolContext, TOOLS, type ToolName } from './tools.ts';

const MiB = 1024 * 1024;
const log = (s: string) => process.stderr.write(s + '\n');

const profile = process.argv.includes('--profile');
const sizeMiB = defaultSizeMiB();
const runs = Number(process.env.BENCH_RUNS ?? 3);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`BENCH_RUNS must be a positive integer, got ${process.env.BENCH_RUNS}`);
const quick = process.env.BENCH_QUICK === '1';
const repoRoot = resolve(BENCH_DIR, '..');
const workDir = join(BENCH_DIR, 'work');
const node = process.execPath;

// ---------------------------------------------------------------- running one step

interface RunOutput {
  seconds: number;
  maxRssKiB?: number;
  stdout: string;
  stderr: string;
  code: number | null;
}

const hasGnuTime = existsSync('/usr/bin/time');

function tail(text: string, max = 2000): string {
  return text.length > max ? '…' + text.slice(-max) : text;
}

function run(cmd: Command, env: Record<string, string>, timeFile: string): Promise<RunOutput> {
  const [file, args] = hasGnuTime ? ['/usr/bin/time', ['-v', '-o', timeFile, cmd.file, ...cmd.args]] : [cmd.file, cmd.args];
  return new Promise((resolvePromise, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file as string, args as string[], { cwd: cmd.cwd ?? BENCH_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout = (stdout + s).slice(-4 * MiB);
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr = (stderr + s).slice(-64 * 1024);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      let maxRssKiB: number | undefined;
      if (hasGnuTime && existsSync(timeFile)) {
        const text = readFileSync(timeFile, 'utf8');
        const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(text);
        if (m) maxRssKiB = Number(m[1]);
        const exit = /Exit status: (\d+)/.exec(text);
        if (exit && code === 0) code = Number(exit[1]);
        rmSync(timeFile, { force: true });
      }
      resolvePromise({ seconds, ...(maxRssKiB !== undefined ? { maxRssKiB } : {}), stdout, stderr, code });
    });
  });
}

let pageCache: Results['config']['pageCache'] = 'dropped before every step';

function dropCaches(): boolean {
  if (process.env.BENCH_DROP_CACHES === '0') {
    pageCache = 'warm for all tools alike (BENCH_DROP_CACHES=0)';
    return false;
  }
  if (pageCache !== 'dropped before every step') return false;
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    pageCache = 'warm for all tools alike (could not drop it)';
    log('!! cannot drop the page cache (needs root and a writable /proc/sys/vm/drop_caches): caches are warm for all tools alike');
    return false;
  }
}

function duBytes(path: string): number {
  return Number(execFileSync('du', ['-sb', path], { encoding: 'utf8' }).split(/\s/)[0]);
}

/** The last JSON object line of a --json output (bunker prints one). */
function lastJson(stdout: string): Record<string, unknown> | undefined {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch { /* not JSON */ }
  }
  return undefined;
}

/**
 * The bunker sources to run: BENCH_BUNKER_REF=<git ref> exports that commit into bench/work/bunker-<sha>/
 * (so edits to the working tree during a long run do not leak into it); BENCH_BUNKER_DIR=<dir> uses
 * another checkout; by default, this working tree as it is.
 */
function bunkerSources(): { dir: string; commit?: string } {
  const ref = process.env.BENCH_BUNKER_REF;
  if (!ref) return { dir: resolve(process.env.BENCH_BUNKER_DIR ?? repoRoot) };
  const commit = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--verify', `${ref}^{commit}`], { encoding: 'utf8' }).trim();
  const dir = join(workDir, `bunker-${commit.slice(0, 12)}`);
  if (!existsSync(join(dir, 'cli', 'main.ts'))) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    execFileSync('bash', ['-c', 'git -C "$1" archive "$2" | tar -x -C "$3"', '_', repoRoot, commit, dir]);
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  }
  return { dir, commit };
}
const sources = bunkerSources();
const bunkerDir = sources.dir;

function supportsProfile(subcommand: string): boolean {
  try {
    const help = execFileSync(node, [join(bunkerDir, 'cli', 'main.ts'), subcommand, '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return help.includes('--profile');
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- the rounds

function hostInfo(): Record<string, unknown> {
  let os = 'unknown';
  try {
    os = /PRETTY_NAME="([^"]*)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch { /* not Linux */ }
  let fs = 'unknown';
  try {
    fs = execFileSync('stat', ['-f', '-c', '%T', BENCH_DIR], { encoding: 'utf8' }).trim();
  } catch { /* no stat -f */ }
  return {
    hostname: hostname(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    os,
    filesystem: fs,
  };
}

function resultsPath(): string {
  const dir = quick ? join(workDir, 'results') : join(BENCH_DIR, 'results');
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const base = `${date}-${hostname()}${quick ? '-quick' : sizeMiB !== 1024 ? `-${sizeMiB}MiB` : ''}`;
  let path = join(dir, `${base}.json`);
  for (let i = 2; existsSync(path); i++) path = join(dir, `${base}-${i}.json`);
  return path;
}

async function main(): Promise<number> {
  const startedAt = Date.now();
  const tools: Record<ToolName, Tool> = { bunker: bunkerTool(bunkerDir, node, sources.commit), restic: resticTool, borg: borgTool };
  const password = randomBytes(24).toString('base64url'); // one per run, in the environment only, never printed

  log(`== data set (${sizeMiB} MiB)`);
  const dataset = ensureDataset(sizeMiB, log);
  const expectedAfterChange = dataset.changedDigest;

  let useProfile = profile;
  if (profile) {
    const backupHas = supportsProfile('backup');
    const restoreHas = supportsProfile('restore');
    if (!backupHas || !restoreHas) {
      log(`!! profile mode: bunker ${!backupHas ? 'backup' : ''}${!backupHas && !restoreHas ? ' and ' : ''}${!restoreHas ? 'restore' : ''} has no --profile flag yet; running without it`);
      useProfile = false;
    }
  }

  const results: Results = {
    schema: 'bunker-bench/1',
    date: new Date().toISOString(),
    host: hostInfo(),
    tools: {} as Results['tools'],
    config: { sizeMiB, runs, quick, profile, pageCache, commands: { bunker: {}, restic: {}, borg: {} } },
    dataset: { ...dataset, tree: relative(join(BENCH_DIR, '..'), dataset.tree) },
    rounds: [],
    problems: [],
  };
  for (const t of TOOLS) results.tools[t] = { version: tools[t].version(), settings: tools[t].settings };
  for (const t of TOOLS) log(`   ${results.tools[t].version}`);

  if (dropCaches()) log('== page cache: dropped before every step (sync; echo 3 > /proc/sys/vm/drop_caches)');
  results.config.pageCache = pageCache;

  for (const old of existsSync(workDir) ? readdirSync(workDir) : []) {
    if (old.startsWith('round-')) rmSync(join(workDir, old), { recursive: true, force: true });
  }

  for (let r = 0; r < runs; r++) {
    const order = TOOLS.map((_, i) => TOOLS[(i + r) % TOOLS.length]!);
    const roundDir = join(workDir, `round-${r + 1}`);
    const round: Round = {
      round: r + 1,
      order,
      steps: { bunker: {}, restic: {}, borg: {} },
      repoBytes: { bunker: {}, restic: {}, borg: {} },
      restoreVerified: {},
    };
    results.rounds.push(round);
    log(`== round ${r + 1}/${runs}: order ${order.join(', ')}`);
    const source = treeDigest(dataset.tree);
    if (source.digest !== dataset.digest) throw new Error(`the data set ${dataset.tree} changed (digest ${source.digest.slice(0, 16)}, expected ${dataset.digest.slice(0, 16)}); run: node bench/dataset.ts generate --force`);
    const contexts = {} as Record<ToolName, ToolContext>;
    for (const t of TOOLS) {
      const home = join(roundDir, t, 'home');
      mkdirSync(home, { recursive: true });
      contexts[t] = { home, repo: join(roundDir, t, 'repo'), source: dataset.tree, password, profile: useProfile };
    }
    const failed = new Set<ToolName>();
    let changedDigest: TreeDigest | undefined;
    try {
      for (const step of STEPS) {
        if (step === 'changed') {
          round.change = applyChange(sizeMiB);
          log(`   changed ${round.change.files} files (${round.change.bytesModified} bytes modified, mtimes moved)`);
        }
        if (step === 'restore') {
          changedDigest = treeDigest(dataset.tree);
          if (changedDigest.digest !== expectedAfterChange) throw new Error('the 1% change did not give the expected tree');
        }
        for (const t of order) {
          if (failed.has(t)) continue;
          const tool = tools[t];
          const ctx = contexts[t];
          const target = join(roundDir, t, 'restore');
          if (step === 'restore') mkdirSync(target, { recursive: true });
          const cmd = tool.command(step, ctx, target);
          if (r === 0) {
            const text = [cmd.file === node ? 'node' : cmd.file, ...cmd.args].join(' ') + (cmd.cwd ? ` (in ${cmd.cwd})` : '');
            results.config.commands[t][step] = text.replaceAll(repoRoot + '/', '');
          }
          const env: Record<string, string> = {
            PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
            LANG: 'C.UTF-8',
            HOME: ctx.home,
            XDG_CACHE_HOME: join(ctx.home, '.cache'),
            XDG_CONFIG_HOME: join(ctx.home, '.config'),
            XDG_DATA_HOME: join(ctx.home, '.local', 'share'),
            ...tool.env(ctx),
          };
          dropCaches();
          const out = await run(cmd, env, join(roundDir, `${t}-${step}.time`));
          const m: Measurement = { seconds: out.seconds, ...(out.maxRssKiB !== undefined ? { maxRssKiB: out.maxRssKiB } : {}) };
          round.steps[t][step] = m;
          if (out.code !== 0) {
            m.error = `exit ${out.code}: ${tail(out.stderr.trim() || out.stdout.trim(), 1500)}`;
          } else {
            if (step !== 'init' && step !== 'restore') {
              m.bytes = dataset.bytes;
              m.mbps = dataset.bytes / out.seconds / 1e6;
            }
            if (t === 'bunker') {
              const json = lastJson(out.stdout);
              if (json?.stats !== undefined) m.stats = json.stats;
              if (json?.profile !== undefined && typeof json.profile === 'object') m.profile = json.profile as Record<string, number>;
            }
            if (step === 'backup') round.repoBytes[t].afterFirst = duBytes(ctx.repo);
            if (step === 'restore') {
              const restored = treeDigest(tool.restoredRoot(target, dataset.tree));
              m.bytes = restored.bytes;
              m.mbps = restored.bytes / out.seconds / 1e6;
              const ok = restored.digest === changedDigest!.digest;
              round.restoreVerified[t] = ok;
              if (!ok) {
                m.error = 'RESTORE MISMATCH: the restored tree differs from the source:\n    ' + digestDifferences(changedDigest!, restored).join('\n    ');
              } else if (process.env.BENCH_KEEP_WORK !== '1') {
                rmSync(target, { recursive: true, force: true });
              }
            }
            if (step === 'check') round.repoBytes[t].end = duBytes(ctx.repo);
          }
          const rss = m.maxRssKiB !== undefined ? `  peak RSS ${(m.maxRssKiB / 1024).toFixed(0)} MiB` : '';
          const rate = m.mbps !== undefined ? `  ${m.mbps.toFixed(1).padStart(7)} MB/s` : '';
          log(`   ${STEP_LABELS[step].padEnd(18)} ${t.padEnd(7)} ${m.seconds.toFixed(2).padStart(8)} s${rate}${rss}${step === 'restore' && !m.error ? '  (restore verified)' : ''}`);
          if (m.error) {
            failed.add(t);
            const problem = `round ${r + 1}, ${t}, ${STEP_LABELS[step]}: ${m.error}`;
            results.problems.push(problem);
            log(`!! ${problem}`);
            if (step !== 'restore') log(`!! skipping ${t}'s remaining steps in this round`);
          }
        }
      }
    } finally {
      const n = revertChange(sizeMiB);
      if (n) log(`   reverted the 1% change (${n} files)`);
    }
    if (process.env.BENCH_KEEP_WORK !== '1') rmSync(roundDir, { recursive: true, force: true });
  }

  results.config.pageCache = pageCache;
  results.summary = summarize(results);
  results.table = renderTable(results, results.summary);
  results.totalSeconds = (Date.now() - startedAt) / 1000;
  const path = resultsPath();
  writeFileSync(path, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write('\n' + results.table + '\n\n');
  log(`== results: ${relative(process.cwd(), path)}${quick ? ' (quick mode: not meant to be committed)' : ''}; ${(results.totalSeconds / 60).toFixed(1)} minutes in all`);
  if (results.problems.length) {
    log('');
    log(`!! ${results.problems.length} PROBLEM${results.problems.length > 1 ? 'S' : ''}:`);
    for (const p of results.problems) log(`!! ${p}`);
    return 1;
  }
  return 0;
}

process.exitCode = await main();
