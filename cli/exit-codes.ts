/** Exit codes: the one place they are defined (documented in README.md and `bunker --help`). */
import type { ErrorCode } from '../core/mod.ts';

export const EXIT_OK = 0;
/** A bug: an error without a code. */
export const EXIT_INTERNAL = 1;
/** `bunker check` ran and found problems. */
export const EXIT_CHECK_FAILED = 15;

export const EXIT_CODES: Readonly<Record<ErrorCode, number>> = Object.freeze({
  USAGE: 2,
  NOT_FOUND: 3,
  WRONG_PASSWORD: 4,
  PASSWORD_REQUIRED: 5,
  TAMPERED: 6,
  CORRUPTED_POINT: 7,
  UNSUPPORTED_VERSION: 8,
  KDF_PARAMS_OUT_OF_RANGE: 9,
  UNSAFE_PATH: 10,
  ALREADY_EXISTS: 11,
  AMBIGUOUS: 12,
  STORAGE_FAILED: 13,
  CANCELLED: 14,
  IN_USE: 16,
  CATALOG_FAILED: 17,
  KMS_UNAVAILABLE: 18,
  KMS_KEY_UNUSABLE: 19,
  UNAUTHORIZED: 20,
  FORBIDDEN: 21,
  TOO_LARGE: 22,
  REMOTE_FAILED: 23,
  TARGET_FAILED: 24,
});
