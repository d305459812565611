/**
 * Preloaded into a CLI process by test/transport-target.test.ts (`node --import`, `deno run
 * --preload`): records, one line per call, every use of the APIs through which bunker derives
 * or uses a key — Web Crypto key import, derivation, encryption, signing, and WebAssembly
 * compilation (Argon2id in hash-wasm, zstd), node:crypto's native Argon2id — into the file
 * named by BUNKER_KEY_PROBE.
 * A process that never encrypts leaves only the "loaded" line.
 */
import { appendFileSync } from 'node:fs';
import nodeCrypto from 'node:crypto';

const out = process.env.BUNKER_KEY_PROBE;
if (out) {
  const record = (what: string) => appendFileSync(out, `${what}\n`);
  record('loaded');
  const subtle = crypto.subtle as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ['importKey', 'deriveBits', 'deriveKey', 'encrypt', 'wrapKey', 'sign', 'generateKey']) {
    const original = subtle[name]!.bind(crypto.subtle);
    subtle[name] = (...args: unknown[]) => {
      record(`subtle.${name}`);
      return original(...args);
    };
  }
  const wasm = WebAssembly as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ['compile', 'instantiate', 'compileStreaming', 'instantiateStreaming']) {
    const original = wasm[name];
    if (typeof original !== 'function') continue;
    wasm[name] = (...args: unknown[]) => {
      record(`wasm.${name}`);
      return original.apply(WebAssembly, args);
    };
  }
  const native = nodeCrypto as unknown as Record<string, (...args: unknown[]) => unknown>;
  const argon2 = native.argon2;
  if (typeof argon2 === 'function') {
    native.argon2 = (...args: unknown[]) => {
      record('crypto.argon2');
      return argon2.apply(nodeCrypto, args);
    };
  }
}
