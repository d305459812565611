/**
 * URLs of a bunker server and of its repositories, checked once for every client: http or
 * https, no credentials (they end up in catalogs and messages; the token has its own channel),
 * no query or fragment.
 */
import { BunkerError } from '../errors.ts';

const REPOSITORY_FORM = 'http(s)://HOST:PORT/v1/repos/NAME';

/** `text` as a server URL; USAGE naming `form` (what was expected) otherwise. */
export function serverUrl(text: string, form: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BunkerError('USAGE', `expected a URL: ${form}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BunkerError('USAGE', `a bunker server URL starts with http:// or https:// (${form})`);
  if (url.username !== '' || url.password !== '') throw new BunkerError('USAGE', 'a bunker server URL must not hold credentials: give the token with --token, BUNKER_TOKEN_FILE or BUNKER_TOKEN');
  if (url.search !== '' || url.hash !== '') throw new BunkerError('USAGE', `a bunker server URL has no query or fragment: ${form}`);
  return url;
}

/** The server's base URL (a proxy's path prefix kept) without a trailing slash. */
export function serverBase(text: string): string {
  const url = serverUrl(text, 'http(s)://HOST:PORT');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * A repository on a bunker server: `location` is the normalized URL (what catalogs record),
 * `base` the server's, `name` the repository's on that server.
 */
export function repositoryUrl(text: string): { location: string; base: string; name: string } {
  const url = serverUrl(text, REPOSITORY_FORM);
  const path = url.pathname.replace(/\/+$/, '');
  const match = /^(.*)\/v1\/repos\/([A-Za-z0-9][A-Za-z0-9._@:+-]{0,63})$/.exec(path);
  if (match === null) throw new BunkerError('USAGE', `a remote repository is ${REPOSITORY_FORM} (the NAME of a repository on that bunker serve)`);
  return { location: `${url.origin}${path}`, base: `${url.origin}${match[1]}`, name: match[2]! };
}
