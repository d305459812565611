/** The repository config object, key `config` (FORMAT.md §6.2). Written once by init. */
import { checkChunkerParams, type ChunkerParams, DEFAULT_CHUNKER_PARAMS } from '../chunker.ts';
import { BunkerError } from '../errors.ts';
import { randomId } from '../format/bytes.ts';
import { encodeDocument, parseDocument } from '../format/document.ts';

// FORMAT.md §6.2 (key: §2.1)
export const CONFIG_KEY = 'config';
export const CONFIG_MAGIC = 'BNKREPO1';
export const CONFIG_VERSION = 1;

/**
 * Chunk-id algorithms, never reused (FORMAT.md §5.2).
 * 1: HMAC-SHA-256 keyed by the chunk-id key (encrypted) / SHA-256 (unencrypted).
 * 2: BLAKE3 keyed by the chunk-id key (encrypted) / BLAKE3 (unencrypted).
 */
export type ChunkIdAlgorithm = 1 | 2;
export const DEFAULT_CHUNK_ID_ALGORITHM: ChunkIdAlgorithm = 1;
/** Pack files are closed once they reach this size (FORMAT.md §7). */
export const DEFAULT_PACK_TARGET_BYTES = 16 * 1024 * 1024;

export interface RepositoryConfig {
  readonly version: number;
  readonly id: string;
  readonly createdAt: string;
  readonly chunker: ChunkerParams;
  readonly chunkIdAlgorithm: ChunkIdAlgorithm;
  readonly packTargetBytes: number;
}

export function newRepositoryConfig(options: Partial<Pick<RepositoryConfig, 'chunker' | 'chunkIdAlgorithm' | 'packTargetBytes'>> = {}): RepositoryConfig {
  return {
    version: CONFIG_VERSION,
    id: randomId(),
    createdAt: new Date().toISOString(),
    chunker: checkChunkerParams(options.chunker ?? DEFAULT_CHUNKER_PARAMS),
    chunkIdAlgorithm: options.chunkIdAlgorithm ?? DEFAULT_CHUNK_ID_ALGORITHM,
    packTargetBytes: options.packTargetBytes ?? DEFAULT_PACK_TARGET_BYTES,
  };
}

export function encodeConfig(config: RepositoryConfig): Promise<Uint8Array> {
  return encodeDocument(CONFIG_MAGIC, CONFIG_VERSION, config);
}

export async function parseConfig(bytes: Uint8Array): Promise<RepositoryConfig> {
  const { version, body } = await parseDocument(bytes, CONFIG_MAGIC, CONFIG_VERSION, CONFIG_KEY);
  const b = body as Partial<RepositoryConfig>;
  try {
    if (typeof b.id !== 'string' || !/^[0-9a-f]{64}$/.test(b.id)) throw new Error('id');
    if (b.chunkIdAlgorithm !== 1 && b.chunkIdAlgorithm !== 2) throw new Error('chunkIdAlgorithm');
    if (!Number.isSafeInteger(b.packTargetBytes) || b.packTargetBytes! < 1024 || b.packTargetBytes! > 1 << 30) throw new Error('packTargetBytes');
    if (typeof b.createdAt !== 'string') throw new Error('createdAt');
    return {
      version,
      id: b.id,
      createdAt: b.createdAt,
      chunker: checkChunkerParams(b.chunker),
      chunkIdAlgorithm: b.chunkIdAlgorithm,
      packTargetBytes: b.packTargetBytes!,
    };
  } catch (error) {
    const field = error instanceof Error ? error.message : 'field';
    throw new BunkerError('TAMPERED', `repository config is damaged (invalid ${field.startsWith('chunker') ? 'chunker' : field})`, { object: CONFIG_KEY });
  }
}
