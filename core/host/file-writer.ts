/**
 * A restore's directories, links and small files made on a thread of their own
 * (core/host/file-writer-worker.ts), in order and in batches: creating ~50k entries is most of a
 * restore's main-thread time, and a hop to libuv's pool per call costs more than the call
 * (bench/README.md, "Tuning"). One message per batch instead, while the main thread goes on
 * decrypting and planning. One thread for all of them: creating entries in the same
 * directories from two threads contends in the kernel.
 */
import { Worker } from 'node:worker_threads';
import type { Owner, WriteOp, WriterReply, WriterRequest } from './file-writer-worker.ts';
import type { FsTime } from './fs-time.ts';

/** Entries per batch, and bytes: a batch is sent when either is reached. */
const BATCH_OPS = 64;
const BATCH_BYTES = 4 * 1024 * 1024;
/** Batches sent and not yet written, at most: the writer applies back-pressure beyond. */
const BATCHES_IN_FLIGHT = 4;

export class FileWriterThread {
  private readonly worker: Worker;
  private batch: WriteOp[] = [];
  private transfer = new Set<ArrayBuffer>();
  private batchBytes = 0;
  private nextId = 1;
  private readonly inFlight = new Map<number, { resolve(): void; promise: Promise<void> }>();
  private failure: Error | undefined;
  /** Owners the system refused (counted by the thread, not fatal), with the first reason. */
  ownersRefused: { count: number; code: string } | undefined;
  /** The batch each directory goes out in, until that batch is written. */
  private readonly directoryBatch = new Map<string, number>();
  private readonly batchDirectories = new Map<number, string[]>();

  constructor() {
    // Its JS allocations are small and short-lived (write requests): a small nursery is enough.
    this.worker = new Worker(new URL('./file-writer-worker.ts', import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: 16 } });
    this.worker.on('message', (reply: WriterReply) => {
      const pending = this.inFlight.get(reply.id);
      this.inFlight.delete(reply.id);
      for (const path of this.batchDirectories.get(reply.id) ?? []) this.directoryBatch.delete(path);
      this.batchDirectories.delete(reply.id);
      if (reply.ownersRefused) this.ownersRefused = { count: (this.ownersRefused?.count ?? 0) + reply.ownersRefused.count, code: this.ownersRefused?.code ?? reply.ownersRefused.code };
      if (reply.error) {
        this.failure ??= Object.assign(new Error(`${reply.error.message} (${reply.error.path})`), reply.error.code ? { code: reply.error.code } : {});
      }
      if (this.inFlight.size === 0) this.worker.unref();
      pending?.resolve();
    });
    this.worker.on('error', (error) => this.fail(new Error(`file writer thread failed: ${error.message}`)));
    this.worker.on('exit', (code) => this.fail(new Error(`file writer thread exited unexpectedly (code ${code})`)));
    // An idle writer must not keep the process alive; one with batches in flight must.
    this.worker.unref();
  }

  /**
   * Queues one file; its chunks are handed over (transferred when they own their buffer, copied
   * otherwise) and must not be used afterwards. Throws the first failure of an earlier batch.
   */
  async file(path: string, mode: number, time: FsTime, owner: Owner | undefined, chunks: readonly Uint8Array[]): Promise<void> {
    const owned = chunks.map((chunk) => {
      const whole = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer;
      const bytes = whole ? chunk : chunk.slice();
      this.transfer.add(bytes.buffer as ArrayBuffer);
      this.batchBytes += bytes.length;
      return bytes;
    });
    await this.queue({ kind: 'file', path, mode, time, owner, chunks: owned });
  }

  /** Queues a directory (made 0700; its mode and time are set at commit). */
  directory(path: string): Promise<void> {
    // The batch being filled is sent under the next id.
    const batch = this.nextId;
    this.directoryBatch.set(path, batch);
    const paths = this.batchDirectories.get(batch);
    if (paths) paths.push(path);
    else this.batchDirectories.set(batch, [path]);
    return this.queue({ kind: 'dir', path });
  }

  /**
   * Waits until a directory queued here exists (at once for one that is not queued), without
   * waiting for the files queued after it: a large file written elsewhere needs only its parent.
   * Throws the first failure of an earlier batch.
   */
  async directoryMade(path: string): Promise<void> {
    const batch = this.directoryBatch.get(path);
    if (batch !== undefined && batch === this.nextId) await this.send();
    if (batch !== undefined) await this.inFlight.get(batch)?.promise;
    if (this.failure) throw this.failure;
  }

  symlink(path: string, target: string, time: FsTime, owner: Owner | undefined): Promise<void> {
    return this.queue({ kind: 'symlink', path, target, time, owner });
  }

  private async queue(op: WriteOp): Promise<void> {
    if (this.failure) throw this.failure;
    this.batch.push(op);
    if (this.batch.length >= BATCH_OPS || this.batchBytes >= BATCH_BYTES) await this.send();
  }

  /** Sends what is queued and waits until every file sent so far is written; throws the first failure. */
  async flush(): Promise<void> {
    if (this.batch.length > 0) await this.send();
    await Promise.all([...this.inFlight.values()].map((p) => p.promise));
    if (this.failure) throw this.failure;
  }

  /** Waits for batches in flight (failures ignored: the caller is cleaning up), then stops the thread. */
  async close(): Promise<void> {
    this.batch = [];
    this.transfer.clear();
    await Promise.all([...this.inFlight.values()].map((p) => p.promise));
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }

  private async send(): Promise<void> {
    while (this.inFlight.size >= BATCHES_IN_FLIGHT) await Promise.race([...this.inFlight.values()].map((p) => p.promise));
    if (this.failure) throw this.failure;
    const id = this.nextId++;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.inFlight.set(id, { resolve, promise });
    this.worker.ref();
    const request: WriterRequest = { id, ops: this.batch };
    const transfer = [...this.transfer];
    this.batch = [];
    this.transfer.clear();
    this.batchBytes = 0;
    this.worker.postMessage(request, transfer);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const pending of this.inFlight.values()) pending.resolve();
    this.inFlight.clear();
  }
}
