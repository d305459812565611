import { join, resolve } from 'node:path';
import { BunkerError } from '../../core/mod.ts';
import { dataHome, openProductCatalog } from '../context.ts';
import type { Io } from '../io.ts';
import type { CommandSpec } from './spec.ts';

export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  readonly repos?: string;
  readonly restoreRoot?: readonly string[];
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly maxBody?: number;
  readonly json?: boolean;
}

/** Runs until SIGINT/SIGTERM; running jobs are cancelled (they commit nothing) on the way out. */
export async function runServe(options: ServeOptions, io: Io): Promise<void> {
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) throw new BunkerError('USAGE', '--tls-cert and --tls-key go together');
  // The server (Hono, zod, OpenAPI) is loaded here, not at start-up: other commands never need it.
  const [{ createApp }, { serverDeps }, { listen }] = await Promise.all([
    import('../../server/app.ts'), import('../../server/host.ts'), import('../../server/listen.ts'),
  ]);
  const catalog = (await openProductCatalog(io, { create: true }))!;
  const reposRoot = resolve(options.repos ?? io.env.BUNKER_REPOS ?? join(dataHome(io.env), 'repos'));
  const workers = io.env.BUNKER_WORKERS === undefined ? undefined : Number(io.env.BUNKER_WORKERS);
  const deps = await serverDeps({
    catalog, reposRoot, restoreRoots: options.restoreRoot ?? [],
    ...(workers === undefined ? {} : { workers }),
    ...(options.maxBody ? { maxBodyBytes: options.maxBody } : {}),
    log: (line) => io.err(`${new Date().toISOString()} ${line}\n`),
    env: io.env,
  });
  const app = createApp(deps);
  const listening = await listen(app.fetch, {
    host: options.host, port: options.port,
    ...(options.tlsCert ? { tls: { certFile: options.tlsCert, keyFile: options.tlsKey! } } : {}),
  });
  if (options.json) io.out(JSON.stringify({ url: listening.url, repos: reposRoot, restoreRoots: deps.files.restoreRoots }) + '\n');
  else io.out(`bunker serving ${listening.url} (API ${listening.url}/v1, docs ${listening.url}/docs); repositories in ${reposRoot}\n`);
  if (options.host !== '127.0.0.1' && options.host !== 'localhost' && options.host !== '::1' && !options.tlsCert) {
    io.err('warning: serving beyond this machine without TLS: tokens and data travel in clear (use --tls-cert/--tls-key)\n');
  }
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  io.err('bunker serve: stopping\n');
  await deps.jobs.close();
  await listening.close();
  catalog.close();
}

export const serveCommand: CommandSpec = {
  command: 'serve',
  describe: 'Serve the HTTP API (and act as a target transporter for other bunkers)',
  builder: (y) => y
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to bind (default: this machine only)' })
    .option('port', { type: 'number', default: 8420, describe: 'port (0: any free port; the URL is printed)' })
    .option('repos', { type: 'string', describe: 'directory of the server\'s repositories (default BUNKER_REPOS or BUNKER_HOME/repos)' })
    .option('restore-root', { type: 'string', array: true, describe: 'a directory restore-to-path may write below (repeatable; none: refused)' })
    .option('tls-cert', { type: 'string', describe: 'PEM certificate: serve HTTPS' })
    .option('tls-key', { type: 'string', describe: 'PEM private key for --tls-cert' })
    .option('max-body', { type: 'number', describe: 'largest JSON request body in bytes (default 1 MiB; uploads stream)' }),
  run: async (argv, io) => runServe(argv as unknown as ServeOptions, io),
};
