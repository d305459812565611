/** Raw request bodies (uploads) that are not JSON, so not under app.ts's JSON body limit. */
import type { Context } from 'hono';
import { BunkerError } from '../core/mod.ts';
import { concatBytes } from '../core/format/bytes.ts';
import type { AppEnv } from './deps.ts';

/** The request body, read chunk by chunk so an oversized one is refused before it is all in memory. */
export async function readBody(c: Context<AppEnv>, limit: number, what: string): Promise<Uint8Array> {
  const tooLarge = () => new BunkerError('TOO_LARGE', `${what} may be at most ${limit} bytes`);
  const declaredHeader = c.req.header('content-length');
  const declared = declaredHeader === undefined ? undefined : Number(declaredHeader);
  if (declared !== undefined && declared > limit) throw tooLarge();
  const body = c.req.raw.body;
  if (body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  // A connection that drops mid-upload must not store a truncated object.
  if (declared !== undefined && Number.isFinite(declared) && total !== declared) {
    throw new BunkerError('USAGE', `the upload ended after ${total} of ${declared} bytes`);
  }
  return concatBytes(...chunks);
}
