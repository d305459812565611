/**
 * Restore key order, step 2 (FORMAT.md §3.3): a point's KMS-encrypted H, decrypted with the
 * key its `encryption.kms` names, in that key's region, under the context rebuilt from the
 * repository being read and the point's salt. Put it in PasswordKeyResolver's `before` list
 * (after the catalog); the chain checks the result against the point's verifier.
 *
 * When KMS cannot be used the chain moves on to the password, silently: this resolver keeps
 * the reason (`failures`, `onFailure`) so the caller can tell the user why KMS was skipped,
 * rather than leave them with a bare password prompt or a misleading "wrong password".
 * A failure that will not change within the process (no credentials, bad credentials, an
 * unreachable endpoint, a disabled or missing key) is remembered, so listing many points
 * does not wait for the same timeout again and again.
 */
import { derivePasswordKeys, verifierMatches } from '../crypto/keys.ts';
import { BunkerError } from '../errors.ts';
import type { KeyRequest, KeyResolver, ResolvedKey } from '../key-resolver.ts';
import { pointKey } from '../repo/recovery-point.ts';
import { type KmsClient, type KmsClientFactory, parseKmsArn } from './kms-client.ts';
import { KmsError, type KmsFailureReason } from './kms-errors.ts';
import { type KmsCallOptions, parsePointKms, unwrapPasswordHash } from './kms-wrap.ts';

/** Failures remembered per region (the client's) or per key, for the life of the resolver. */
const STICKY_PER_REGION: ReadonlySet<KmsFailureReason> = new Set(['no-credentials', 'bad-credentials', 'no-region', 'wrong-region', 'unreachable']);
const STICKY_PER_KEY: ReadonlySet<KmsFailureReason> = new Set(['access-denied', 'key-not-found', 'key-disabled', 'key-pending-deletion', 'key-unusable', 'key-unsuitable']);

export interface KmsKeyResolverOptions extends KmsCallOptions {
  /** Makes the KMS client for a key's region (core/host/aws-kms-client.ts on Node and Deno). */
  readonly clientFor: KmsClientFactory;
  /**
   * When given, only these key ARNs are used; a point naming another key is refused without
   * contacting KMS. A point's key ARN is read before the point is authenticated, so without
   * this list whoever can write the repository chooses which KMS key (and which AWS account)
   * restore asks (docs/SECURITY.md).
   */
  readonly trustedKeyArns?: readonly string[];
  /** Called once per failure, before the chain moves on to the next source. */
  readonly onFailure?: (failure: KmsFailure) => void;
}

export interface KmsFailure {
  readonly pointId?: string;
  readonly series: string;
  readonly error: KmsError;
}

export class KmsKeyResolver implements KeyResolver {
  /** Every failure so far, in order: why KMS could not supply H. */
  readonly failures: KmsFailure[] = [];
  private readonly options: KmsKeyResolverOptions;
  private readonly clients = new Map<string, KmsClient>();
  private readonly stickyRegion = new Map<string, KmsError>();
  private readonly stickyKey = new Map<string, KmsError>();

  constructor(options: KmsKeyResolverOptions) {
    this.options = options;
  }

  /** The latest failure, for a message before the password prompt. */
  get lastFailure(): KmsFailure | undefined {
    return this.failures.at(-1);
  }

  async resolve(request: KeyRequest): Promise<ResolvedKey> {
    if (request.kms === undefined) {
      // Not a failure: the point was written without KMS. The chain moves on quietly.
      throw new BunkerError('PASSWORD_REQUIRED', `backup "${request.series}" has no KMS-encrypted password hash`);
    }
    try {
      return await this.unwrap(request);
    } catch (error) {
      if (!(error instanceof KmsError)) throw error;
      const failure: KmsFailure = { series: request.series, error, ...(request.pointId === undefined ? {} : { pointId: request.pointId }) };
      this.failures.push(failure);
      this.options.onFailure?.(failure);
      throw error;
    }
  }

  private async unwrap(request: KeyRequest): Promise<ResolvedKey> {
    const object = request.pointId === undefined ? undefined : pointKey(request.pointId);
    const kms = parsePointKms(request.kms, object);
    if (request.repository === undefined) throw new Error('internal error: a KMS key request needs the repository id');
    const trusted = this.options.trustedKeyArns;
    if (trusted !== undefined && !trusted.includes(kms.keyArn)) {
      throw new KmsError('untrusted-key', `${object ?? 'the point'} names KMS key ${kms.keyArn}, which is not the configured KMS key (${trusted.join(', ') || 'none'})`);
    }
    const region = parseKmsArn(kms.keyArn)!.region;
    const sticky = this.stickyRegion.get(region) ?? this.stickyKey.get(kms.keyArn);
    if (sticky !== undefined) throw sticky;
    const client = this.client(region);
    let hash: Uint8Array;
    try {
      hash = await unwrapPasswordHash(client, { kms, repositoryId: request.repository, salt: request.salt, ...(object === undefined ? {} : { object }) }, this.options);
    } catch (error) {
      if (error instanceof KmsError) {
        if (STICKY_PER_REGION.has(error.reason)) this.stickyRegion.set(region, error);
        if (STICKY_PER_KEY.has(error.reason)) this.stickyKey.set(kms.keyArn, error);
      }
      throw error;
    }
    const keys = await derivePasswordKeys(hash);
    if (!verifierMatches(keys, request.verifier)) {
      // The right repository and salt, but another H: a blob from before a password change.
      throw new KmsError('wrong-context', `the KMS-encrypted password hash in ${object ?? 'the point'} does not match the point's password verifier (made for an earlier password?)`, object === undefined ? {} : { object });
    }
    return { hash, keys, source: 'kms' };
  }

  private client(region: string): KmsClient {
    let client = this.clients.get(region);
    if (client === undefined) {
      client = this.options.clientFor(region);
      this.clients.set(region, client);
    }
    return client;
  }
}
