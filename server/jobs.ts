/**
 * Long work on the server (backup, restore to a path, check, copy) runs as a job: an id,
 * a status, the latest progress, and a result or an error. Subscribers get every change as it
 * happens (Server-Sent Events in routes/jobs.ts). Cancelling aborts the job's signal; the work
 * stops at its next check and commits nothing. Jobs live in memory, for the server's lifetime.
 */
import { BunkerError, isBunkerError } from '../core/mod.ts';
import { publicError } from './http-errors.ts';
import type { TokenScope } from '../core/catalog/records.ts';

export type JobStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobView {
  readonly id: string;
  readonly kind: string;
  readonly status: JobStatus;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly progress: Record<string, unknown> | null;
  readonly result: unknown;
  readonly error: { code: string; message: string } | null;
}

export type JobEvent = { type: 'progress' | 'status'; job: JobView };

export interface JobContext {
  readonly signal: AbortSignal;
  progress(progress: Record<string, unknown>): void;
}

interface JobState {
  view: JobView;
  scope: TokenScope;
  controller: AbortController;
  listeners: Set<(event: JobEvent) => void>;
  done: Promise<void>;
}

const MAX_FINISHED_JOBS = 200;

const PROGRESS_INTERVAL_MS = 100;

export class JobManager {
  private readonly jobs = new Map<string, JobState>();
  private readonly log: (line: string) => void;

  constructor(log: (line: string) => void = () => undefined) {
    this.log = log;
  }

  /** Starts `work` now; returns its view at once. */
  start(kind: string, scope: TokenScope, work: (context: JobContext) => Promise<unknown>): JobView {
    const id = crypto.randomUUID().replaceAll('-', '');
    const controller = new AbortController();
    const state: JobState = {
      view: { id, kind, status: 'running', startedAt: new Date().toISOString(), finishedAt: null, progress: null, result: null, error: null },
      scope, controller, listeners: new Set(), done: Promise.resolve(),
    };
    this.jobs.set(id, state);
    this.prune();
    const emit = (type: JobEvent['type']) => {
      for (const listener of state.listeners) listener({ type, job: state.view });
    };
    // At most ten progress events a second, so a tree of small files does not flood clients;
    // a suppressed update is sent when the interval ends (or just before the final status), so
    // every subscriber sees the latest progress, however short the job.
    let lastProgress = 0;
    let pending: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      pending = undefined;
      lastProgress = Date.now();
      emit('progress');
    };
    const flushPending = () => {
      if (pending === undefined) return;
      clearTimeout(pending);
      flush();
    };
    const context: JobContext = {
      signal: controller.signal,
      progress: (progress) => {
        state.view = { ...state.view, progress };
        if (pending !== undefined) return;
        const wait = lastProgress + PROGRESS_INTERVAL_MS - Date.now();
        if (wait <= 0) flush();
        else pending = setTimeout(flush, wait);
      },
    };
    state.done = (async () => {
      try {
        const result = await work(context).finally(flushPending);
        state.view = { ...state.view, status: 'succeeded', result: result ?? null, finishedAt: new Date().toISOString() };
      } catch (error) {
        // Cancelled means stopped by the cancel: any other coded failure is reported as itself.
        const cancelled = isBunkerError(error, 'CANCELLED') || (controller.signal.aborted && !isBunkerError(error));
        const known = isBunkerError(error) ? publicError(error, (line) => this.log(`job ${id} (${kind}): ${line}`)) : undefined;
        state.view = {
          ...state.view,
          status: cancelled ? 'cancelled' : 'failed',
          error: cancelled
            ? { code: 'CANCELLED', message: `the ${kind} was cancelled; nothing was committed` }
            : known ? { code: known.code, message: known.message } : { code: 'INTERNAL', message: 'internal error' },
          finishedAt: new Date().toISOString(),
        };
        if (known === undefined && !cancelled) console.error(`bunker serve: job ${id} (${kind}) failed:`, error);
      }
      emit('status');
      state.listeners.clear();
    })();
    return state.view;
  }

  get(id: string): JobView {
    return this.state(id).view;
  }

  /** The scope a caller needs to see or cancel the job: the one that started it. */
  scopeOf(id: string): TokenScope {
    return this.state(id).scope;
  }

  list(): JobView[] {
    return [...this.jobs.values()].map((s) => s.view);
  }

  cancel(id: string): JobView {
    const state = this.state(id);
    if (state.view.status === 'running') state.controller.abort();
    return state.view;
  }

  /** Waits until the job has finished (tests, graceful shutdown). */
  async settled(id: string): Promise<JobView> {
    const state = this.state(id);
    await state.done;
    return state.view;
  }

  /** Calls `listener` for each change until the job ends; returns the unsubscribe function. */
  subscribe(id: string, listener: (event: JobEvent) => void): () => void {
    const state = this.state(id);
    if (state.view.status !== 'running') return () => undefined;
    state.listeners.add(listener);
    return () => state.listeners.delete(listener);
  }

  /** Cancels every running job and waits for them (server shutdown). */
  async close(): Promise<void> {
    for (const state of this.jobs.values()) state.controller.abort();
    await Promise.allSettled([...this.jobs.values()].map((s) => s.done));
  }

  private state(id: string): JobState {
    const state = /^[0-9a-f]{32}$/.test(id) ? this.jobs.get(id) : undefined;
    if (state === undefined) throw new BunkerError('NOT_FOUND', 'no job with that id');
    return state;
  }

  private prune(): void {
    const finished = [...this.jobs.values()].filter((s) => s.view.status !== 'running');
    for (const state of finished.slice(0, Math.max(0, finished.length - MAX_FINISHED_JOBS))) this.jobs.delete(state.view.id);
  }
}
