/**
 * Named passwords (bunker password). A password travels only in a request body, and no
 * response holds a password, a salt or a hash: only names, purposes, versions and KDF
 * parameters, and what uses each password.
 */
import type { Context } from 'hono';
import { createNamedPassword, describeNamedPassword, listNamedPasswords, removeNamedPassword, rotateNamedPassword } from '../../core/catalog/named-passwords.ts';
import { PASSWORD_PURPOSES } from '../../core/catalog/records.ts';
import { kmsCatalogWrapper, readKmsSettings } from '../../core/kms/kms-settings.ts';
import type { AppEnv } from '../deps.ts';
import { apiRoute, jsonBody, NameSchema, z, type ApiApp } from '../openapi.ts';
import { KdfSchema, kdfParams } from './kdf.ts';

const PasswordSchema = z.object({
  name: z.string(),
  purpose: z.enum(PASSWORD_PURPOSES),
  description: z.string(),
  createdAt: z.string(),
  currentVersion: z.number().int(),
  rotatedAt: z.string().nullable(),
  versions: z.array(z.object({
    version: z.number().int(), createdAt: z.string(),
    kdf: z.object({ algorithm: z.string(), memoryKiB: z.number().int(), iterations: z.number().int(), parallelism: z.number().int() }),
    kms: z.boolean().optional().openapi({ description: 'the hash is also kept encrypted under AWS KMS' }),
  })).readonly(),
}).openapi('Password');
const PointUseSchema = z.object({ repository: z.string(), pointId: z.string(), series: z.string(), createdAt: z.string(), job: z.string().nullable() });
const ListedSchema = PasswordSchema.extend({ jobs: z.array(z.string()).readonly() });
const DescribedSchema = ListedSchema.extend({ points: z.array(PointUseSchema).readonly() }).openapi('PasswordDetail');
const SecretSchema = z.string().min(1).max(1024).openapi({ description: 'the password itself: only ever in a request body, never echoed' });

const params = z.object({ name: NameSchema });

const create = apiRoute('admin', {
  method: 'post', path: '/v1/passwords', summary: 'Store a named password (its hash, encrypted; never the password)',
  request: {
    body: jsonBody(z.object({
      name: NameSchema, purpose: z.enum(PASSWORD_PURPOSES).optional(), description: z.string().max(1000).optional(), password: SecretSchema, kdf: KdfSchema.optional(),
    }).strict()),
  },
  responses: {
    201: { description: 'created', content: { 'application/json': { schema: PasswordSchema } } },
    409: { description: 'the name is taken (ALREADY_EXISTS)' },
  },
});
const list = apiRoute('admin', {
  method: 'get', path: '/v1/passwords', summary: 'Named passwords and the jobs that use them',
  responses: { 200: { description: 'passwords', content: { 'application/json': { schema: z.object({ passwords: z.array(ListedSchema) }) } } } },
});
const show = apiRoute('admin', {
  method: 'get', path: '/v1/passwords/{name}', summary: 'A named password: versions, and the jobs and recorded points that use it', request: { params },
  responses: { 200: { description: 'the password', content: { 'application/json': { schema: DescribedSchema } } } },
});
const rotate = apiRoute('admin', {
  method: 'post', path: '/v1/passwords/{name}/rotate', summary: 'A new value for future points; earlier points stay restorable',
  request: { params, body: jsonBody(z.object({ password: SecretSchema, kdf: KdfSchema.optional() }).strict()) },
  responses: { 200: { description: 'the password, at its new version', content: { 'application/json': { schema: PasswordSchema } } } },
});
const remove = apiRoute('admin', {
  method: 'delete', path: '/v1/passwords/{name}', summary: 'Forget a named password (refused while a job uses it, unless ?force=true)',
  request: { params, query: z.object({ force: z.enum(['true', 'false']).optional() }) },
  responses: {
    200: {
      description: 'removed; the points it protected can now be restored only with the password itself',
      content: { 'application/json': { schema: z.object({ name: z.string(), versions: z.number().int(), jobs: z.array(z.string()).readonly(), points: z.array(PointUseSchema).readonly() }) } },
    },
    409: { description: 'a job uses it (IN_USE)' },
  },
});

/** While KMS is enabled the new hash is also kept under the KMS key; if KMS cannot be used, nothing is stored. */
function kmsWrap(c: Context<AppEnv>, failing: string) {
  return kmsCatalogWrapper(readKmsSettings(c.var.deps.catalog), c.var.deps.kms, failing);
}

export function registerPasswordRoutes(app: ApiApp): void {
  app.openapi(create, async (c) => {
    const { name, purpose, description, password, kdf } = c.req.valid('json');
    const kdfValue = kdfParams(kdf);
    const info = await createNamedPassword(c.var.deps.catalog, {
      name, ...(purpose === undefined ? {} : { purpose }), ...(description === undefined ? {} : { description }), ...(kdfValue === undefined ? {} : { kdf: kdfValue }),
    }, async () => password, kmsWrap(c, `password "${name}" was not created (nothing stored)`));
    return c.json(info, 201);
  });
  app.openapi(list, (c) => c.json({ passwords: listNamedPasswords(c.var.deps.catalog) }, 200));
  app.openapi(show, (c) => c.json(describeNamedPassword(c.var.deps.catalog, c.req.valid('param').name), 200));
  app.openapi(rotate, async (c) => {
    const { name } = c.req.valid('param');
    const { password, kdf } = c.req.valid('json');
    const kdfValue = kdfParams(kdf);
    const info = await rotateNamedPassword(c.var.deps.catalog, name, async () => password, {
      ...(kdfValue === undefined ? {} : { kdf: kdfValue }), wrap: () => kmsWrap(c, `password "${name}" was not rotated (nothing stored)`),
    });
    return c.json(info, 200);
  });
  app.openapi(remove, (c) => {
    const { name } = c.req.valid('param');
    return c.json(removeNamedPassword(c.var.deps.catalog, name, c.req.valid('query').force === 'true'), 200);
  });
}
