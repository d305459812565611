/**
 * Getting data back out of a point: restore into a directory on the server (a job, below the
 * configured restore roots only), one file's bytes, or a subtree as a tar stream. Both streams
 * are pulled: chunks are read and verified only as fast as the client takes them.
 */
import { BunkerError, openFile, restore } from '../../core/mod.ts';
import { pointSource } from '../../core/point-source.ts';
import { tarStream } from '../../core/tar-writer.ts';
import { unlockPoint } from '../point-access.ts';
import { apiRoute, jsonBody, NameSchema, PointIdSchema, z, type ApiApp } from '../openapi.ts';
import { JobSchema } from './jobs.ts';
import { EntryPathSchema, SeriesSchema } from './points.ts';

const params = z.object({ name: NameSchema, id: PointIdSchema });
const octets = (type: string) => ({ [type]: { schema: z.string().openapi({ format: 'binary' }) } });

const restoreToPath = apiRoute('admin', {
  method: 'post', path: '/v1/repos/{name}/points/{id}/restore', summary: 'Restore the point into a directory on the server (below a --restore-root), as a job',
  request: {
    params, query: z.object({ series: SeriesSchema.optional() }),
    body: jsonBody(z.object({
      target: z.string().min(1).max(4096).openapi({ description: 'a directory below one of the server\'s restore roots (relative: below the first)' }),
      include: z.array(EntryPathSchema).max(1000).optional().openapi({ description: 'restore only these paths (and what is below them)' }),
    }).strict()),
  },
  responses: {
    202: { description: 'the restore job; its result is the restore summary', content: { 'application/json': { schema: z.object({ job: JobSchema }) } } },
    422: { description: 'the server holds no key for the point (PASSWORD_REQUIRED)' },
  },
});
const file = apiRoute('read', {
  method: 'get', path: '/v1/repos/{name}/points/{id}/file', summary: 'One file\'s bytes (bunker dump), streamed',
  request: { params, query: z.object({ series: SeriesSchema.optional(), path: EntryPathSchema.pipe(z.string().min(1)).openapi({ description: 'the file\'s path inside the point' }) }) },
  responses: { 200: { description: 'the file', content: octets('application/octet-stream') } },
});
const tar = apiRoute('read', {
  method: 'get', path: '/v1/repos/{name}/points/{id}/tar', summary: 'A directory of the point (or all of it) as a tar stream',
  request: { params, query: z.object({ series: SeriesSchema.optional(), path: EntryPathSchema.optional().openapi({ description: 'a path inside the point; absent: everything' }) }) },
  responses: { 200: { description: 'a POSIX tar (PAX where needed) of the path, with its parent directories', content: octets('application/x-tar') } },
});

/** `attachment; filename=…` for the last part of `path`, safe for any name. */
function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

export function registerRestoreRoutes(app: ApiApp): void {
  app.openapi(restoreToPath, async (c) => {
    const { name, id } = c.req.valid('param');
    const { series } = c.req.valid('query');
    const { target: wanted, include } = c.req.valid('json');
    const deps = c.var.deps;
    const target = await deps.files.confine(wanted);
    const { repo, point } = await unlockPoint(c, name, id, series);
    const job = deps.jobs.start('restore', 'admin', async (ctx) => {
      const warnings: string[] = [];
      const result = await restore(repo, point, deps.files.restoreSink(target, (message) => void warnings.push(message)), {
        ...(include && include.length > 0 ? { include } : {}),
        signal: ctx.signal,
        onProgress: (p) => ctx.progress({ files: p.files, filesTotal: p.filesTotal, bytes: p.bytes, bytesTotal: p.bytesTotal, currentPath: p.currentPath }),
      });
      return { ...result, pointId: point.id, keySource: point.keySource, target, warnings };
    });
    return c.json({ job }, 202);
  });
  app.openapi(file, async (c) => {
    const { name, id } = c.req.valid('param');
    const { series, path } = c.req.valid('query');
    const { repo, point } = await unlockPoint(c, name, id, series);
    const { entry, data } = await openFile(repo, point, path);
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await data.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await data.return(undefined);
      },
    });
    return new Response(body, {
      status: 200,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(entry.size), 'content-disposition': attachment(entry.path.split('/').at(-1)!) },
    }) as never;
  });
  app.openapi(tar, async (c) => {
    const { name, id } = c.req.valid('param');
    const { series, path = '' } = c.req.valid('query');
    const { repo, point } = await unlockPoint(c, name, id, series);
    const wanted = path.replace(/^\/+|\/+$/g, '');
    // Everything that can be refused (no such path, a chunk in no index) is refused here,
    // before the first byte of the response.
    const source = await pointSource(repo, point, wanted === '' ? {} : { include: [wanted] });
    const log = c.var.deps.log;
    const stream = tarStream(source, {
      signal: c.req.raw.signal,
      // A point's data either verifies or the download stops: never zeros in place of a chunk.
      onWarning: (message) => {
        log(`tar of point ${point.id.slice(0, 12)} stopped: ${message}`);
        throw new BunkerError('TAMPERED', 'the tar stream stopped: a part of the point could not be read and verified');
      },
    });
    const base = wanted === '' ? `${name}-${point.id.slice(0, 12)}` : wanted.split('/').at(-1)!;
    return new Response(stream, { status: 200, headers: { 'content-type': 'application/x-tar', 'content-disposition': attachment(`${base}.tar`) } }) as never;
  });
}
