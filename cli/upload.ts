/**
 * One streamed HTTP upload to a bunker server: the body is sent as it is produced and never
 * held whole. Node's fetch buffers a streamed request body, so it goes through node:http(s)
 * with a stream pipeline, on Deno too: Deno's fetch streams (`duplex: 'half'`), but in small
 * HTTP chunks, and a Deno server spends CPU on each (300 MiB to a Deno `bunker serve`: 23 s
 * with fetch, 3.5 s with node:http writing 1 MiB chunks; either way the client stays near
 * 175 MiB resident).
 *
 * node:http and node:https are loaded on the first upload, not with the CLI: importing node:http
 * as a module loads Node's bundled undici (~30 ms), and every command would pay for it.
 */
import { Readable } from 'node:stream';
import { BunkerError, isBunkerError } from '../core/mod.ts';
import { concatBytes } from '../core/format/bytes.ts';

/**
 * Bytes per write (one HTTP chunk each): a Deno server spends CPU per chunk of a chunked body,
 * enough to slow a stream of 64 KiB chunks several times over; 1 MiB chunks cost it little.
 */
const SEND_BYTES = 1024 * 1024;

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
  let isEnd = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        // Small pieces (tar headers, short files) gathered into writes of about SEND_BYTES.
        const parts: Uint8Array[] = [];
        let length = 0;
        while (!isEnd && length < SEND_BYTES) {
          const next = await reader.read();
          if (next.done) isEnd = true;
          else {
            parts.push(next.value);
            length += next.value.length;
          }
        }
        if (length > 0) controller.enqueue(parts.length === 1 ? parts[0]! : concatBytes(...parts));
        if (isEnd) controller.close();
      } catch (error) {
        bodyFailure = error;
        controller.error(error);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
  const headers = { authorization: `Bearer ${request.token}`, 'content-type': request.contentType, accept: 'application/json' };
  try {
    return await send(request, body, headers, request.url.protocol === 'https:' ? (await import('node:https')).request : (await import('node:http')).request);
  } catch (error) {
    if (bodyFailure !== undefined) throw bodyFailure;
    throw isBunkerError(error) ? error : unreachable(request.url, error);
  }
}

function send(request: UploadRequest, body: ReadableStream<Uint8Array>, headers: Record<string, string>, httpRequest: typeof import('node:http').request): Promise<UploadAnswer> {
  return new Promise<UploadAnswer>((resolve, reject) => {
    let isAnswered = false;
    const req = httpRequest(request.url, { method: request.method, headers: { ...headers, 'transfer-encoding': 'chunked' } });
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
