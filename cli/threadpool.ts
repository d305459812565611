/**
 * Imported first by cli/main.ts, the entry point. Node runs file I/O on libuv's thread pool.
 * Its size is read once, when the pool first starts, so it is set here, before any asynchronous
 * work: one thread per CPU, at least Node's default of 4. More threads than cores only compete
 * with the codec workers and the main thread: on 2 cores, 16 threads made a cold unchanged
 * rerun 0.4 s slower and a first backup 1.3 s slower than 4 (bench/README.md, "Tuning"). Deno has its
 * own pool and ignores it.
 */
import { availableParallelism } from 'node:os';

process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism()));
