/**
 * The one place that initialises WASM modules for the portable core.
 * Node and Deno call loadWasmFromPackages() (wasm/packages.ts); an edge runtime passes
 * precompiled modules to initWasm(). hash-wasm (Argon2id, BLAKE3) embeds and compiles its
 * own modules on first use; on workerd that needs its precompiled build (see docs/SECURITY.md).
 */
import { initZstd, type ZstdGlue } from './zstd.ts';

export interface WasmModules {
  /** zstd.wasm, precompiled or as bytes, and the Emscripten glue object that drives it. */
  readonly zstd: WebAssembly.Module | BufferSource;
  readonly zstdGlue: ZstdGlue;
}

export async function initWasm(modules: WasmModules): Promise<void> {
  await initZstd(modules.zstdGlue, modules.zstd);
}

export { ZstdCodec } from './zstd.ts';
