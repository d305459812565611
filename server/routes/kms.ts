/**
 * AWS KMS settings (bunker kms): while enabled, every encrypted backup also stores its password
 * hash encrypted under the key, and named passwords' hashes get a KMS copy. The key is checked
 * with KMS (DescribeKey) before it is saved, with the server's own AWS credentials.
 */
import { describeKmsKey, disableKms, enableKms, readKmsSettings } from '../../core/kms/kms-settings.ts';
import { apiRoute, jsonBody, z, type ApiApp } from '../openapi.ts';

const SettingsSchema = z.object({
  enabled: z.boolean(),
  keyId: z.string().optional(),
  keyArn: z.string().optional(),
  region: z.string().optional(),
  accountId: z.string().optional(),
  endpoint: z.string().optional(),
  checkedAt: z.string().optional(),
  trustedKeyArns: z.array(z.string()).readonly().optional().openapi({ description: 'every key enabled here: restore trusts these' }),
  wrapped: z.number().int().optional().openapi({ description: 'with wrapExisting: password versions given a KMS copy' }),
}).openapi('KmsSettings');

const show = apiRoute('admin', {
  method: 'get', path: '/v1/kms', summary: 'Whether KMS is enabled, and its key',
  responses: { 200: { description: 'the settings', content: { 'application/json': { schema: SettingsSchema } } } },
});
const put = apiRoute('admin', {
  method: 'put', path: '/v1/kms', summary: 'Check a KMS key (exists, enabled, symmetric, ENCRYPT_DECRYPT) and use it for every encrypted backup',
  request: {
    body: jsonBody(z.object({
      keyId: z.string().min(1).max(2048).openapi({ description: 'key id, key ARN, alias/NAME or alias ARN' }),
      region: z.string().regex(/^[a-z0-9-]{1,64}$/, 'a region is like us-east-1').optional(),
      endpoint: z.string().max(2048).regex(/^https?:\/\/[^\s]+$/i, 'an endpoint is an http(s) URL').optional().openapi({ description: 'a KMS-compatible endpoint URL (default: AWS\'s)' }),
      wrapExisting: z.boolean().optional().openapi({ description: 'also encrypt under the key the hashes of the named passwords already stored' }),
    }).strict()),
  },
  responses: {
    200: { description: 'enabled', content: { 'application/json': { schema: SettingsSchema } } },
    422: { description: 'the key cannot be used (KMS_KEY_UNUSABLE)' },
    503: { description: 'KMS cannot be reached, or refused the credentials (KMS_UNAVAILABLE)' },
  },
});
const remove = apiRoute('admin', {
  method: 'delete', path: '/v1/kms', summary: 'Stop storing KMS-encrypted password hashes in new points (keys stay trusted for restore)',
  responses: { 200: { description: 'disabled', content: { 'application/json': { schema: SettingsSchema } } } },
});

export function registerKmsRoutes(app: ApiApp): void {
  app.openapi(show, (c) => c.json(readKmsSettings(c.var.deps.catalog) ?? { enabled: false }, 200));
  app.openapi(put, async (c) => {
    const { keyId, region, endpoint, wrapExisting } = c.req.valid('json');
    const deps = c.var.deps;
    const request = { keyId, ...(region === undefined ? {} : { region }), ...(endpoint === undefined ? {} : { endpoint }) };
    const key = await describeKmsKey(request, deps.kms);
    return c.json(await enableKms(deps.catalog, { ...request, wrapExisting: wrapExisting === true }, key, deps.kms), 200);
  });
  app.openapi(remove, (c) => c.json(disableKms(c.var.deps.catalog), 200));
}
