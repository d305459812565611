/**
 * Why KMS could not be used, as a typed value. Every failure of a KMS call becomes a KmsError
 * whose `reason` names the cause (no credentials, access denied, key disabled, …) and whose
 * code is one of the closed set in core/errors.ts:
 *
 *   KMS_UNAVAILABLE   KMS cannot be reached or does not accept us: credentials, permissions,
 *                     region, network, the service itself.
 *   KMS_KEY_UNUSABLE  KMS answered, but the key cannot do the job: not found, disabled,
 *                     pending deletion, not a symmetric ENCRYPT_DECRYPT key, not trusted.
 *   TAMPERED          the stored ciphertext does not decrypt under this repository's
 *                     encryption context (moved from another repository, or modified).
 *
 * The classification reads only names, codes and HTTP statuses, never a secret; messages
 * quote the service's own error text (ARNs and principals, no key material).
 */
import { BunkerError, type ErrorCode } from '../errors.ts';

export type KmsFailureReason =
  | 'no-credentials'
  | 'bad-credentials'
  | 'access-denied'
  | 'no-region'
  | 'wrong-region'
  | 'unreachable'
  | 'service-error'
  | 'key-not-found'
  | 'key-disabled'
  | 'key-pending-deletion'
  | 'key-unusable'
  | 'key-unsuitable'
  | 'untrusted-key'
  | 'wrong-context';

const KEY_REASONS: ReadonlySet<KmsFailureReason> = new Set(['key-not-found', 'key-disabled', 'key-pending-deletion', 'key-unusable', 'key-unsuitable', 'untrusted-key']);

export function kmsErrorCode(reason: KmsFailureReason): ErrorCode {
  if (reason === 'wrong-context') return 'TAMPERED';
  return KEY_REASONS.has(reason) ? 'KMS_KEY_UNUSABLE' : 'KMS_UNAVAILABLE';
}

/** A KMS failure: `reason` says which, the message says it to a person. */
export class KmsError extends BunkerError {
  readonly reason: KmsFailureReason;

  constructor(reason: KmsFailureReason, message: string, options: { object?: string; cause?: unknown } = {}) {
    super(kmsErrorCode(reason), message, options);
    this.name = 'KmsError';
    this.reason = reason;
  }

  override toJSON(): { code: ErrorCode; message: string; object?: string; reason: KmsFailureReason } {
    return { ...super.toJSON(), reason: this.reason };
  }
}

/** What was being done when a call failed, for the message. */
export interface KmsCallContext {
  /** The KMS operation: Encrypt, Decrypt, DescribeKey. */
  readonly operation: string;
  readonly keyId?: string;
  readonly region?: string;
  readonly endpoint?: string;
  /** Set when the call was abandoned because bunker's own deadline passed. */
  readonly timedOutAfterMs?: number;
}

interface ErrorShape {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly message?: unknown;
  readonly cause?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);
const BAD_CREDENTIALS = new Set(['InvalidSignatureException', 'UnrecognizedClientException', 'IncompleteSignatureException', 'MissingAuthenticationTokenException', 'ExpiredTokenException', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'AuthFailure']);
const SERVICE_TROUBLE = new Set(['KMSInternalException', 'DependencyTimeoutException', 'ThrottlingException', 'LimitExceededException', 'ServiceUnavailableException', 'InternalFailure']);

function field(value: unknown, key: keyof ErrorShape): unknown {
  return typeof value === 'object' && value !== null ? (value as ErrorShape)[key] : undefined;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** The network error code of an error or of one of its causes (fetch and undici nest them). */
function networkCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 5; e = field(e, 'cause'), depth++) {
    const code = text(field(e, 'code'));
    if (NETWORK_CODES.has(code)) return code;
  }
  return undefined;
}

function where(context: KmsCallContext): string {
  const region = context.region === undefined ? '' : ` in region ${context.region}`;
  return context.endpoint === undefined ? `AWS KMS${region}` : `the KMS endpoint ${context.endpoint}${region}`;
}

function quoted(message: string): string {
  const trimmed = message.trim().replace(/\s+/g, ' ');
  if (trimmed === '' || trimmed === 'UnknownError') return '';
  return `: ${trimmed.length > 300 ? `${trimmed.slice(0, 300)}…` : trimmed}`;
}

/**
 * Turns whatever a KMS client threw into a KmsError naming the cause. A KmsError passes
 * through unchanged.
 */
export function classifyKmsFailure(error: unknown, context: KmsCallContext): KmsError {
  if (error instanceof KmsError) return error;
  const name = text(field(error, 'name'));
  const message = text(field(error, 'message'));
  const status = field(field(error, '$metadata'), 'httpStatusCode' as keyof ErrorShape);
  const key = context.keyId === undefined ? 'the KMS key' : `KMS key ${context.keyId}`;
  const make = (reason: KmsFailureReason, what: string): KmsError => new KmsError(reason, what, { cause: error });

  if (context.timedOutAfterMs !== undefined) {
    return make('unreachable', `${where(context)} did not answer ${context.operation} within ${Math.round(context.timedOutAfterMs / 1000)} s (network unreachable or KMS not responding)`);
  }
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return make('no-credentials', 'no AWS credentials found (looked in the environment, the shared config and credentials files and their profiles, SSO, credential processes, web identity, container and instance roles)');
  }
  if (/region is missing/i.test(message)) {
    return make('no-region', 'no AWS region is configured (set AWS_REGION, a region in the AWS profile, or give a key ARN)');
  }
  if (name === 'InvalidSignatureException' && /scoped to a valid region/i.test(message)) {
    return make('wrong-region', `wrong region: ${where(context)} refused a request signed for region ${context.region ?? '(unknown)'}${quoted(message)}`);
  }
  if (name === 'NotFoundException' && /^Invalid arn/i.test(message)) {
    return make('wrong-region', `wrong region: ${key} is not a key of ${where(context)}${quoted(message)}`);
  }
  if (BAD_CREDENTIALS.has(name)) {
    const clock = /signature expired|time.*skew/i.test(message) ? ' (check the system clock)' : '';
    return make('bad-credentials', `AWS refused the credentials (${name}${quoted(message)})${clock}`);
  }
  if (name === 'AccessDeniedException') {
    return make('access-denied', `access denied: the AWS principal may not call kms:${context.operation} on ${key}${quoted(message)}`);
  }
  if (name === 'NotFoundException') {
    return make('key-not-found', `${key} was not found in ${where(context)} (check the key id and the region)`);
  }
  if (name === 'DisabledException') {
    return make('key-disabled', `${key} is disabled (enable it in AWS KMS to use it)`);
  }
  if (name === 'KMSInvalidStateException') {
    if (/pending deletion/i.test(message)) return make('key-pending-deletion', `${key} is pending deletion (cancel the deletion in AWS KMS to use it)`);
    return make('key-unusable', `${key} cannot be used in its current state${quoted(message)}`);
  }
  if (name === 'InvalidKeyUsageException' || name === 'UnsupportedOperationException') {
    return make('key-unsuitable', `${key} is not a symmetric encryption key${quoted(message)}`);
  }
  if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') {
    return make('wrong-context', `KMS refused the ciphertext (${name}): it was not made under ${key} for this repository and salt`);
  }
  const network = networkCode(error);
  if (network !== undefined || name === 'TimeoutError' || name === 'AbortError' || (name === 'TypeError' && /fetch/i.test(message))) {
    return make('unreachable', `${where(context)} is unreachable (${network ?? name}${quoted(message)})`);
  }
  if (SERVICE_TROUBLE.has(name) || (typeof status === 'number' && status >= 500)) {
    return make('service-error', `${where(context)} failed ${context.operation} (${name || `HTTP ${String(status)}`}${quoted(message)})`);
  }
  return make('service-error', `${where(context)} failed ${context.operation} (${name || 'error'}${quoted(message)})`);
}
