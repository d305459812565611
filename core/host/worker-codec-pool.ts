/**
 * Runs chunk compression and decompression on worker threads (node:worker_threads, which
 * Node and Deno both provide), one request per chunk, buffers transferred not copied.
 * A worker that dies fails every request it held, so a backup fails cleanly rather than hangs.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ChunkCodecPool, CompressResult } from '../codec-pool.ts';
import type { RunSealer, SealedChunk } from '../chunk-sealer.ts';
import type { PointOpener } from '../chunk-opener.ts';
import { BunkerError } from '../errors.ts';
import type { CodecReply, CodecRequest } from './codec-worker.ts';
import { type NativeZstd, nativeZstd } from './native-zstd.ts';

/** Chunks smaller than this are compressed inline: a round trip to a worker costs more. */
export const INLINE_BELOW_BYTES = 64 * 1024;

interface Pending {
  resolve(reply: CodecReply): void;
  reject(error: Error): void;
}

interface WorkerSlot {
  worker: Worker;
  pending: Map<number, Pending>;
  failure?: Error;
}

export interface WorkerPoolOptions {
  /** Worker threads (default: the number of CPUs). */
  readonly workers?: number;
  /**
   * Use node:zlib's native zstd in the workers instead of the WASM build (default: on Node;
   * Deno 2.9's native zstd hangs inside worker threads, so Deno uses the WASM build).
   */
  readonly native?: boolean;
  /** Used for small chunks on the calling thread. */
  readonly inline: ChunkCodecPool;
}

export function isNativeZstdUsable(): boolean {
  return process.versions.deno === undefined;
}

let threadZstd: NativeZstd | undefined;

/**
 * Native zstd for a repository's metadata on this thread, where the codec threads use it too;
 * undefined elsewhere (the WASM build stays). One per thread: its calls are synchronous.
 */
export function nativeMetadataZstd(): NativeZstd | undefined {
  if (!isNativeZstdUsable()) return undefined;
  return (threadZstd ??= nativeZstd());
}

export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(8, availableParallelism()));
}

export function workerCodecPool(options: WorkerPoolOptions): ChunkCodecPool & { crashOneWorker(): void } {
  const count = Math.max(1, options.workers ?? defaultWorkerCount());
  const slots: WorkerSlot[] = [];
  let nextId = 1;
  let turn = 0;
  let closed = false;
  // Workers start on first use: a backup that finds nothing changed, or a command that only
  // lists, never pays for starting them (~0.4 s of CPU for two, measured on a cold cache).
  const started = (): WorkerSlot[] => {
    if (closed) throw new Error('internal error: the codec pool is closed');
    if (slots.length === 0) for (let i = 0; i < count; i++) slots.push(startWorker());
    return slots;
  };
  const startWorker = (): WorkerSlot => {
    // A small young generation: workers churn through short-lived buffers, and a large nursery
    // only grows the process's memory without making them faster.
    const worker = new Worker(new URL('./codec-worker.ts', import.meta.url), {
      workerData: { native: (options.native ?? true) && isNativeZstdUsable() },
      resourceLimits: { maxYoungGenerationSizeMb: 16 },
    });
    const slot: WorkerSlot = { worker, pending: new Map() };
    const fail = (error: Error) => {
      slot.failure ??= error;
      for (const p of slot.pending.values()) p.reject(slot.failure);
      slot.pending.clear();
    };
    worker.on('message', (reply: CodecReply) => {
      const p = slot.pending.get(reply.id);
      slot.pending.delete(reply.id);
      // An idle worker must not keep the process alive; a busy one must.
      if (slot.pending.size === 0) worker.unref();
      p?.resolve(reply);
    });
    worker.on('error', (error) => fail(new Error(`codec worker failed: ${error.message}`)));
    worker.on('exit', (code) => fail(new Error(`codec worker exited unexpectedly (code ${code})`)));
    worker.unref();
    return slot;
  };

  let nextRun = 1;
  const send = (request: CodecRequest, transfer: ArrayBuffer[]): Promise<CodecReply> => {
    // Least-loaded worker, round robin among equals.
    const slots = started();
    let slot = slots[turn++ % slots.length]!;
    for (const s of slots) if (s.pending.size < slot.pending.size) slot = s;
    return sendTo(slot, request, transfer);
  };
  const sendTo = (slot: WorkerSlot, request: CodecRequest, transfer: ArrayBuffer[]): Promise<CodecReply> => {
    if (slot.failure) return Promise.reject(slot.failure);
    return new Promise((resolve, reject) => {
      slot.pending.set(request.id, { resolve, reject });
      slot.worker.ref();
      slot.worker.postMessage(request, transfer);
    });
  };

  const check = (reply: CodecReply): CodecReply => {
    if ('error' in reply) {
      if ('code' in reply) throw new BunkerError(reply.code, reply.error, reply.object === undefined ? {} : { object: reply.object });
      throw new Error(reply.error);
    }
    return reply;
  };

  return {
    threads: count,
    async compress(buffer, length, level): Promise<CompressResult> {
      if (length < INLINE_BELOW_BYTES || buffer.byteOffset !== 0 || buffer.byteLength !== buffer.buffer.byteLength) {
        return options.inline.compress(buffer, length, level);
      }
      const reply = check(await send({ id: nextId++, op: 'compress', buffer: buffer.buffer as ArrayBuffer, length, level }, [buffer.buffer as ArrayBuffer])) as Extract<CodecReply, { codec: 0 | 1 }>;
      const returned = new Uint8Array(reply.buffer);
      return { codec: reply.codec, payload: reply.payload === null ? returned.subarray(0, length) : new Uint8Array(reply.payload), buffer: returned };
    },
    async decompress(frame, rawLength) {
      if (rawLength < INLINE_BELOW_BYTES) return options.inline.decompress(frame, rawLength);
      // The frame is usually a view of a larger read; transfer it only when it owns its buffer.
      const owns = frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength;
      const bytes = owns ? frame : frame.slice();
      const reply = check(await send({ id: nextId++, op: 'decompress', frame: bytes.buffer as ArrayBuffer, offset: 0, length: bytes.length, rawLength }, [bytes.buffer as ArrayBuffer])) as Extract<CodecReply, { data: ArrayBuffer }>;
      return new Uint8Array(reply.data);
    },
    async startRun(keys, known): Promise<RunSealer> {
      const run = nextRun++;
      const idBytes = known.idBytes();
      // A view of a larger buffer would hand the workers bytes that are not ids.
      const ids = idBytes.byteOffset === 0 && idBytes.byteLength === idBytes.buffer.byteLength ? idBytes : idBytes.slice();
      // Every worker gets the run's keys and the known ids (copied, not transferred).
      await Promise.all(started().map((slot) => sendTo(slot, { id: nextId++, op: 'run', run, keys, known: ids.buffer as ArrayBuffer }, []).then(check)));
      return {
        async sealBatch(buffer, items) {
          const reply = check(await send({ id: nextId++, op: 'seal', run, buffer: buffer.buffer as ArrayBuffer, items: [...items] }, [buffer.buffer as ArrayBuffer])) as Extract<CodecReply, { results: unknown }>;
          const results: SealedChunk[] = reply.results.map((r) => (r.blob === null
            ? { id: r.id, codec: r.codec, rawLength: r.rawLength }
            : { id: r.id, codec: r.codec, rawLength: r.rawLength, blob: new Uint8Array(r.blob) }));
          return { results, buffer: new Uint8Array(reply.buffer), timings: reply.timings };
        },
        async close() {
          await Promise.all(slots.filter((s) => !s.failure).map((slot) => sendTo(slot, { id: nextId++, op: 'end', run }, []).catch(() => undefined)));
        },
      };
    },
    async startOpen(runKeys, verify): Promise<PointOpener> {
      const run = nextRun++;
      const keys = [...runKeys];
      await Promise.all(started().map((slot) => sendTo(slot, { id: nextId++, op: 'open-start', run, runKeys: keys, ...(verify ? { verify } : {}) }, []).then(check)));
      return {
        async openBatch(buffer, items) {
          // The fetched range is the worker's to keep: transfer it when it owns its memory.
          const owns = buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength;
          const bytes = owns ? buffer : buffer.slice();
          const reply = check(await send({ id: nextId++, op: 'open', run, buffer: bytes.buffer as ArrayBuffer, items: [...items] }, [bytes.buffer as ArrayBuffer])) as Extract<CodecReply, { opened: unknown }>;
          return { chunks: reply.opened.map((b) => new Uint8Array(b)), timings: reply.timings };
        },
        async close() {
          await Promise.all(slots.filter((s) => !s.failure).map((slot) => sendTo(slot, { id: nextId++, op: 'end', run }, []).catch(() => undefined)));
        },
      };
    },
    async close() {
      closed = true;
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
    crashOneWorker() {
      started()[0]!.worker.postMessage({ id: 0, op: 'crash' } satisfies CodecRequest);
    },
  };
}
