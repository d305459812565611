/** Loads the WASM binaries from node_modules on runtimes with a file system (Node, Deno). */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { initWasm } from './mod.ts';

let loaded: Promise<void> | undefined;

export function loadWasmFromPackages(): Promise<void> {
  loaded ??= (async () => {
    const require = createRequire(import.meta.url);
    // Resolve the package root through its public entry, then address files inside it by
    // path: the package's exports map exposes neither the glue nor the .wasm file.
    const distDir = dirname(require.resolve('@bokuweb/zstd-wasm'));
    const glue = (require(join(distDir, 'zstd.js')) as { Module: unknown }).Module;
    const bytes = await readFile(join(distDir, 'zstd.wasm'));
    await initWasm({ zstd: await WebAssembly.compile(bytes), zstdGlue: glue });
  })();
  return loaded;
}
