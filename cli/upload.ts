/**
 * One streamed HTTP upload to a bunker server: the body is sent as it is produced and never
 * held whole. Node's fetch buffers a streamed request body, so on Node it goes through
 * node:http(s) with a stream pipeline; Deno's fetch streams it (`duplex: 'half'`).
 */
import { BunkerError, isBunkerError } from '../core/mod.ts';

export interface UploadRequest {
  readonly url: URL;
  readonly method: 'POST' | 'PUT';
  readonly token: string;
  readonly contentType: string;
  readonly body: ReadableStream<Uint8Array>;
}

export interface UploadAnswer {
  readonly status: number;
  /** The parsed JSON answer; undefined if it was not JSON. */
  readonly json: unknown;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function unreachable(url: URL, error: unknown): BunkerError {
  const code = (error as { code?: string } | undefined)?.code;
  const detail = code ?? (error instanceof Error ? error.message : String(error));
  return new BunkerError('REMOTE_FAILED', `the upload to ${url.origin} failed (${detail.slice(0, 200)})`);
}

/**
 * Sends `body`; resolves with the server's answer, also one given before the body was all
 * sent (an early refusal). A failure of the body itself (a local error while producing it)
 * aborts the request, so the server sees a broken stream and commits nothing, and is what
 * this rejects with.
 */
export async function streamUpload(request: UploadRequest): Promise<UploadAnswer> {
  let bodyFailure: unknown;
  const reader = request.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await reader.read();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      } catch (error) {
        bodyFailure = error;
        controller.error(error);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
  const headers = { authorization: `Bearer ${request.token}`, 'content-type': request.contentType, accept: 'application/json' };
  const deno = (globalThis as { Deno?: unknown }).Deno;
  try {
    return deno === undefined ? await nodeUpload(request, body, headers) : await fetchUpload(request, body, headers);
  } catch (error) {
    if (bodyFailure !== undefined) throw bodyFailure;
    throw isBunkerError(error) ? error : unreachable(request.url, error);
  }
}

async function fetchUpload(request: UploadRequest, body: ReadableStream<Uint8Array>, headers: Record<string, string>): Promise<UploadAnswer> {
  const done = new AbortController();
  const response = await fetch(request.url, { method: request.method, headers, body, duplex: 'half', signal: done.signal } as RequestInit);
  const text = await response.text();
  // An early answer (a refusal): stop sending what nobody will read.
  done.abort();
  return { status: response.status, json: parseJson(text) };
}

async function nodeUpload(request: UploadRequest, body: ReadableStream<Uint8Array>, headers: Record<string, string>): Promise<UploadAnswer> {
  const { request: send } = request.url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const { Readable } = await import('node:stream');
  return new Promise<UploadAnswer>((resolve, reject) => {
    let isAnswered = false;
    const req = send(request.url, { method: request.method, headers: { ...headers, 'transfer-encoding': 'chunked' } });
    const source = Readable.fromWeb(body as never);
    req.on('response', (response) => {
      isAnswered = true;
      const chunks: Uint8Array[] = [];
      response.on('data', (chunk: Uint8Array) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        // An early answer (a refusal): nothing more needs sending.
        source.unpipe(req);
        source.destroy();
        req.destroy();
        resolve({ status: response.statusCode ?? 0, json: parseJson(new TextDecoder().decode(Buffer.concat(chunks))) });
      });
    });
    req.on('error', (error) => {
      // A broken connection after the answer came is the server closing a refused upload.
      if (!isAnswered) reject(error);
    });
    source.on('error', (error) => {
      req.destroy(error);
      reject(error);
    });
    source.pipe(req);
  });
}
