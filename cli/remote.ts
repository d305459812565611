/**
 * Talking to a bunker server: which URLs are remote, and the API token. The token comes from
 * --token, BUNKER_TOKEN_FILE or BUNKER_TOKEN; it is sent only in the Authorization header and
 * never printed.
 */
import { readFile } from 'node:fs/promises';
import { BunkerError } from '../core/mod.ts';
import type { Io } from './io.ts';

export function isRemoteLocation(location: string | undefined): location is string {
  return location !== undefined && /^https?:\/\//i.test(location);
}

export async function apiToken(options: { token?: string | undefined }, io: Io): Promise<string> {
  let token = options.token;
  // Other users of the machine see a process's arguments (ps): say so, once, where it is used.
  if (token !== undefined) io.err('warning: --token is visible to other users of this machine (ps); prefer BUNKER_TOKEN_FILE\n');
  if (token === undefined && io.env.BUNKER_TOKEN_FILE) {
    token = (await readFile(io.env.BUNKER_TOKEN_FILE, 'utf8').catch(() => {
      throw new BunkerError('USAGE', 'cannot read BUNKER_TOKEN_FILE');
    })).trim();
  }
  token ??= io.env.BUNKER_TOKEN;
  if (token === undefined || token === '') throw new BunkerError('UNAUTHORIZED', 'a bunker server needs an API token: --token, BUNKER_TOKEN_FILE or BUNKER_TOKEN (bunker token create on the server)');
  return token;
}
