/** Medians, ratios, the printed table and the results JSON of a benchmark run. */
import { STEP_LABELS, STEPS, type StepName, TOOLS, type ToolName } from './tools.ts';

const MiB = 1024 * 1024;

export interface Measurement {
  seconds: number;
  /** 10^6 bytes per second over the data set (restore: over the restored bytes). */
  mbps?: number;
  maxRssKiB?: number;
  bytes?: number;
  /** bunker --json: stats of a backup, and the per-stage profile (ms) when --profile is given and supported. */
  stats?: unknown;
  profile?: Record<string, number>;
  error?: string;
}

export interface Round {
  round: number;
  order: ToolName[];
  steps: Record<ToolName, Partial<Record<StepName, Measurement>>>;
  repoBytes: Record<ToolName, { afterFirst?: number; end?: number }>;
  restoreVerified: Partial<Record<ToolName, boolean>>;
  change?: { files: number; bytesModified: number };
}

export interface Summary {
  steps: Record<StepName, Record<ToolName, { seconds?: number; mbps?: number; maxRssKiB?: number; runs: number }>>;
  /** Speed ratios: the peer's seconds over bunker's (2 = bunker twice as fast). */
  ratios: Record<StepName, { vsRestic?: number; vsBorg?: number }>;
  repoBytes: Record<ToolName, { afterFirst?: number; end?: number }>;
  /** bunker's per-stage profile, median ms per stage, for the steps that reported one. */
  profile?: Partial<Record<StepName, Record<string, number>>>;
}

export interface Results {
  schema: 'bunker-bench/1';
  date: string;
  host: Record<string, unknown>;
  tools: Record<ToolName, { version: string; settings: string }>;
  config: {
    sizeMiB: number;
    runs: number;
    quick: boolean;
    profile: boolean;
    pageCache: 'dropped before every step' | 'warm for all tools alike (could not drop it)' | 'warm for all tools alike (BENCH_DROP_CACHES=0)';
    commands: Record<ToolName, Partial<Record<StepName, string>>>;
  };
  dataset: Record<string, unknown> & { bytes: number; files: number };
  rounds: Round[];
  summary?: Summary;
  problems: string[];
  table?: string;
  totalSeconds?: number;
}

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summarize(results: Results): Summary {
  const steps = {} as Summary['steps'];
  const ratios = {} as Summary['ratios'];
  for (const step of STEPS) {
    steps[step] = {} as Summary['steps'][StepName];
    for (const tool of TOOLS) {
      const ok = results.rounds.map((r) => r.steps[tool][step]).filter((m): m is Measurement => m !== undefined && m.error === undefined);
      const rss = ok.map((m) => m.maxRssKiB).filter((v): v is number => v !== undefined);
      const mbps = median(ok.map((m) => m.mbps).filter((v): v is number => v !== undefined));
      const seconds = median(ok.map((m) => m.seconds));
      steps[step][tool] = {
        runs: ok.length,
        ...(seconds !== undefined ? { seconds } : {}),
        ...(mbps !== undefined ? { mbps } : {}),
        ...(rss.length ? { maxRssKiB: Math.max(...rss) } : {}),
      };
    }
    const b = steps[step].bunker.seconds;
    const r = steps[step].restic.seconds;
    const g = steps[step].borg.seconds;
    ratios[step] = {
      ...(b && r ? { vsRestic: r / b } : {}),
      ...(b && g ? { vsBorg: g / b } : {}),
    };
  }
  const repoBytes = {} as Summary['repoBytes'];
  for (const tool of TOOLS) {
    const first = median(results.rounds.map((r) => r.repoBytes[tool].afterFirst).filter((v): v is number => v !== undefined));
    const end = median(results.rounds.map((r) => r.repoBytes[tool].end).filter((v): v is number => v !== undefined));
    repoBytes[tool] = { ...(first !== undefined ? { afterFirst: first } : {}), ...(end !== undefined ? { end } : {}) };
  }
  const summary: Summary = { steps, ratios, repoBytes };
  const profile: Summary['profile'] = {};
  for (const step of STEPS) {
    const profiles = results.rounds.map((r) => r.steps.bunker[step]?.profile).filter((p): p is Record<string, number> => p !== undefined);
    if (profiles.length === 0) continue;
    const keys = [...new Set(profiles.flatMap((p) => Object.keys(p)))];
    const stage: Record<string, number> = {};
    for (const k of keys) {
      const m = median(profiles.map((p) => p[k]).filter((v): v is number => typeof v === 'number'));
      if (m !== undefined) stage[k] = m;
    }
    profile[step] = stage;
  }
  if (Object.keys(profile).length) summary.profile = profile;
  return summary;
}

// ---------------------------------------------------------------- the table

const num = (v: number | undefined, digits: number) => (v === undefined ? '-' : v.toFixed(digits));
const ratio = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(2)}x`);
const mib = (v: number | undefined) => (v === undefined ? '-' : `${(v / MiB).toFixed(1)} MiB`);
const grouped = (n: number) => n.toLocaleString('en-US');

function row(cells: string[], widths: number[], aligns: ('l' | 'r')[]): string {
  return cells.map((c, i) => (aligns[i] === 'l' ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
}

export function renderTable(results: Results, summary: Summary): string {
  const lines: string[] = [];
  const d = results.dataset;
  lines.push(
    `bunker vs restic vs borg: ${results.config.sizeMiB} MiB data set (${grouped(d.files)} files, ${grouped(d.bytes)} bytes), ` +
      `median of ${results.config.runs} round${results.config.runs === 1 ? '' : 's'}, tools alternating`,
  );
  lines.push(`host ${results.host.hostname}: ${results.host.cpu}, ${results.host.cores} cores, ${results.host.memGiB} GiB RAM; page cache ${results.config.pageCache}`);
  lines.push('');
  const widths = [18, 8, 7, 8, 7, 8, 7, 13, 11, 15];
  const aligns: ('l' | 'r')[] = ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'];
  const group = (label: string) => {
    const w = 8 + 2 + 7;
    const left = Math.floor((w - label.length) / 2);
    return '-'.repeat(left - 1) + ' ' + label + ' ' + '-'.repeat(w - left - label.length - 1);
  };
  lines.push(row([''.padEnd(18), group('bunker'), group('restic'), group('borg'), 'bunker/restic', 'bunker/borg', 'bunker peak'], [18, 17, 17, 17, 13, 11, 15], ['l', 'l', 'l', 'l', 'r', 'r', 'r']));
  lines.push(row(['step', 's', 'MB/s', 's', 'MB/s', 's', 'MB/s', 'speed', 'speed', 'RSS'], widths, aligns));
  lines.push('-'.repeat(widths.reduce((a, b) => a + b + 2, -2)));
  for (const step of STEPS) {
    const s = summary.steps[step];
    const cells = [STEP_LABELS[step]];
    for (const tool of TOOLS) {
      const failed = s[tool].runs < results.rounds.length;
      cells.push(s[tool].seconds === undefined ? 'FAIL' : num(s[tool].seconds, 2) + (failed ? '!' : ''));
      cells.push(step === 'init' ? '' : num(s[tool].mbps, 1));
    }
    cells.push(ratio(summary.ratios[step].vsRestic), ratio(summary.ratios[step].vsBorg));
    cells.push(s.bunker.maxRssKiB === undefined ? '-' : `${(s.bunker.maxRssKiB / 1024).toFixed(0)} MiB`);
    lines.push(row(cells, widths, aligns));
  }
  lines.push('');
  const w2 = [28, 13, 13, 13, 13, 11];
  const a2: ('l' | 'r')[] = ['l', 'r', 'r', 'r', 'r', 'r'];
  lines.push(row(['repository size (du -sb)', 'bunker', 'restic', 'borg', 'bunker/restic', 'bunker/borg'], w2, a2));
  for (const [label, key] of [['after the first backup', 'afterFirst'], ['at the end (3 backups)', 'end']] as const) {
    const b = summary.repoBytes.bunker[key];
    const r = summary.repoBytes.restic[key];
    const g = summary.repoBytes.borg[key];
    lines.push(row([label, mib(b), mib(r), mib(g), b && r ? ratio(b / r) : '-', b && g ? ratio(b / g) : '-'], w2, a2));
  }
  lines.push('');
  lines.push('s = median wall seconds; MB/s = 10^6 bytes/s over the data set (restore: restored bytes); speed ratio = peer s / bunker s (>1: bunker faster);');
  lines.push('size ratio < 1: bunker smaller; "!" = some rounds failed; peak RSS = max over rounds (GNU time).');
  for (const tool of TOOLS) lines.push(`${tool.padEnd(7)} ${results.tools[tool].version}; ${results.tools[tool].settings}`);
  if (summary.profile) {
    lines.push('');
    lines.push(renderProfile(summary));
  } else if (results.config.profile) {
    lines.push('');
    lines.push('profile: bunker reported no per-stage profile (no --profile flag, or no "profile" object in its --json output, yet)');
  }
  return lines.join('\n');
}

function renderProfile(summary: Summary): string {
  const profile = summary.profile!;
  // Pipeline order: backup stages, then restore stages (see core/profile.ts).
  const preferred = ['walk', 'read', 'chunk', 'hash', 'compress', 'encrypt', 'seal', 'wait', 'write', 'plan', 'begin', 'fetch', 'open', 'decrypt', 'decompress', 'output', 'commit'];
  const keys = [...new Set(Object.values(profile).flatMap((p) => Object.keys(p!)))];
  const stages = [...preferred.filter((k) => keys.includes(k)), ...keys.filter((k) => !preferred.includes(k)).sort()];
  const widths = [18, ...stages.map((s) => Math.max(9, s.length)), 9];
  const aligns: ('l' | 'r')[] = ['l', ...stages.map(() => 'r' as const), 'r'];
  const out = ['bunker profile: median ms per pipeline stage (stages may overlap in time; wall = the step\'s median seconds)'];
  out.push(row(['step', ...stages, 'wall ms'], widths, aligns));
  for (const step of STEPS) {
    const p = profile[step];
    if (!p) continue;
    const wall = summary.steps[step].bunker.seconds;
    out.push(row([STEP_LABELS[step], ...stages.map((s) => num(p[s], 0)), wall === undefined ? '-' : (wall * 1000).toFixed(0)], widths, aligns));
  }
  return out.join('\n');
}
