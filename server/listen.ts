/**
 * Serving the app on the runtime at hand: Deno.serve on Deno, @hono/node-server (node:http or
 * node:https) on Node. Both stream request and response bodies.
 */
import { readFile } from 'node:fs/promises';
import { BunkerError } from '../core/mod.ts';

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

export interface Listening {
  readonly url: string;
  /**
   * How long a request (body included) may take, in ms; 0 = no limit. Node's default of 300 s
   * would cut a long streamed upload (a large backup encrypted on the target) mid-way.
   */
  readonly requestTimeoutMs: number;
  close(): Promise<void>;
}

type FetchHandler = (request: Request) => Response | Promise<Response>;

interface DenoServe {
  serve(options: Record<string, unknown>, handler: FetchHandler): { finished: Promise<void>; shutdown(): Promise<void>; addr: { port: number } };
}

export async function listen(fetch: FetchHandler, options: ListenOptions): Promise<Listening> {
  const tls = options.tls === undefined ? undefined : {
    cert: await readFile(options.tls.certFile, 'utf8').catch(() => { throw new BunkerError('USAGE', `cannot read --tls-cert ${options.tls!.certFile}`); }),
    key: await readFile(options.tls.keyFile, 'utf8').catch(() => { throw new BunkerError('USAGE', `cannot read --tls-key ${options.tls!.keyFile}`); }),
  };
  const scheme = tls ? 'https' : 'http';
  const urlHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  const deno = (globalThis as { Deno?: DenoServe }).Deno;
  if (deno !== undefined) {
    let resolveReady!: (port: number) => void;
    const ready = new Promise<number>((resolve) => (resolveReady = resolve));
    const server = deno.serve({
      hostname: options.host, port: options.port, ...(tls ?? {}),
      onListen: ({ port }: { port: number }) => resolveReady(port),
    }, fetch);
    const port = await ready;
    return { url: `${scheme}://${urlHost}:${port}`, requestTimeoutMs: 0, close: () => server.shutdown() };
  }
  const { serve } = await import('@hono/node-server');
  const https = tls ? await import('node:https') : undefined;
  return await new Promise<Listening>((resolve, reject) => {
    const server = serve({
      fetch, hostname: options.host, port: options.port,
      // No limit on a whole request: uploads stream for as long as the data lasts. Slow or idle
      // connections are still bounded by headersTimeout and keep-alive timeouts.
      serverOptions: { ...(tls ?? {}), requestTimeout: 0 },
      ...(https ? { createServer: https.createServer } : {}),
    } as Parameters<typeof serve>[0], (info) => {
      resolve({
        url: `${scheme}://${urlHost}:${info.port}`,
        requestTimeoutMs: (server as unknown as { requestTimeout: number }).requestTimeout,
        close: () => new Promise<void>((done) => {
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
          server.close(() => done());
        }),
      });
    });
    server.once('error', (error: NodeJS.ErrnoException) => reject(new BunkerError('USAGE', `cannot listen on ${options.host}:${options.port}: ${error.code ?? error.message}`)));
  });
}
