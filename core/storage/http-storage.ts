/**
 * Storage in a repository held by a `bunker serve` on another machine (FORMAT.md §16.1).
 * Everything is encrypted before it gets here: the server sees only opaque objects.
 * Web APIs only (fetch, AbortSignal, crypto.subtle), so it runs wherever core runs.
 *
 * The token goes in the Authorization header and nowhere else: not in the location, not in a
 * message. Every storage operation is idempotent — put-if-absent included, see `put` — so
 * each is retried a few times with backoff after a network failure or a 502/503/504.
 */
import { serverUrl } from './server-url.ts';
import { BunkerError, ERROR_CODES, type ErrorCode, isBunkerError } from '../errors.ts';
import { checkKey, isStorageKey, notFound, shortObject, type Storage } from './storage.ts';

export interface HttpStorageOptions {
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof fetch;
  /** Per attempt, for the answer and its body; generous because a pack is 16 MiB. Default 120 s. */
  readonly timeoutMs?: number;
  /** Further attempts after a failed one. Default 4 (about 4 s of backoff in all). */
  readonly retries?: number;
  /** First backoff; doubled each attempt. Default 250 ms. */
  readonly retryDelayMs?: number;
}

const RETRY_STATUSES = new Set([502, 503, 504]);
const KNOWN_CODES = new Set<string>(ERROR_CODES);
// Errors about one object keep their meaning (callers test them); the rest name the server.
const OBJECT_CODES = new Set<string>(['NOT_FOUND', 'TAMPERED']);

export class HttpStorage implements Storage {
  /** The repository's URL, without credentials. */
  readonly location: string;
  private readonly origin: string;
  private readonly token: string;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;

  /** `baseUrl`: http(s)://HOST:PORT/v1/repos/NAME. */
  constructor(baseUrl: string, token: string, options: HttpStorageOptions = {}) {
    const url = serverUrl(baseUrl, 'http(s)://HOST:PORT/v1/repos/NAME');
    if (!/^[A-Za-z0-9_-]{1,200}$/.test(token)) throw new BunkerError('UNAUTHORIZED', 'the API token is malformed (bunker token create prints one)');
    this.location = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    this.origin = url.origin;
    this.token = token;
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.retries = options.retries ?? 4;
    this.retryDelayMs = options.retryDelayMs ?? 250;
  }

  async get(key: string): Promise<Uint8Array> {
    return this.call('GET', key, {}, async (res) => {
      if (res.status !== 200) throw await this.failure(res, key);
      return new Uint8Array(await res.arrayBuffer());
    });
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    if (length === 0) {
      if (!(await this.has(key))) throw notFound(key);
      return new Uint8Array(0);
    }
    return this.call('GET', key, { headers: { range: `bytes=${offset}-${offset + length - 1}` } }, async (res) => {
      if (res.status === 206 || res.status === 200) {
        let bytes = new Uint8Array(await res.arrayBuffer());
        // A server that ignores Range sends the whole object.
        if (res.status === 200) bytes = bytes.subarray(offset, offset + length);
        if (bytes.length !== length) throw shortObject(key);
        return bytes;
      }
      const error = await this.failure(res, key);
      throw error.code === 'TAMPERED' ? shortObject(key) : error;
    });
  }

  /**
   * Put-if-absent is safe to retry: if an earlier attempt wrote the object but its answer was
   * lost, the retry hears "exists" — and the server sends the stored object's SHA-256, so a
   * retry that finds our own bytes reports the write as ours (true), as if the answer had come.
   */
  async put(key: string, data: Uint8Array): Promise<boolean> {
    return this.call('PUT', key, { body: data, headers: { 'content-type': 'application/octet-stream' } }, async (res, attempt) => {
      if (res.status === 201) {
        await res.body?.cancel();
        return true;
      }
      if (res.status !== 200) throw await this.failure(res, key);
      const answer = await res.json().catch(() => undefined) as { created?: unknown; sha256?: unknown } | undefined;
      if (answer?.created !== false) throw this.offProtocol(`PUT ${key}`, 'an unexpected answer');
      return attempt > 0 && typeof answer.sha256 === 'string' && answer.sha256 === (await sha256Hex(data));
    });
  }

  async has(key: string): Promise<boolean> {
    return this.call('HEAD', key, {}, async (res) => {
      if (res.status === 200) return true;
      if (res.status === 404) return false;
      throw await this.failure(res, key);
    });
  }

  async list(prefix: string): Promise<string[]> {
    if (!prefix.endsWith('/')) throw new Error(`internal error: list prefix ${JSON.stringify(prefix)} does not end in "/"`);
    checkKey(prefix.slice(0, -1));
    const url = `${this.location}/objects?prefix=${encodeURIComponent(prefix)}`;
    return this.call('GET', prefix, { url }, async (res) => {
      if (res.status !== 200) throw await this.failure(res, prefix);
      const answer = await res.json().catch(() => undefined) as { keys?: unknown } | undefined;
      const keys = answer?.keys;
      if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw this.offProtocol(`list ${prefix}`, 'a malformed key list');
      // Keys come from another machine: only well-formed ones under the prefix count.
      return (keys as string[]).filter((k) => k.startsWith(prefix) && isStorageKey(k)).sort();
    });
  }

  async delete(key: string): Promise<void> {
    return this.call('DELETE', key, {}, async (res) => {
      if (res.status !== 204 && res.status !== 200) throw await this.failure(res, key);
      await res.body?.cancel();
    });
  }

  private objectUrl(key: string): string {
    // One path segment: "/" inside the key travels as %2F.
    return `${this.location}/objects/${encodeURIComponent(checkKey(key))}`;
  }

  /**
   * One request with retries. `handle` reads the answer; a BunkerError from it is final, any
   * other failure (connection lost, body cut short, timeout) is retried like a failed request.
   */
  private async call<T>(
    method: string,
    key: string,
    init: { url?: string; body?: Uint8Array; headers?: Record<string, string> },
    handle: (res: Response, attempt: number) => Promise<T>,
  ): Promise<T> {
    const url = init.url ?? this.objectUrl(key);
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.fetch(url, {
          method,
          headers: { ...init.headers, authorization: `Bearer ${this.token}` },
          ...(init.body === undefined ? {} : { body: init.body as Uint8Array<ArrayBuffer> }),
          // A redirect could carry the token elsewhere; a storage server never redirects.
          redirect: 'error',
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        if (RETRY_STATUSES.has(res.status) && attempt < this.retries) {
          await res.body?.cancel().catch(() => undefined);
          await this.backoff(attempt);
          continue;
        }
        return await handle(res, attempt);
      } catch (error) {
        if (isBunkerError(error)) throw error;
        if (attempt >= this.retries) throw this.unreachable(`${method} ${key}`, error);
        await this.backoff(attempt);
      }
    }
  }

  private backoff(attempt: number): Promise<void> {
    const delay = this.retryDelayMs * 2 ** attempt * (0.75 + Math.random() / 2);
    return new Promise((resolve) => setTimeout(resolve, delay));
  }

  /** The BunkerError for an error answer: the server's code when it sent one, else by status. */
  private async failure(res: Response, key: string): Promise<BunkerError> {
    const body = await res.json().catch(() => undefined) as { error?: { code?: unknown; message?: unknown } } | undefined;
    const code = body?.error?.code;
    const message = body?.error?.message;
    if (typeof code === 'string' && KNOWN_CODES.has(code) && typeof message === 'string') {
      if (OBJECT_CODES.has(code)) return new BunkerError(code as ErrorCode, message.slice(0, 500), { object: key });
      return new BunkerError(code as ErrorCode, `the bunker server at ${this.origin} says: ${message.slice(0, 500)}`);
    }
    switch (res.status) {
      case 401: return new BunkerError('UNAUTHORIZED', `the bunker server at ${this.origin} refused the API token (HTTP 401)`);
      case 403: return new BunkerError('FORBIDDEN', `the API token's scope does not allow this on ${this.origin} (HTTP 403)`);
      case 404: return notFound(key);
      case 413: return new BunkerError('TOO_LARGE', `the bunker server at ${this.origin} refused ${key} as too large (HTTP 413)`);
      default: return this.offProtocol(key, `HTTP ${res.status}`);
    }
  }

  private offProtocol(what: string, answer: string): BunkerError {
    return new BunkerError('REMOTE_FAILED', `the bunker server at ${this.origin} gave ${answer} to ${what} (is ${this.location} a bunker repository URL?)`);
  }

  private unreachable(what: string, error: unknown): BunkerError {
    return new BunkerError('REMOTE_FAILED', `cannot reach the bunker server at ${this.origin} (${what}, ${this.retries + 1} attempts): ${reasonOf(error)}`);
  }
}

/** A network failure in a few words: fetch wraps the socket error (ECONNREFUSED…) as its cause. */
function reasonOf(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'no answer in time';
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}
