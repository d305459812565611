/**
 * The configuration bundle (bunker config export|import, FORMAT.md §14): the server's whole
 * catalog, password-encrypted. Export returns the bundle file; import takes it as the raw
 * request body (streamed and bounded, never a JSON string) with its password in the
 * `X-Bunker-Bundle-Password` header, which is never logged. KMS never applies to bundles.
 */
import { BunkerError } from '../../core/mod.ts';
import type { BundleKey } from '../../core/bundle.ts';
import { derivePasswordVersion } from '../../core/catalog/catalog.ts';
import { exportConfigBundle, namedBundleKey, openConfigBundle } from '../../core/config-bundle.ts';
import { readBody } from '../request-body.ts';
import { apiRoute, jsonBody, NameSchema, z, type ApiApp } from '../openapi.ts';
import { KdfSchema, kdfParams } from './kdf.ts';

/** Larger than any real configuration (a bundle is a few KiB per password and job). */
export const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;
export const BUNDLE_PASSWORD_HEADER = 'x-bunker-bundle-password';

const counts = { passwords: z.number().int(), repositories: z.number().int(), jobs: z.number().int(), points: z.number().int(), settings: z.number().int(), tokens: z.number().int() };

const exportRoute = apiRoute('admin', {
  method: 'post', path: '/v1/bundle/export', summary: 'The whole configuration as an encrypted bundle file',
  request: {
    body: jsonBody(z.object({
      password: z.string().min(1).max(1024).optional().openapi({ description: 'a new password for the bundle (never echoed)' }),
      passwordName: NameSchema.optional().openapi({ description: 'instead: a named bundle password stored here (purpose bundle)' }),
      kdf: KdfSchema.optional(),
    }).strict()),
  },
  responses: { 200: { description: 'the bundle file (FORMAT.md §14)', content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } } },
});
const importRoute = apiRoute('admin', {
  method: 'post', path: '/v1/bundle/import', summary: 'Import a bundle: all of it or nothing; merges, refusing conflicts, or ?replace=true',
  request: {
    query: z.object({ replace: z.enum(['true', 'false']).optional().openapi({ description: 'replace this configuration with the bundle\'s instead of merging' }) }),
    headers: z.object({
      [BUNDLE_PASSWORD_HEADER]: z.string().max(1024).optional().openapi({ description: 'the bundle\'s password; not needed when a named bundle password here opens it' }),
    }),
    body: { required: true, content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary', description: `the bundle file, at most ${MAX_BUNDLE_BYTES} bytes` }) } } },
  },
  responses: {
    200: {
      description: 'what was imported',
      content: { 'application/json': { schema: z.object({ replaced: z.boolean(), added: z.object(counts), keySource: z.enum(['catalog', 'password']) }) } },
    },
    409: { description: 'the bundle conflicts with this configuration (ALREADY_EXISTS); nothing was imported' },
    413: { description: `the bundle is larger than ${MAX_BUNDLE_BYTES} bytes (TOO_LARGE)` },
    422: { description: 'wrong or missing password (WRONG_PASSWORD, PASSWORD_REQUIRED), or a damaged bundle (TAMPERED)' },
  },
});

export function registerBundleRoutes(app: ApiApp): void {
  app.openapi(exportRoute, async (c) => {
    const { password, passwordName, kdf } = c.req.valid('json');
    if ((password === undefined) === (passwordName === undefined)) throw new BunkerError('USAGE', 'give the bundle a password, or the passwordName of a stored bundle password (one of them)');
    if (passwordName !== undefined && kdf !== undefined) throw new BunkerError('USAGE', 'kdf does not apply to a named password (it has its own parameters)');
    const catalog = c.var.deps.catalog;
    const key: BundleKey = passwordName !== undefined ? await namedBundleKey(catalog, passwordName) : await derivePasswordVersion(password!, kdfParams(kdf));
    const { bytes } = await exportConfigBundle(catalog, key);
    const name = `bunker-config-${new Date().toISOString().slice(0, 10)}.bundle`;
    return new Response(bytes as Uint8Array<ArrayBuffer>, {
      status: 200,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length), 'content-disposition': `attachment; filename="${name}"` },
    }) as never;
  });
  app.openapi(importRoute, async (c) => {
    const replace = c.req.valid('query').replace === 'true';
    const password = c.req.header(BUNDLE_PASSWORD_HEADER);
    const bytes = await readBody(c, MAX_BUNDLE_BYTES, 'a bundle');
    const catalog = c.var.deps.catalog;
    const { content, keySource } = await openConfigBundle(bytes, {
      label: 'the uploaded bundle', catalog,
      password: async () => (password === undefined || password === '' ? undefined : password),
      passwordHelp: `the bundle is encrypted: send its password in the ${BUNDLE_PASSWORD_HEADER} header`,
    });
    const summary = await catalog.importSnapshot(content.catalog, { replace });
    return c.json({ ...summary, keySource }, 200);
  });
}
