/**
 * Time per pipeline stage, for `--profile`. Stages that run concurrently overlap, so the sums
 * can exceed the wall time; a stage whose sum approaches the wall time is the bottleneck.
 */
/**
 * Backup: walk, read, chunk, then on the sealing threads hash, compress and encrypt (`seal` is a
 * batch's round trip to them, queueing included), wait (for a free batch buffer), write.
 * Restore: plan, begin, fetch, then on the opening threads decrypt and decompress (`open` is the
 * round trip), output, commit.
 */
export type Stage = 'walk' | 'read' | 'chunk' | 'hash' | 'compress' | 'encrypt' | 'seal' | 'write' | 'wait' | 'plan' | 'begin' | 'fetch' | 'open' | 'decrypt' | 'decompress' | 'output' | 'commit';

/**
 * Runs one step of one chunk's work, adding its time to `timings[stage]`. A step that returns a
 * value (the host's primitives) is timed exactly; one that returns a promise (WebCrypto) is timed
 * until it settles, so the steps of other chunks in flight may overlap it.
 */
export function timeStep<T, K extends string>(timings: Record<K, number> | undefined, stage: K, step: () => T | Promise<T>): T | Promise<T> {
  if (timings === undefined) return step();
  const started = performance.now();
  const result = step();
  if (!(result instanceof Promise)) {
    timings[stage] += performance.now() - started;
    return result;
  }
  return result.finally(() => {
    timings[stage] += performance.now() - started;
  });
}

export class Profile {
  readonly ms: Partial<Record<Stage, number>> = {};

  add(stage: Stage, ms: number): void {
    this.ms[stage] = (this.ms[stage] ?? 0) + ms;
  }

  /** Times an async step; returns its result. */
  async time<T>(stage: Stage, work: Promise<T> | (() => Promise<T>)): Promise<T> {
    const started = performance.now();
    try {
      return await (typeof work === 'function' ? work() : work);
    } finally {
      this.add(stage, performance.now() - started);
    }
  }

  rounded(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.ms).map(([k, v]) => [k, Math.round(v)]));
  }
}
