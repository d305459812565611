/**
 * Recovery point metadata, key `points/<point id>` (FORMAT.md §6.3): the commit record.
 * A metadata document (core/format/document.ts) whose body is described by PointBody.
 * Written last: a point is visible only once everything it references is stored.
 */
import { checkKdfParams, checkSalt, type KdfParams } from '../crypto/kdf.ts';
import { WRAPPED_KEY_BYTES } from '../crypto/keys.ts';
import { BunkerError, isBunkerError } from '../errors.ts';
import { fromBase64 } from '../format/bytes.ts';
import { parseDocument } from '../format/document.ts';

export const POINT_MAGIC = 'BNKPOINT';
export const POINT_VERSION = 1;

export function pointKey(pointId: string): string {
  return `points/${pointId}`;
}

export interface ObjectRef {
  readonly key: string;
  readonly sizeBytes: number;
}

export interface PointStats {
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
  /** Sum of file sizes in the point. */
  readonly bytes: number;
  readonly filesNew: number;
  readonly filesChanged: number;
  readonly filesUnchanged: number;
  readonly bytesRead: number;
  /** Bytes of packs, index, manifest and FSI this run added to the repository. */
  readonly bytesAdded: number;
  readonly chunksNew: number;
  readonly durationMs: number;
  /**
   * When the files of this point were read, at the latest (ms since the epoch): the run's start,
   * or for a copy the start of the run that read them. The next run trusts no mtime later than
   * 2 s before it (FORMAT.md §6.3). Absent from points written before it existed.
   */
  readonly startedAt?: number;
}

export interface PointEncryption {
  readonly kdf: KdfParams;
  /** base64 */
  readonly salt: string;
  /** base64, HKDF(H, "bunker verify") */
  readonly verifier: string;
  /** base64, M wrapped under the KEK */
  readonly master: string;
  /** base64, each run's DEK wrapped under the KEK, in the order of `runs` */
  readonly keys: readonly string[];
  /** KMS-encrypted H (issue: KMS); absent when KMS was not enabled. */
  readonly kms?: { readonly keyArn: string; readonly ciphertext: string; readonly context: Record<string, string> };
}

export interface PointBody {
  readonly id: string;
  /** The id of the repository config it was written under: binds the point to its config. */
  readonly repository: string;
  readonly series: string;
  readonly createdAt: string;
  readonly parent: string | null;
  readonly run: string;
  /** Runs whose index this point's chunks need; `run` is last. */
  readonly runs: readonly string[];
  readonly encryption: PointEncryption | null;
  readonly manifest: ObjectRef;
  readonly fsi: ObjectRef | null;
  readonly stats: PointStats;
}

export interface PointRecord {
  readonly body: PointBody;
  /** The decoded salt etc., only for encrypted points. */
  readonly salt?: Uint8Array;
  readonly verifier?: Uint8Array;
  readonly wrappedMaster?: Uint8Array;
  readonly wrappedKeys?: readonly Uint8Array[];
  readonly document: Awaited<ReturnType<typeof parseDocument>>;
}

const HEX64 = /^[0-9a-f]{64}$/;

function decodeBase64Field(value: unknown): Uint8Array | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  try {
    return fromBase64(value);
  } catch {
    return undefined;
  }
}

/**
 * Parses a point. Integrity (checksum) failures are TAMPERED; a point whose key material
 * (salt, KDF parameters, verifier, wrapped keys) is missing is CORRUPTED_POINT — never
 * reported as a wrong password.
 */
export async function parsePoint(bytes: Uint8Array, expectedId: string): Promise<PointRecord> {
  const objectName = pointKey(expectedId);
  const document = await parseDocument(bytes, POINT_MAGIC, POINT_VERSION, objectName);
  const b = document.body as Partial<PointBody>;
  const corrupted = (why: string): never => {
    throw new BunkerError('CORRUPTED_POINT', `recovery point ${expectedId.slice(0, 12)} is corrupted: ${why}`, { object: objectName });
  };
  if (b.id !== expectedId) {
    throw new BunkerError('TAMPERED', `${objectName} holds the metadata of another point (swapped object)`, { object: objectName });
  }
  if (typeof b.repository !== 'string' || !HEX64.test(b.repository)) corrupted('missing repository id');
  if (typeof b.series !== 'string' || typeof b.createdAt !== 'string' || typeof b.run !== 'string' || !HEX64.test(b.run)) corrupted('missing identity fields');
  if (!Array.isArray(b.runs) || b.runs.length === 0 || !b.runs.every((r) => typeof r === 'string' && HEX64.test(r)) || b.runs[b.runs.length - 1] !== b.run) corrupted('missing run list');
  if (b.parent !== null && (typeof b.parent !== 'string' || !HEX64.test(b.parent))) corrupted('bad parent id');
  const isRef = (ref: unknown): ref is ObjectRef =>
    typeof ref === 'object' && ref !== null && typeof (ref as ObjectRef).key === 'string' &&
    Number.isSafeInteger((ref as ObjectRef).sizeBytes) && (ref as ObjectRef).sizeBytes >= 0;
  if (!isRef(b.manifest)) corrupted('missing manifest reference');
  if (b.fsi !== null && !isRef(b.fsi)) corrupted('bad file-system index reference');
  if (typeof b.stats !== 'object' || b.stats === null) corrupted('missing statistics');
  if (!('encryption' in b)) corrupted('missing encryption metadata');
  if (b.encryption === null) {
    if (document.mac !== undefined) corrupted('unencrypted point carries a MAC');
    return { body: b as PointBody, document };
  }
  const enc = b.encryption as Partial<PointEncryption> | undefined;
  if (typeof enc !== 'object' || enc === null) return corrupted('missing encryption metadata');
  const salt = decodeBase64Field(enc.salt);
  if (salt === undefined) return corrupted('its salt is missing, so no password can open it');
  if (enc.kdf === undefined) corrupted('its key derivation parameters are missing');
  try {
    // Bounded before any use: a hostile point must not buy a 16 GiB Argon2 run (or a weak salt).
    checkSalt(salt);
    // Keep only the checked, known members: unknown ones must not propagate into later points.
    (enc as { kdf: KdfParams }).kdf = checkKdfParams(enc.kdf);
  } catch (error) {
    if (!isBunkerError(error, 'KDF_PARAMS_OUT_OF_RANGE')) throw error;
    throw new BunkerError('KDF_PARAMS_OUT_OF_RANGE', `${objectName}: ${error.message}`, { object: objectName });
  }
  const verifier = decodeBase64Field(enc.verifier);
  if (verifier === undefined || verifier.length !== 32) return corrupted('its password verifier is missing');
  const wrappedMaster = decodeBase64Field(enc.master);
  if (wrappedMaster === undefined || wrappedMaster.length !== WRAPPED_KEY_BYTES) return corrupted('its wrapped master key is missing');
  if (!Array.isArray(enc.keys) || enc.keys.length !== b.runs!.length) return corrupted('its key table is incomplete');
  const wrappedKeys = enc.keys.map((k) => decodeBase64Field(k));
  if (wrappedKeys.some((k) => k === undefined || k.length !== WRAPPED_KEY_BYTES)) corrupted('its key table is damaged');
  if (document.mac === undefined) corrupted('its MAC is missing');
  return { body: b as PointBody, document, salt, verifier, wrappedMaster, wrappedKeys: wrappedKeys as Uint8Array[] };
}
