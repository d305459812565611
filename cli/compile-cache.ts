/**
 * Node's on-disk cache of compiled modules (node:module enableCompileCache, Node 22.1+): a
 * command starts in about half the time once the cache is warm, since the TypeScript is not
 * stripped and compiled again. The cache lives in the user's own cache directory, not in the
 * shared temporary directory, so no other user can plant code in it. Deno has its own cache and
 * no such call; NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 *
 * Worker threads do not inherit the call, only NODE_COMPILE_CACHE in the environment they start
 * with: without it, every codec and file-writer thread loaded Node's TypeScript stripper and
 * stripped and compiled its modules again, at the start of every backup and restore.
 */
import * as nodeModule from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function enableCompileCache(env: Record<string, string | undefined> = process.env): void {
  const enable = (nodeModule as { enableCompileCache?: (directory?: string) => unknown }).enableCompileCache;
  if (typeof enable !== 'function' || process.versions.deno !== undefined) return;
  let base = env.XDG_CACHE_HOME;
  if (base === undefined || base === '') {
    try {
      base = join(homedir(), '.cache');
    } catch {
      return;
    }
  }
  const directory = join(base, 'bunker', 'node-compile-cache');
  try {
    const result = enable(directory) as { status?: number } | undefined;
    const enabled = (nodeModule as { constants?: { compileCacheStatus?: { ENABLED?: number } } }).constants?.compileCacheStatus?.ENABLED;
    // Only when this call enabled it: a NODE_COMPILE_CACHE of the user's own already reaches the threads.
    if (result?.status !== undefined && result.status === enabled && (env.NODE_COMPILE_CACHE ?? '') === '') env.NODE_COMPILE_CACHE = directory;
  } catch {
    // A cache that cannot be made (read-only home) only costs start-up time.
  }
}
