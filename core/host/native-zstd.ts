/**
 * node:zlib's native zstd, one frame per call, with a context kept from call to call.
 *
 * `zstdCompressSync` and `zstdDecompressSync` build a stream object and a zstd context per
 * call and gather the output in 16 KiB pieces that are then concatenated. For the small
 * chunks that most files are, that costs more than the work itself (measured in
 * bench/README.md, "Tuning"). Here one context per direction lives as long as the codec
 * thread: compression writes into a scratch buffer sized for the worst case; decompression
 * writes into a buffer one byte longer than the chunk, so that a frame holding more, or cut
 * short, is refused (and a refused frame's context is dropped, never reused mid-frame).
 *
 * This drives the stream's native handle (`_handle.writeSync`, the call `zstdCompressSync`
 * itself makes), which node:zlib does not document. On Deno, or where a runtime lacks it, the
 * one-shot calls are used instead; test/native-zstd.test.ts checks that Node 24 has it.
 */
import * as zlib from 'node:zlib';
import { joinBytes } from '../format/bytes.ts';
import { declareContentSize } from '../format/zstd-frame.ts';
import type { ZstdFrameWriter } from '../repository.ts';

export interface NativeZstd {
  /** True when a context is kept between calls, false on the one-shot fallback. */
  readonly reusesContext: boolean;
  /** Bytes of compression scratch kept between calls (at most KEPT_SCRATCH_BYTES). */
  readonly keptBytes: number;
  /** One zstd frame of `data` at `level`, in a buffer of its own. */
  compress(data: Uint8Array, level: number): Uint8Array;
  /**
   * The same frame, possibly as a view of this thread's scratch buffer: valid only until the
   * next call. Saves a copy and a fresh buffer per chunk where the frame is consumed at once.
   */
  compressBorrowed(data: Uint8Array, level: number): Uint8Array;
  /** Decodes one frame that must hold exactly `rawLength` bytes; throws otherwise. */
  decompress(frame: Uint8Array, rawLength: number): Uint8Array;
  /** One frame written piece by piece (a manifest as a backup goes); absent on the one-shot fallback. */
  frameWriter?(level: number): ZstdFrameWriter;
  /** One frame read piece by piece (see MetadataZstd); absent on the one-shot fallback. */
  decompressPieces?(frame: Uint8Array, rawLength: number): Iterable<Uint8Array>;
}

/** The native handle behind a node:zlib zstd stream, as node:zlib itself drives it. */
interface ZstdHandle {
  writeSync(flush: number, input: Uint8Array, inOffset: number, inLength: number, output: Uint8Array, outOffset: number, outLength: number): void;
  close(): void;
  onerror: (message: string, errno: number, code: string) => void;
}

/** One zstd context and the last error its handle reported. */
class Context {
  #error: string | undefined;
  private readonly handle: ZstdHandle;
  /** [output bytes left, input bytes left] after each write. */
  private readonly state: Uint32Array;

  private constructor(handle: ZstdHandle, state: Uint32Array) {
    this.handle = handle;
    this.state = state;
    // node:zlib's own handler destroys the stream on the first error; this one records it,
    // and the context is then dropped.
    handle.onerror = (message) => {
      this.#error = message;
    };
  }

  static open(stream: object): Context | undefined {
    const { _handle: handle, _writeState: state } = stream as { _handle?: Partial<ZstdHandle>; _writeState?: unknown };
    if (typeof handle?.writeSync !== 'function' || typeof handle.close !== 'function' || !(state instanceof Uint32Array) || state.length < 2) return undefined;
    return new Context(handle as ZstdHandle, state);
  }

  /** Runs one frame through the context; returns the output bytes left unused. */
  write(input: Uint8Array, output: Uint8Array, outLength: number): { outputLeft: number; inputLeft: number } {
    return this.step(zlib.constants.ZSTD_e_end, input, 0, input.length, output, 0, outLength);
  }

  /** One call of the handle: `flush` is ZSTD_e_continue (more input follows), ZSTD_e_flush or ZSTD_e_end. */
  step(flush: number, input: Uint8Array, inOffset: number, inLength: number, output: Uint8Array, outOffset: number, outLength: number): { outputLeft: number; inputLeft: number } {
    this.handle.writeSync(flush, input, inOffset, inLength, output, outOffset, outLength);
    if (this.#error !== undefined) throw new Error(this.#error);
    return { outputLeft: this.state[0]!, inputLeft: this.state[1]! };
  }

  close(): void {
    try {
      this.handle.close();
    } catch {
      // Already closed by node:zlib after an error.
    }
  }
}

/** The largest compression scratch buffer a thread keeps: room for a 4 MiB chunk (the default maximum) and more. */
export const KEPT_SCRATCH_BYTES = 8 * 1024 * 1024;

/** Output is gathered in pieces of this size while a frame is streamed. */
const FRAME_PIECE_BYTES = 256 * 1024;
/** Room for ending a flushed frame: an empty last block's 3-byte header, and to spare. */
const END_ROOM_BYTES = 64;
/** A frame read in pieces is decoded this much at a time. */
const DECODED_PIECE_BYTES = 1024 * 1024;

/**
 * A frame fed piece by piece through a context of its own, its output kept compressed; zstd
 * streams it without a content size, which declareContentSize adds at the end.
 */
function streamedFrame(level: number): ZstdFrameWriter {
  let context = Context.open(new zlib.ZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: level } }));
  if (context === undefined) throw new Error('internal error: node:zlib zstd handle unavailable');
  const pieces: Uint8Array[] = [];
  let out = new Uint8Array(FRAME_PIECE_BYTES);
  let used = 0;
  let size = 0;
  const open = (): Context => {
    if (context === undefined) throw new Error('internal error: the zstd frame is closed');
    return context;
  };
  const close = (): void => {
    context?.close();
    context = undefined;
  };
  const newPiece = (): void => {
    pieces.push(out.subarray(0, used));
    out = new Uint8Array(FRAME_PIECE_BYTES);
    used = 0;
  };
  const step = (flush: number, data: Uint8Array, offset: number): { outputLeft: number; inputLeft: number } => {
    try {
      const left = open().step(flush, data, offset, data.length - offset, out, used, out.length - used);
      used = out.length - left.outputLeft;
      return left;
    } catch (error) {
      close();
      throw error;
    }
  };
  // zstd takes input until its output is full; with room left over, it took all of it. (Not for
  // ZSTD_e_end: a frame that ends exactly at a full output would look unfinished, and the next
  // call would start a second, empty frame.)
  const pump = (flush: number, data: Uint8Array): void => {
    for (let offset = 0; ; newPiece()) {
      const left = step(flush, data, offset);
      offset = data.length - left.inputLeft;
      if (left.outputLeft > 0) return;
    }
  };
  return {
    write(data) {
      // Nothing to add; a first call would also fix the frame as one of unknown size.
      if (data.length === 0) return;
      size += data.length;
      pump(zlib.constants.ZSTD_e_continue, data);
    },
    end() {
      // Everything compressed out first, so that ending the frame writes only its last block
      // header (and no checksum: none is asked for), for which room is made.
      if (size > 0) pump(zlib.constants.ZSTD_e_flush, new Uint8Array(0));
      if (out.length - used < END_ROOM_BYTES) newPiece();
      const left = step(zlib.constants.ZSTD_e_end, new Uint8Array(0), 0);
      close();
      if (left.outputLeft === 0) throw new Error('internal error: zstd did not end a frame within its room');
      newPiece();
      // With no input before the end, zstd saw all of it at once and declared the size itself.
      return size === 0 ? joinBytes(pieces.splice(0)) : declareContentSize(pieces.splice(0), size);
    },
    close,
  };
}

/**
 * A frame decoded through a context of its own, a piece at a time into one reused buffer: the
 * caller parses each piece before taking the next. Refused like decompress(): more or fewer
 * bytes than expected, a frame cut short, bytes after its end.
 */
function* decodedPieces(frame: Uint8Array, rawLength: number): Generator<Uint8Array> {
  const context = Context.open(new zlib.ZstdDecompress());
  if (context === undefined) throw new Error('internal error: node:zlib zstd handle unavailable');
  // The call that can reach the expected end always has one byte of room more: a frame holding
  // more fills it, and one that ends there stops at its end, so bytes after it are left over.
  const out = new Uint8Array(Math.min(DECODED_PIECE_BYTES, rawLength) + 1);
  let consumed = 0;
  let produced = 0;
  try {
    for (;;) {
      const remaining = rawLength - produced;
      const room = remaining <= DECODED_PIECE_BYTES ? remaining + 1 : DECODED_PIECE_BYTES;
      const left = context.step(zlib.constants.ZSTD_e_end, frame, consumed, frame.length - consumed, out, 0, room);
      consumed = frame.length - left.inputLeft;
      const length = room - left.outputLeft;
      produced += length;
      if (produced > rawLength) throw new Error(`zstd frame holds more than ${rawLength} bytes`);
      if (length > 0) yield out.subarray(0, length);
      // Room left over: zstd has reached the frame's end (a frame cut short is reported above).
      if (left.outputLeft > 0) break;
    }
    if (produced < rawLength) throw new Error(`zstd frame decoded to ${produced} bytes, expected ${rawLength} bytes`);
    if (consumed !== frame.length) throw new Error(`zstd frame has bytes after its end, expected ${rawLength} bytes`);
  } finally {
    context.close();
  }
}

/** zstd's ZSTD_COMPRESSBOUND: no frame of `size` bytes is longer. */
function compressBound(size: number): number {
  return size + (size >>> 8) + (size < 128 << 10 ? ((128 << 10) - size) >>> 11 : 0);
}

function oneShot(): NativeZstd {
  const compress = (data: Uint8Array, level: number) => new Uint8Array(zlib.zstdCompressSync(data, { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } }));
  return {
    reusesContext: false,
    keptBytes: 0,
    compress,
    compressBorrowed: compress,
    decompress(frame, rawLength) {
      let out: Uint8Array;
      try {
        out = zlib.zstdDecompressSync(frame, { maxOutputLength: rawLength + 1 });
      } catch (error) {
        throw new Error(`zstd frame ${error instanceof Error ? error.message : String(error)}, expected ${rawLength} bytes`);
      }
      if (out.length > rawLength) throw new Error(`zstd frame holds more than ${rawLength} bytes`);
      if (out.length < rawLength) throw new Error(`zstd frame decoded to ${out.length} bytes, expected ${rawLength} bytes`);
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    },
  };
}

/** Native zstd for one thread; undefined where node:zlib has no zstd. */
export function nativeZstd(): NativeZstd | undefined {
  if (typeof zlib.zstdCompressSync !== 'function' || typeof zlib.ZstdCompress !== 'function') return undefined;
  // Deno's node:zlib handle neither reports a frame cut short nor reads every valid frame of its
  // own zstdCompressSync; Deno's codec threads use the WASM build, and here it gets the one-shot calls.
  if (process.versions.deno !== undefined) return oneShot();
  const probe = Context.open(new zlib.ZstdDecompress());
  if (probe === undefined) return oneShot();

  let compressor: { level: number; context: Context } | undefined;
  let decompressor: Context | undefined;
  let scratch = new Uint8Array(0);

  const compressContext = (level: number): Context => {
    if (compressor?.level !== level) {
      compressor?.context.close();
      const context = Context.open(new zlib.ZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: level } }));
      if (context === undefined) throw new Error('internal error: node:zlib zstd handle unavailable');
      compressor = { level, context };
    }
    return compressor.context;
  };
  // A context that failed mid-frame is not reused: the next call starts a fresh one.
  const dropCompressor = () => {
    compressor?.context.close();
    compressor = undefined;
  };

  decompressor = probe;
  const compressBorrowed = (data: Uint8Array, level: number): Uint8Array => {
    // Room for the worst case and one byte more, so that a finished frame always leaves some.
    const room = compressBound(data.length) + 1;
    // Chunks reuse one scratch buffer; a document larger than any chunk (a manifest) gets
    // one of its own, so the thread does not keep tens of MB after it.
    const kept = room <= KEPT_SCRATCH_BYTES;
    if (kept && scratch.length < room) scratch = new Uint8Array(room);
    const out = kept ? scratch : new Uint8Array(room);
    const context = compressContext(level);
    let left: { outputLeft: number; inputLeft: number };
    try {
      left = context.write(data, out, room);
    } catch (error) {
      dropCompressor();
      throw error;
    }
    // With that room, zstd ends the frame in one call.
    if (left.outputLeft === 0 || left.inputLeft !== 0) {
      dropCompressor();
      throw new Error('internal error: zstd did not finish a frame within its bound');
    }
    const length = room - left.outputLeft;
    return kept ? out.subarray(0, length) : new Uint8Array(out.buffer.transfer(length));
  };

  return {
    reusesContext: true,
    get keptBytes() {
      return scratch.length;
    },
    frameWriter: streamedFrame,
    decompressPieces: decodedPieces,
    compressBorrowed,
    compress(data, level) {
      const frame = compressBorrowed(data, level);
      return frame.buffer === scratch.buffer ? frame.slice() : frame;
    },
    decompress(frame, rawLength) {
      decompressor ??= Context.open(new zlib.ZstdDecompress());
      if (decompressor === undefined) throw new Error('internal error: node:zlib zstd handle unavailable');
      const context = decompressor;
      // One byte of room beyond the expected length: a frame that holds more fills it, and with
      // room left node:zlib reports a frame cut short ("unexpected end of file") at ZSTD_e_end.
      const out = new Uint8Array(rawLength + 1);
      let problem: string | undefined;
      try {
        // No reset between frames (node:zlib's builds a new context): a frame is only accepted
        // once zstd has seen its end, so the context is always at a frame boundary here.
        const left = context.write(frame, out, rawLength + 1);
        const produced = rawLength + 1 - left.outputLeft;
        if (produced > rawLength) problem = `holds more than ${rawLength} bytes`;
        else if (produced < rawLength) problem = `decoded to ${produced} bytes`;
        else if (left.inputLeft !== 0) problem = 'has bytes after its end';
      } catch (error) {
        problem = error instanceof Error ? error.message : String(error);
      }
      if (problem !== undefined) {
        // Its state is unknown now: the next frame gets a fresh context.
        context.close();
        decompressor = undefined;
        throw new Error(`zstd frame ${problem}, expected ${rawLength} bytes`);
      }
      // A buffer of exactly the chunk's length, which the codec thread can hand over as it is.
      return new Uint8Array(out.buffer.transfer(rawLength));
    },
  };
}
