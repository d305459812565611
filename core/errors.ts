/**
 * Errors are values with stable codes. The CLI maps each code to an exit code
 * (cli/exit-codes.ts) and the server to an HTTP status, each in one place.
 * Messages are for people and never contain a secret (password, hash, key).
 */
// Closed set; what each code means to a reader of the format: FORMAT.md §1.3.
export const ERROR_CODES = [
  'USAGE',
  'WRONG_PASSWORD',
  'PASSWORD_REQUIRED',
  'TAMPERED',
  'CORRUPTED_POINT',
  'NOT_FOUND',
  'AMBIGUOUS',
  'ALREADY_EXISTS',
  'KDF_PARAMS_OUT_OF_RANGE',
  'UNSUPPORTED_VERSION',
  'UNSAFE_PATH',
  'STORAGE_FAILED',
  'CANCELLED',
  'IN_USE',
  'CATALOG_FAILED',
  'KMS_UNAVAILABLE',
  'KMS_KEY_UNUSABLE',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'TOO_LARGE',
  'REMOTE_FAILED',
  'TARGET_FAILED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class BunkerError extends Error {
  readonly code: ErrorCode;
  /** The repository object or path the error is about, when there is one. */
  readonly object?: string;

  constructor(code: ErrorCode, message: string, options: { object?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BunkerError';
    this.code = code;
    if (options.object !== undefined) this.object = options.object;
  }

  toJSON(): { code: ErrorCode; message: string; object?: string } {
    return this.object === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, object: this.object };
  }
}

export function isBunkerError(value: unknown, code?: ErrorCode): value is BunkerError {
  return value instanceof BunkerError && (code === undefined || value.code === code);
}

/** CANCELLED when `signal` was aborted (a cancelled server job, Ctrl-C); `what` names the work. */
export function throwIfCancelled(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new BunkerError('CANCELLED', `${what} was cancelled`);
}
