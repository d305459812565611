/**
 * zstd through @bokuweb/zstd-wasm's Emscripten module, driven directly: one reused
 * compression context and decompression context, and input/output buffers kept in the
 * WASM heap between calls, because the package's convenience wrappers allocate and copy
 * per call (2-4x slower on this workload).
 *
 * The module is instantiated from a WebAssembly.Module or bytes handed in by the caller,
 * so runtimes that forbid compiling WASM at run time (workerd) pass a precompiled module.
 */
interface EmscriptenZstd {
  HEAPU8: Uint8Array;
  init(path?: unknown): unknown;
  instantiateWasm?: (imports: WebAssembly.Imports, receive: (instance: WebAssembly.Instance) => unknown) => unknown;
  onRuntimeInitialized?: () => void;
  _malloc(size: number): number;
  _free(ptr: number): void;
  _ZSTD_isError(code: number): number;
  _ZSTD_compressBound(size: number): number;
  _ZSTD_createCCtx(): number;
  _ZSTD_createDCtx(): number;
  _ZSTD_compress_usingDict(cctx: number, dst: number, dstCap: number, src: number, srcSize: number, dict: number, dictSize: number, level: number): number;
  _ZSTD_decompress_usingDict(dctx: number, dst: number, dstCap: number, src: number, srcSize: number, dict: number, dictSize: number): number;
}

/** The Emscripten glue object (`Module`) of @bokuweb/zstd-wasm's zstd.js, handed in by the loader. */
export type ZstdGlue = unknown;

let Module: EmscriptenZstd;
let ready: Promise<void> | undefined;

/**
 * Instantiates the zstd module once per realm (worker); later calls return the same promise.
 * The package's exports map hides its Emscripten glue, so the runtime's loader hands it in
 * (wasm/packages.ts on Node and Deno; a bundler alias on edge runtimes).
 */
export function initZstd(glue: ZstdGlue, wasm: WebAssembly.Module | BufferSource): Promise<void> {
  ready ??= new Promise<void>((resolve, reject) => {
    Module = glue as EmscriptenZstd;
    Module.onRuntimeInitialized = () => resolve();
    Module.instantiateWasm = (imports, receive) => {
      const instantiated = wasm instanceof WebAssembly.Module
        ? WebAssembly.instantiate(wasm, imports)
        : WebAssembly.instantiate(wasm, imports).then((result) => result.instance);
      instantiated.then((instance) => receive(instance), reject);
      return {};
    };
    Module.init();
  });
  return ready;
}

/** A heap region reused across calls, grown when a larger input arrives. */
class HeapBuffer {
  ptr = 0;
  capacity = 0;
  ensure(size: number): number {
    if (size > this.capacity) {
      if (this.ptr !== 0) Module._free(this.ptr);
      this.capacity = Math.max(size, 64 * 1024);
      this.ptr = Module._malloc(this.capacity);
      if (this.ptr === 0) throw new Error('zstd: out of WASM memory');
    }
    return this.ptr;
  }
}

/** Error codes are returned as large size_t values; ZSTD_isError tells them apart. */
function check(result: number, what: string): number {
  if (Module._ZSTD_isError(result)) throw new Error(`zstd ${what} failed (code ${result})`);
  return result;
}

export class ZstdCodec {
  private readonly cctx: number;
  private readonly dctx: number;
  private readonly src = new HeapBuffer();
  private readonly dst = new HeapBuffer();

  constructor() {
    if (ready === undefined) throw new Error('internal error: initZstd() was not called');
    this.cctx = Module._ZSTD_createCCtx();
    this.dctx = Module._ZSTD_createDCtx();
  }

  /** Compresses to a zstd frame (with content size). Returns a copy outside the WASM heap. */
  compress(data: Uint8Array, level: number): Uint8Array {
    const bound = Module._ZSTD_compressBound(data.length);
    const src = this.src.ensure(data.length);
    const dst = this.dst.ensure(bound);
    Module.HEAPU8.set(data, src);
    const size = check(Module._ZSTD_compress_usingDict(this.cctx, dst, bound, src, data.length, 0, 0, level), 'compress');
    return Module.HEAPU8.slice(dst, dst + size);
  }

  /**
   * Decompresses one frame whose content size must equal `expectedBytes` (known from the
   * index), so a hostile frame cannot make us allocate more than we expect.
   */
  decompress(frame: Uint8Array, expectedBytes: number): Uint8Array {
    const src = this.src.ensure(frame.length);
    const dst = this.dst.ensure(expectedBytes);
    Module.HEAPU8.set(frame, src);
    const size = check(Module._ZSTD_decompress_usingDict(this.dctx, dst, expectedBytes, src, frame.length, 0, 0), 'decompress');
    if (size !== expectedBytes) throw new Error(`zstd frame decoded to ${size} bytes, expected ${expectedBytes}`);
    return Module.HEAPU8.slice(dst, dst + size);
  }

  /**
   * Content size declared in a frame header (RFC 8878 §3.1.1.1), or -1 when absent or invalid.
   * Parsed here rather than through the module: its 64-bit return is cut to 32 bits by the
   * JS glue, which would let a frame declaring 2^32+5 bytes pass as 5.
   */
  frameContentSize(frame: Uint8Array): number {
    if (frame.length < 6 || frame[0] !== 0x28 || frame[1] !== 0xb5 || frame[2] !== 0x2f || frame[3] !== 0xfd) return -1;
    const descriptor = frame[4]!;
    if (descriptor & 0x08) return -1; // reserved bit
    const fcsFlag = descriptor >> 6;
    const isSingleSegment = (descriptor & 0x20) !== 0;
    const didBytes = [0, 1, 2, 4][descriptor & 0x03]!;
    const fcsBytes = fcsFlag === 0 ? (isSingleSegment ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
    if (fcsBytes === 0) return -1;
    const at = 5 + (isSingleSegment ? 0 : 1) + didBytes;
    if (frame.length < at + fcsBytes) return -1;
    let size = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + frame[at + i]!;
    if (fcsBytes === 2) size += 256;
    return size <= Number.MAX_SAFE_INTEGER ? size : -1;
  }
}
