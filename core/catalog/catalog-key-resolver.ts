/**
 * Restore step 1 (DESIGN.md "Restore", FORMAT.md §3.3): the password hash for the point's
 * salt is in the product catalog → use it, no prompt. It goes first in the `before` chain of
 * PasswordKeyResolver, which checks the hash against the point's verifier and moves on to the
 * next source (KMS, then the password) when there is none or it does not match.
 */
import { sameKdfParams } from '../crypto/kdf.ts';
import { derivePasswordKeys } from '../crypto/keys.ts';
import { BunkerError } from '../errors.ts';
import type { KeyRequest, KeyResolver, ResolvedKey } from '../key-resolver.ts';
import type { Catalog } from './catalog.ts';

export class CatalogKeyResolver implements KeyResolver {
  private readonly catalog: () => Promise<Catalog | undefined>;

  /** `catalog` is called on first use (opening it lazily); undefined means there is no catalog. */
  constructor(catalog: () => Promise<Catalog | undefined>) {
    this.catalog = catalog;
  }

  async resolve(request: KeyRequest): Promise<ResolvedKey> {
    const catalog = await this.catalog();
    const found = catalog === undefined ? undefined : await catalog.findPasswordHash(request.salt);
    // A hash for these parameters only: the same salt with other parameters is another H.
    if (found === undefined || !sameKdfParams(found.kdf, request.kdf)) {
      throw new BunkerError('NOT_FOUND', 'the product database holds no password hash for this point');
    }
    return { hash: found.hash, keys: await derivePasswordKeys(found.hash), source: 'catalog' };
  }
}
