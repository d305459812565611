/**
 * Finding the password hash H for a recovery point, without ever exposing it.
 * The restore order of DESIGN.md ("catalog, then KMS, then password") is a chain of
 * resolvers; this module has the password step and an in-process cache.
 */
import { derivePasswordHash, type KdfParams } from './crypto/kdf.ts';
import { derivePasswordKeys, type PasswordKeys, verifierMatches } from './crypto/keys.ts';
import { BunkerError } from './errors.ts';
import { toHex } from './format/bytes.ts';

export type KeySource = 'cache' | 'catalog' | 'kms' | 'password';

export interface KeyRequest {
  readonly series: string;
  readonly pointId?: string;
  readonly salt: Uint8Array;
  readonly kdf: KdfParams;
  readonly verifier: Uint8Array;
  /** The id of the repository being read (its config's), for sources bound to it (KMS). */
  readonly repository?: string;
  /** The point's `encryption.kms` member as stored, unvalidated (FORMAT.md §6.4). */
  readonly kms?: unknown;
}

export interface ResolvedKey {
  readonly hash: Uint8Array;
  readonly keys: PasswordKeys;
  readonly source: KeySource;
}

export interface KeyResolver {
  /** Resolves H for an existing point; WRONG_PASSWORD / PASSWORD_REQUIRED when it cannot. */
  resolve(request: KeyRequest): Promise<ResolvedKey>;
}

/** Asks for a password: `isNew` when a new series is being created (ask twice on a TTY). */
export type PasswordPrompt = (request: { readonly series: string; readonly isNew: boolean }) => Promise<string | undefined>;

function cacheKey(salt: Uint8Array, kdf: KdfParams, verifier: Uint8Array): string {
  return `${toHex(salt)}:${kdf.memoryKiB}:${kdf.iterations}:${kdf.parallelism}:${toHex(verifier)}`;
}

/** Resolves keys from a password, re-derived from the point's own salt, with a per-process cache. */
export class PasswordKeyResolver implements KeyResolver {
  private readonly cache = new Map<string, { hash: Uint8Array; keys: PasswordKeys }>();
  private readonly prompt: PasswordPrompt;
  private readonly before: KeyResolver[];

  /** `before` resolvers (catalog, KMS) are tried first, in order; the prompt is the last resort. */
  constructor(prompt: PasswordPrompt, before: KeyResolver[] = []) {
    this.prompt = prompt;
    this.before = before;
  }

  async resolve(request: KeyRequest): Promise<ResolvedKey> {
    const key = cacheKey(request.salt, request.kdf, request.verifier);
    const cached = this.cache.get(key);
    if (cached) return { ...cached, source: 'cache' };
    for (const resolver of this.before) {
      let found: ResolvedKey;
      try {
        found = await resolver.resolve(request);
      } catch (error) {
        if (!(error instanceof BunkerError)) throw error;
        continue;
      }
      // A stale hash from the catalog or KMS must fall through to the next source,
      // not surface later as TAMPERED (FORMAT.md §3.3).
      if (!verifierMatches(found.keys, request.verifier)) continue;
      this.cache.set(key, { hash: found.hash, keys: found.keys });
      return found;
    }
    const password = await this.prompt({ series: request.series, isNew: false });
    if (password === undefined) {
      throw new BunkerError('PASSWORD_REQUIRED', `backup "${request.series}" is encrypted: give its password (--password-file, BUNKER_PASSWORD_FILE, BUNKER_PASSWORD or the prompt)`);
    }
    const hash = await derivePasswordHash(password, request.salt, request.kdf);
    const keys = await derivePasswordKeys(hash);
    if (!verifierMatches(keys, request.verifier)) {
      throw new BunkerError('WRONG_PASSWORD', `wrong password for backup "${request.series}"`);
    }
    this.cache.set(key, { hash, keys });
    return { hash, keys, source: 'password' };
  }

  /** Asks for the password of a new series. */
  async newPassword(series: string): Promise<string> {
    const password = await this.prompt({ series, isNew: true });
    if (password === undefined || password.length === 0) {
      throw new BunkerError('PASSWORD_REQUIRED', `a password is needed to create encrypted backup "${series}" (or use --no-encrypt)`);
    }
    return password;
  }

  remember(salt: Uint8Array, kdf: KdfParams, verifier: Uint8Array, hash: Uint8Array, keys: PasswordKeys): void {
    this.cache.set(cacheKey(salt, kdf, verifier), { hash, keys });
  }
}
