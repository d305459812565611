/**
 * A codec worker thread: zstd compression and decompression of chunks, on the WASM build
 * (portable) or on node:zlib's native zstd (Node 24), each of which reads the other's frames.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { compressChunk } from '../compression.ts';
import { ZstdCodec } from '../../wasm/mod.ts';
import { type BatchItem, chunkSealer, noTimings, type SealFunction, type SealKeys, type SealTimings } from '../chunk-sealer.ts';
import { ChunkIdSet } from '../chunk-id-set.ts';
import { discard } from '../format/bytes.ts';
import { chunkOpener, type IdKeys, noOpenTimings, type OpenFunction, type OpenItem, type OpenTimings } from '../chunk-opener.ts';
import { type ErrorCode, isBunkerError } from '../errors.ts';
import { nodeOpenPrimitives, nodeSealPrimitives } from './node-seal-primitives.ts';
import { loadWasmFromPackages } from '../../wasm/packages.ts';
import { type NativeZstd, nativeZstd } from './native-zstd.ts';

export type CodecRequest =
  | { id: number; op: 'run'; run: number; keys: SealKeys; known: ArrayBuffer }
  | { id: number; op: 'seal'; run: number; buffer: ArrayBuffer; items: BatchItem[] }
  | { id: number; op: 'end'; run: number }
  | { id: number; op: 'open-start'; run: number; runKeys: [string, Uint8Array | undefined][]; verify?: IdKeys }
  | { id: number; op: 'open'; run: number; buffer: ArrayBuffer; items: OpenItem[] }
  | { id: number; op: 'compress'; buffer: ArrayBuffer; length: number; level: number | undefined }
  | { id: number; op: 'decompress'; frame: ArrayBuffer; offset: number; length: number; rawLength: number }
  | { id: number; op: 'crash' };

export type CodecReply =
  | { id: number; done: true }
  | { id: number; opened: ArrayBuffer[]; timings: OpenTimings }
  | { id: number; error: string; code: ErrorCode; object?: string }
  | { id: number; results: { id: string; codec: 0 | 1; rawLength: number; blob: ArrayBuffer | null }[]; buffer: ArrayBuffer; timings: SealTimings }
  | { id: number; codec: 0 | 1; payload: ArrayBuffer | null; buffer: ArrayBuffer }
  | { id: number; data: ArrayBuffer }
  | { id: number; error: string };

interface Codec {
  /** A payload of its own, to hand over (the 'compress' request). */
  compress(data: Uint8Array, level: number | undefined): { codec: 0 | 1; payload: Uint8Array };
  /** For sealing, which encrypts the payload at once: it may be a view valid until the next call. */
  compressToSeal(data: Uint8Array, level: number | undefined): { codec: 0 | 1; payload: Uint8Array };
  decompress(frame: Uint8Array, rawLength: number): Uint8Array;
}

/** The chunk policy (core/compression.ts) over either zstd: native or the WASM build. */
function codecOf(zstd: NativeZstd | ZstdCodec): Codec {
  const borrowing = 'compressBorrowed' in zstd ? { compress: (data: Uint8Array, level: number) => zstd.compressBorrowed(data, level) } : zstd;
  return {
    compress: (data, level) => compressChunk(zstd, data, level),
    compressToSeal: (data, level) => compressChunk(borrowing, data, level),
    decompress: (frame, rawLength) => zstd.decompress(frame, rawLength),
  };
}

const native = (workerData as { native?: boolean } | undefined)?.native === true ? nativeZstd() : undefined;
// The listener is attached before anything is awaited: Deno drops messages that arrive at a
// worker before its first 'message' listener exists (Node queues them). The WASM build is
// loaded only when it is the one in use.
const ready: Promise<Codec> = native !== undefined ? Promise.resolve(codecOf(native)) : loadWasmFromPackages().then(() => codecOf(new ZstdCodec()));

/** An ArrayBuffer holding exactly `bytes`, transferable without copying when possible. */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer as ArrayBuffer;
}

const runs = new Map<number, SealFunction>();
const openers = new Map<number, OpenFunction>();

parentPort!.on('message', async (request: CodecRequest) => {
  try {
    const codec = await ready;
    if (request.op === 'crash') process.exit(70);
    if (request.op === 'run') {
      const known = new ChunkIdSet(new Uint8Array(request.known));
      runs.set(request.run, await chunkSealer(request.keys, codec.compressToSeal, (_id, idBytes) => known.has(idBytes), await nodeSealPrimitives(request.keys)));
      parentPort!.postMessage({ id: request.id, done: true } satisfies CodecReply);
      return;
    }
    if (request.op === 'open-start') {
      const runKeys = new Map(request.runKeys);
      const verifyId = request.verify ? (await nodeSealPrimitives({ ...request.verify, level: undefined })).chunkId : undefined;
      openers.set(request.run, await chunkOpener(runKeys, codec.decompress, nodeOpenPrimitives(runKeys), verifyId));
      parentPort!.postMessage({ id: request.id, done: true } satisfies CodecReply);
      return;
    }
    if (request.op === 'open') {
      const open = openers.get(request.run);
      if (open === undefined) throw new Error('internal error: open request for an unknown point');
      const buffer = new Uint8Array(request.buffer);
      const timings = noOpenTimings();
      const opened = (await Promise.all(request.items.map((item) => open(buffer, item, timings)))).map(ownBuffer);
      // The fetched range was transferred here; what the chunks need of it is copied out.
      discard(buffer);
      parentPort!.postMessage({ id: request.id, opened, timings } satisfies CodecReply, opened);
      return;
    }
    if (request.op === 'end') {
      runs.delete(request.run);
      openers.delete(request.run);
      parentPort!.postMessage({ id: request.id, done: true } satisfies CodecReply);
      return;
    }
    if (request.op === 'seal') {
      const seal = runs.get(request.run);
      if (seal === undefined) throw new Error('internal error: seal request for an unknown run');
      const timings = noTimings();
      const sealed = await Promise.all(request.items.map((item) => seal(new Uint8Array(request.buffer, item.offset, item.length), item.nonceCounter, timings)));
      const transfer: ArrayBuffer[] = [request.buffer];
      const results = sealed.map((r) => {
        const blob = r.blob === undefined ? null : ownBuffer(r.blob);
        if (blob !== null) transfer.push(blob);
        return { id: r.id, codec: r.codec, rawLength: r.rawLength, blob };
      });
      parentPort!.postMessage({ id: request.id, results, buffer: request.buffer, timings } satisfies CodecReply, transfer);
      return;
    }
    if (request.op === 'compress') {
      const data = new Uint8Array(request.buffer, 0, request.length);
      const { codec: packed, payload } = codec.compress(data, request.level);
      if (packed === 0) {
        parentPort!.postMessage({ id: request.id, codec: packed, payload: null, buffer: request.buffer } satisfies CodecReply, [request.buffer]);
      } else {
        const out = ownBuffer(payload);
        parentPort!.postMessage({ id: request.id, codec: packed, payload: out, buffer: request.buffer } satisfies CodecReply, [out, request.buffer]);
      }
    } else {
      const frame = new Uint8Array(request.frame, request.offset, request.length);
      const data = codec.decompress(frame, request.rawLength);
      const out = ownBuffer(data);
      parentPort!.postMessage({ id: request.id, data: out } satisfies CodecReply, [out]);
    }
  } catch (error) {
    // Typed errors keep their code and object across the thread boundary.
    const reply: CodecReply = isBunkerError(error)
      ? { id: request.id, error: error.message, code: error.code, ...(error.object === undefined ? {} : { object: error.object }) }
      : { id: request.id, error: error instanceof Error ? error.message : String(error) };
    parentPort!.postMessage(reply);
  }
});
