/**
 * The storage interface every backend implements (FORMAT.md §2). Objects are immutable:
 * `put` writes a key only if it is absent, atomically (readers see all of it or nothing).
 * Keys are '/'-separated, lowercase [a-z0-9._-] segments.
 */
import { BunkerError } from '../errors.ts';

export interface Storage {
  /** Human-readable location, for messages. */
  readonly location: string;
  /** Whole object; NOT_FOUND when absent. */
  get(key: string): Promise<Uint8Array>;
  /** `length` bytes at `offset`; NOT_FOUND when absent, TAMPERED when the object is shorter. */
  getRange(key: string, offset: number, length: number): Promise<Uint8Array>;
  /** Writes `data` under `key` if absent. Returns false (and writes nothing) if the key exists. */
  put(key: string, data: Uint8Array): Promise<boolean>;
  has(key: string): Promise<boolean>;
  /** Keys under `prefix` (a directory-like prefix ending in '/'), sorted. */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

// FORMAT.md §2
const KEY_PATTERN = /^[a-z0-9._-]+(\/[a-z0-9._-]+)*$/;

/** Whether `key` is a storage key (FORMAT.md §2); servers check keys from clients with it. */
export function isStorageKey(key: string): boolean {
  return KEY_PATTERN.test(key) && !key.split('/').some((s) => s === '.' || s === '..');
}

export function checkKey(key: string): string {
  if (!isStorageKey(key)) {
    throw new Error(`internal error: invalid storage key ${JSON.stringify(key)}`);
  }
  return key;
}

export function notFound(key: string): BunkerError {
  return new BunkerError('NOT_FOUND', `object ${key} is missing from the repository`, { object: key });
}

export function shortObject(key: string): BunkerError {
  return new BunkerError('TAMPERED', `object ${key} is shorter than the index says (truncated)`, { object: key });
}
