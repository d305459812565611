/**
 * KMS protection of the password hash H (FORMAT.md §6.4): H is encrypted with KMS Encrypt
 * under an EncryptionContext that binds it to the repository and the series' salt, and the
 * result ({keyArn, ciphertext, context}) goes into a point's `encryption.kms`. Unwrapping
 * rebuilds the context from the repository being read and the point's own salt — never from
 * the stored copy — and asks KMS Decrypt with it, so a blob moved from another repository
 * does not decrypt at all.
 *
 * Every call is bounded: a deadline (`timeoutMs`, default 30 s, retries included) on top of
 * the client's own retries and timeouts. Failures are KmsError values naming the cause
 * (core/kms/kms-errors.ts). H is only ever sent to KMS Encrypt, and nothing here logs.
 */
import { fromBase64, toBase64 } from '../format/bytes.ts';
import type { KmsClient, KmsEncryptionContext, KmsKeyDescription } from './kms-client.ts';
import { parseKmsArn } from './kms-client.ts';
import { classifyKmsFailure, type KmsCallContext, KmsError } from './kms-errors.ts';

// FORMAT.md §6.4: EncryptionContext member names and the purpose value, verbatim.
export const KMS_CONTEXT_PURPOSE = 'bunker:purpose';
export const KMS_CONTEXT_REPOSITORY = 'bunker:repository';
export const KMS_CONTEXT_SALT = 'bunker:salt';
export const KMS_PURPOSE_PASSWORD_HASH = 'password hash v1';
/** The purpose of the copy of a named password version's H kept in the product catalog (§6.4). */
export const KMS_PURPOSE_CATALOG_PASSWORD_HASH = 'catalog password hash v1';
/** KMS Decrypt accepts ciphertext blobs up to 6144 bytes. */
export const KMS_MAX_CIPHERTEXT_BYTES = 6144;
/** The plaintext a point's blob must decrypt to: H. */
const HASH_BYTES = 32;

export const DEFAULT_KMS_TIMEOUT_MS = 30_000;

/** `encryption.kms` of a point (FORMAT.md §6.3, §6.4). */
export interface PointKms {
  /** The ARN of the key, as KMS Encrypt returned it. */
  readonly keyArn: string;
  /** base64 of the KMS ciphertext blob. */
  readonly ciphertext: string;
  /** The EncryptionContext it was made with (informational: readers rebuild it). */
  readonly context: Readonly<Record<string, string>>;
}

export interface KmsCallOptions {
  /** Deadline for one KMS operation, retries included. */
  readonly timeoutMs?: number;
}

/** The EncryptionContext of a point's wrapped H: purpose, repository id, base64 salt (§6.4). */
export function pointKmsContext(repositoryId: string, salt: Uint8Array): KmsEncryptionContext {
  return Object.freeze({
    [KMS_CONTEXT_PURPOSE]: KMS_PURPOSE_PASSWORD_HASH,
    [KMS_CONTEXT_REPOSITORY]: repositoryId,
    [KMS_CONTEXT_SALT]: toBase64(salt),
  });
}

/**
 * The EncryptionContext of the product catalog's copy of a named password version's H: a
 * named password belongs to no repository, so no `bunker:repository` member; its own purpose
 * (a catalog blob never decrypts as a point's, nor the reverse) and the version's salt (§6.4).
 */
export function catalogKmsContext(salt: Uint8Array): KmsEncryptionContext {
  return Object.freeze({
    [KMS_CONTEXT_PURPOSE]: KMS_PURPOSE_CATALOG_PASSWORD_HASH,
    [KMS_CONTEXT_SALT]: toBase64(salt),
  });
}

/** A named password version's H encrypted under a KMS key, for the product catalog. */
export async function wrapCatalogPasswordHash(client: KmsClient, input: { keyId: string; hash: Uint8Array; salt: Uint8Array }, options: KmsCallOptions = {}): Promise<PointKms> {
  if (input.hash.length !== HASH_BYTES) throw new Error('internal error: a password hash is 32 bytes');
  checkRegion(client, input.keyId, 'Encrypt');
  const context = catalogKmsContext(input.salt);
  const result = await callKms(client, { operation: 'Encrypt', keyId: input.keyId }, options, (signal) =>
    client.encrypt({ keyId: input.keyId, plaintext: input.hash, context }, signal));
  return { keyArn: result.keyArn, ciphertext: toBase64(result.ciphertext), context: { ...context } };
}

/**
 * Runs one KMS operation under a deadline; whatever it throws becomes a KmsError. The race
 * matters: a credential provider may not honour the signal, and the deadline still holds.
 */
export async function callKms<T>(client: KmsClient, call: Omit<KmsCallContext, 'region' | 'endpoint'>, options: KmsCallOptions, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_KMS_TIMEOUT_MS;
  const context: KmsCallContext = { ...call, ...(client.region === undefined ? {} : { region: client.region }), ...(client.endpoint === undefined ? {} : { endpoint: client.endpoint }) };
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`KMS ${call.operation} deadline passed`);
      error.name = 'TimeoutError';
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    return await Promise.race([run(controller.signal), deadline]);
  } catch (error) {
    throw classifyKmsFailure(error, controller.signal.aborted ? { ...context, timedOutAfterMs: timeoutMs } : context);
  } finally {
    clearTimeout(timer);
  }
}

/** Refuses, before any call, a key ARN of another region than the client's. */
function checkRegion(client: KmsClient, keyId: string, operation: string): void {
  const arn = parseKmsArn(keyId);
  if (arn !== undefined && client.region !== undefined && arn.region !== client.region) {
    throw new KmsError('wrong-region', `wrong region: KMS key ${keyId} is in region ${arn.region}, but ${operation} would go to region ${client.region}`);
  }
}

/**
 * DescribeKey, then the checks bunker needs: the key exists, is Enabled, and is a
 * SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key. Each failure names its cause.
 */
export async function checkKmsKey(client: KmsClient, keyId: string, options: KmsCallOptions = {}): Promise<KmsKeyDescription> {
  checkRegion(client, keyId, 'DescribeKey');
  const key = await callKms(client, { operation: 'DescribeKey', keyId }, options, (signal) => client.describeKey(keyId, signal));
  const name = `KMS key ${key.keyArn}`;
  if (key.keyState === 'PendingDeletion' || key.keyState === 'PendingReplicaDeletion') {
    const when = key.deletionDate === undefined ? '' : ` on ${key.deletionDate.toISOString().slice(0, 10)}`;
    throw new KmsError('key-pending-deletion', `${name} is pending deletion${when} (cancel the deletion in AWS KMS to use it)`);
  }
  if (key.keyState === 'Disabled') throw new KmsError('key-disabled', `${name} is disabled (enable it in AWS KMS to use it)`);
  if (key.keyState !== 'Enabled' || !key.enabled) throw new KmsError('key-unusable', `${name} cannot be used: its state is ${key.keyState}`);
  if (key.keySpec !== 'SYMMETRIC_DEFAULT' || key.keyUsage !== 'ENCRYPT_DECRYPT') {
    throw new KmsError('key-unsuitable', `${name} is not a symmetric encryption key (KeySpec ${key.keySpec}, KeyUsage ${key.keyUsage}; bunker needs SYMMETRIC_DEFAULT and ENCRYPT_DECRYPT)`);
  }
  return key;
}

/** Encrypts H under `keyId` for a point of `repositoryId` whose series has `salt`. */
export async function wrapPasswordHash(client: KmsClient, input: { keyId: string; hash: Uint8Array; repositoryId: string; salt: Uint8Array }, options: KmsCallOptions = {}): Promise<PointKms> {
  if (input.hash.length !== HASH_BYTES) throw new Error('internal error: a password hash is 32 bytes');
  checkRegion(client, input.keyId, 'Encrypt');
  const context = pointKmsContext(input.repositoryId, input.salt);
  const result = await callKms(client, { operation: 'Encrypt', keyId: input.keyId }, options, (signal) =>
    client.encrypt({ keyId: input.keyId, plaintext: input.hash, context }, signal));
  return { keyArn: result.keyArn, ciphertext: toBase64(result.ciphertext), context: { ...context } };
}

/** Reads a point's `encryption.kms` member: anything malformed is refused as tampering, not a crash. */
export function parsePointKms(value: unknown, object?: string): PointKms {
  const malformed = (why: string): never => {
    throw new KmsError('wrong-context', `the KMS-encrypted password hash${object === undefined ? '' : ` in ${object}`} is malformed: ${why}`, object === undefined ? {} : { object });
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return malformed('not an object');
  const kms = value as Partial<PointKms>;
  if (typeof kms.keyArn !== 'string' || parseKmsArn(kms.keyArn) === undefined) return malformed('keyArn is not a KMS key ARN');
  if (typeof kms.ciphertext !== 'string' || kms.ciphertext.length === 0) return malformed('ciphertext is missing');
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(kms.ciphertext);
  } catch {
    return malformed('ciphertext is not base64');
  }
  if (bytes.length === 0 || bytes.length > KMS_MAX_CIPHERTEXT_BYTES) malformed(`ciphertext is ${bytes.length} bytes`);
  const context = kms.context;
  if (typeof context !== 'object' || context === null || Array.isArray(context) || !Object.values(context).every((v) => typeof v === 'string')) {
    return malformed('context is not an object of strings');
  }
  return { keyArn: kms.keyArn, ciphertext: kms.ciphertext, context };
}

function sameContext(a: Readonly<Record<string, string>>, b: KmsEncryptionContext): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/**
 * Decrypts a point's KMS-encrypted H. The context is rebuilt from `repositoryId` (the
 * repository being read) and the point's salt; a stored context that differs is refused
 * before KMS is asked. The caller still checks H against the point's verifier (§3.3).
 */
export async function unwrapPasswordHash(client: KmsClient, input: { kms: PointKms; repositoryId: string; salt: Uint8Array; object?: string }, options: KmsCallOptions = {}): Promise<Uint8Array> {
  const { kms } = input;
  const where = input.object === undefined ? {} : { object: input.object };
  const expected = pointKmsContext(input.repositoryId, input.salt);
  if (!sameContext(kms.context, expected)) {
    const repository = kms.context[KMS_CONTEXT_REPOSITORY];
    const why = repository !== undefined && repository !== input.repositoryId
      ? `it was made for repository ${repository.slice(0, 12)}, not this one (${input.repositoryId.slice(0, 12)})`
      : 'its encryption context does not match this repository and salt';
    throw new KmsError('wrong-context', `the KMS-encrypted password hash${input.object === undefined ? '' : ` in ${input.object}`} does not belong here: ${why}`, where);
  }
  checkRegion(client, kms.keyArn, 'Decrypt');
  const result = await callKms(client, { operation: 'Decrypt', keyId: kms.keyArn }, options, (signal) =>
    client.decrypt({ keyId: kms.keyArn, ciphertext: fromBase64(kms.ciphertext), context: expected }, signal));
  if (result.plaintext.length !== HASH_BYTES) {
    throw new KmsError('wrong-context', `KMS decrypted the password hash${input.object === undefined ? '' : ` in ${input.object}`} to ${result.plaintext.length} bytes, not ${HASH_BYTES}`, where);
  }
  return result.plaintext;
}
