/**
 * How each tool is driven: the command line of every step, its environment, and where a restore lands.
 * Encryption on and zstd-class compression for all three. Passwords travel in the environment only.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type ToolName = 'bunker' | 'restic' | 'borg';
export const TOOLS: readonly ToolName[] = ['bunker', 'restic', 'borg'];

export type StepName = 'init' | 'backup' | 'unchanged' | 'changed' | 'restore' | 'check';
export const STEPS: readonly StepName[] = ['init', 'backup', 'unchanged', 'changed', 'restore', 'check'];
export const STEP_LABELS: Record<StepName, string> = {
  init: 'init',
  backup: 'first backup',
  unchanged: 'unchanged backup',
  changed: '1% changed backup',
  restore: 'full restore',
  check: 'check --read-data',
};

export interface Command {
  file: string;
  args: string[];
  cwd?: string;
}

/** One tool in one round: its private home (caches, config), repository and the tree it backs up. */
export interface ToolContext {
  home: string;
  repo: string;
  source: string;
  password: string;
  profile: boolean;
}

export interface Tool {
  name: ToolName;
  version(): string;
  /** Settings of the comparison, for the results file. */
  settings: string;
  env(ctx: ToolContext): Record<string, string>;
  command(step: StepName, ctx: ToolContext, restoreTarget: string): Command;
  /** Where the backed-up tree ends up under a restore target. */
  restoredRoot(target: string, source: string): string;
}

function firstLine(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}

/**
 * The Node flags and the GLIBC_TUNABLES cli/main.ts starts Node with when run as a program (its
 * second line, `":" //; [GLIBC_TUNABLES="…" ]exec node FLAGS "$0" "$@"`), so the bench runs what
 * `npx bunker` runs. An entry without that line runs with none; one that has it and does not
 * parse stops the bench.
 */
function entryStart(cli: string): { flags: string[]; tunables?: string } {
  const line = readFileSync(cli, 'utf8').split('\n', 2)[1]?.trimEnd() ?? '';
  if (!line.startsWith('":"')) return { flags: [] };
  const match = /^":" \/\/; (?:GLIBC_TUNABLES="(?:\$\{GLIBC_TUNABLES:\+\$GLIBC_TUNABLES:\})?([^"$]+)(?:\$\{GLIBC_TUNABLES:\+:\$GLIBC_TUNABLES\})?" )?exec node((?:\s+-\S+)*)\s+"\$0" "\$@"$/.exec(line);
  if (match === null) throw new Error(`cannot read the Node flags of ${cli}: ${JSON.stringify(line)}`);
  return { flags: match[2]!.trim().split(/\s+/).filter(Boolean), ...(match[1] === undefined ? {} : { tunables: match[1] }) };
}

/** `exportedFrom`: the commit a snapshot of the sources was exported from (BENCH_BUNKER_REF), else the checkout is described. */
export function bunkerTool(bunkerDir: string, node: string, exportedFrom?: string): Tool {
  const cli = join(bunkerDir, 'cli', 'main.ts');
  const { flags: nodeFlags, tunables } = entryStart(cli);
  const backupArgs = (ctx: ToolContext) => ['backup', ctx.source, '--repo', ctx.repo, '--json', '--compression', 'zstd:3', ...(ctx.profile ? ['--profile'] : [])];
  return {
    name: 'bunker',
    settings: 'encrypted (default), --compression zstd:3',
    version() {
      let version = 'unknown';
      try {
        version = (JSON.parse(readFileSync(join(bunkerDir, 'package.json'), 'utf8')) as { version: string }).version;
      } catch { /* no package.json */ }
      if (exportedFrom) return `bunker ${version} (${exportedFrom.slice(0, 12)}, exported from git), node ${firstLine(node, ['--version'])}`;
      const commit = firstLine('git', ['-C', bunkerDir, 'rev-parse', '--short=12', 'HEAD']);
      let dirty = '';
      try {
        dirty = execFileSync('git', ['-C', bunkerDir, 'status', '--porcelain', '--', 'core', 'cli', 'wasm'], { encoding: 'utf8' }).trim() ? '+uncommitted changes in core/cli/wasm' : '';
      } catch { /* not a git checkout */ }
      return `bunker ${version} (${commit}${dirty ? ' ' + dirty : ''}), node ${firstLine(node, ['--version'])}`;
    },
    env: (ctx) => ({ BUNKER_PASSWORD: ctx.password, BUNKER_HOME: ctx.home, ...(tunables === undefined ? {} : { GLIBC_TUNABLES: tunables }) }),
    command(step, ctx, target) {
      const args: Record<StepName, string[]> = {
        init: ['init', '--repo', ctx.repo, '--json'],
        backup: backupArgs(ctx),
        unchanged: backupArgs(ctx),
        changed: backupArgs(ctx),
        restore: ['restore', 'latest', '--target', target, '--repo', ctx.repo, '--json', ...(ctx.profile ? ['--profile'] : [])],
        check: ['check', '--read-data', '--repo', ctx.repo, '--json'],
      };
      return { file: node, args: [...nodeFlags, cli, ...args[step]] };
    },
    restoredRoot: (target, source) => join(target, source.split('/').pop()!),
  };
}

export const resticTool: Tool = {
  name: 'restic',
  settings: 'repository v2, --compression auto, RESTIC_PASSWORD',
  version: () => firstLine('restic', ['version']),
  env: (ctx) => ({ RESTIC_PASSWORD: ctx.password, RESTIC_CACHE_DIR: join(ctx.home, 'cache') }),
  command(step, ctx, target) {
    const args: Record<StepName, string[]> = {
      init: ['init'],
      backup: ['backup', '--compression', 'auto', ctx.source],
      unchanged: ['backup', '--compression', 'auto', ctx.source],
      changed: ['backup', '--compression', 'auto', ctx.source],
      restore: ['restore', 'latest', '--target', target],
      check: ['check', '--read-data'],
    };
    return { file: 'restic', args: ['--repo', ctx.repo, ...args[step]] };
  },
  restoredRoot: (target, source) => join(target, source),
};

export const borgTool: Tool = {
  name: 'borg',
  settings: 'init --encryption repokey-blake2, create --compression zstd,3, BORG_PASSPHRASE',
  version: () => firstLine('borg', ['--version']),
  env: (ctx) => ({
    BORG_PASSPHRASE: ctx.password,
    BORG_BASE_DIR: ctx.home,
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'no',
  }),
  command(step, ctx, target) {
    const create = (name: string) => ['create', '--compression', 'zstd,3', `${ctx.repo}::${name}`, ctx.source];
    switch (step) {
      case 'init': return { file: 'borg', args: ['init', '--encryption', 'repokey-blake2', ctx.repo] };
      case 'backup': return { file: 'borg', args: create('first') };
      case 'unchanged': return { file: 'borg', args: create('unchanged') };
      case 'changed': return { file: 'borg', args: create('changed') };
      // borg extracts into the working directory.
      case 'restore': return { file: 'borg', args: ['extract', `${ctx.repo}::changed`], cwd: target };
      case 'check': return { file: 'borg', args: ['check', '--verify-data', ctx.repo] };
    }
  },
  restoredRoot: (target, source) => join(target, source.replace(/^\/+/, '')),
};
