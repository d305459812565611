/**
 * Opening a repository and a point for a request. A point's key comes only from the server's
 * own sources, in the CLI's restore order: the catalog's stored hashes, then AWS KMS (with the
 * keys ever enabled here trusted); never a password in a request. Without one the answer is
 * PASSWORD_REQUIRED, saying how the server can get one.
 */
import type { Context } from 'hono';
import { BunkerError, CatalogKeyResolver, PasswordKeyResolver, type Repository, type UnlockedPoint } from '../core/mod.ts';
import { keepKmsHash, kmsResolverFor, readKmsSettings } from '../core/kms/kms-settings.ts';
import type { KeyResolver } from '../core/key-resolver.ts';
import type { AppEnv, ServerDeps } from './deps.ts';

export function serverKeyResolver(deps: ServerDeps): PasswordKeyResolver {
  const catalog = new CatalogKeyResolver(async () => deps.catalog);
  let kms: KeyResolver | undefined;
  const kmsStep: KeyResolver = {
    async resolve(request) {
      if (request.kms === undefined) throw new BunkerError('NOT_FOUND', 'the point has no KMS-encrypted password hash');
      const settings = readKmsSettings(deps.catalog);
      // Only keys this server was told about: a point's key ARN is read before it is authenticated.
      if (settings === undefined) throw new BunkerError('NOT_FOUND', 'KMS is not set up on this server');
      kms ??= kmsResolverFor(settings, deps.kms, ({ series, error }) => deps.log(`kms: not used for backup "${series}": ${error.message}`));
      const found = await kms.resolve(request);
      await keepKmsHash(deps.catalog, { series: request.series, salt: request.salt, kdf: request.kdf, hash: found.hash }).catch((error: unknown) => {
        if (!(error instanceof BunkerError)) throw error;
        deps.log(`kms: the recovered hash was not kept: ${error.message}`);
      });
      return found;
    },
  };
  return new PasswordKeyResolver(async ({ series, isNew }) => {
    // A named password created now has a new salt: it opens new points, never an existing one.
    throw new BunkerError('PASSWORD_REQUIRED', isNew
      ? `a new encrypted backup "${series}" needs a named password on the server: create one (POST /v1/passwords) and give it to the job`
      : `backup "${series}" is encrypted and this server holds no key for it: its password hash is in none of the server's named passwords ` +
        '(import the configuration bundle of the machine that made it, POST /v1/bundle/import), and AWS KMS did not supply it');
  }, [catalog, kmsStep]);
}

/** The repository, and the point unlocked with the server's keys. */
export async function unlockPoint(c: Context<AppEnv>, name: string, id: string, series: string | undefined): Promise<{ repo: Repository; point: UnlockedPoint }> {
  const repo = await c.var.deps.repositories.open(name);
  const point = await repo.unlock(await repo.resolvePoint(id, series), serverKeyResolver(c.var.deps));
  return { repo, point };
}
