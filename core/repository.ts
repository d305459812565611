/**
 * A repository: its config, its recovery points, and unlocking a point's keys.
 * Everything here reads; writing a point is core/backup.ts.
 */
import { Chunker, gearTable } from './chunker.ts';
import { chunkIdFunction, type ChunkIdFunction } from './chunk-id.ts';
import { aesGcmCipher, checksumCipher, type ObjectCipher } from './crypto/cipher.ts';
import { deriveSeriesKeys, type PasswordKeys, publicGearSeed, unwrapKey } from './crypto/keys.ts';
import { openStream } from './crypto/stream.ts';
import { BunkerError, isBunkerError } from './errors.ts';
import { type FsiEntry, parseFsi, scanFsi } from './fsi.ts';
import type { KeyResolver, KeySource } from './key-resolver.ts';
import { type Manifest, type ManifestContent, type ManifestEntry, type ManifestHeader, manifestEntries, parseManifest, scanManifest } from './manifest.ts';
import { CONFIG_KEY, encodeConfig, newRepositoryConfig, parseConfig, type RepositoryConfig } from './repo/config.ts';
import { verifyDocumentMac } from './format/document.ts';
import { parsePoint, pointKey, type PointRecord } from './repo/recovery-point.ts';
import { indexKey, parseRunIndex } from './repo/run-index.ts';
import { ChunkIndex } from './repo/chunk-index.ts';
import type { Storage } from './storage/storage.ts';
import { ZstdCodec } from '../wasm/mod.ts';
import { type ChunkCodecPool, inlineCodecPool } from './codec-pool.ts';
import { Limiter } from './limiter.ts';
import { MAX_METADATA_CONTENT_BYTES } from './metadata-text.ts';
import type { RunIndexCache } from './repo/run-index-cache.ts';

/** Run indexes fetched at once when a point's index is read. */
const INDEX_READS_AT_ONCE = 8;

export interface UnlockedPoint {
  readonly record: PointRecord;
  readonly id: string;
  /** The run's own cipher (manifest, FSI, its index). */
  readonly cipher: ObjectCipher;
  /** Cipher for each run in the key table. */
  readonly runCiphers: ReadonlyMap<string, ObjectCipher>;
  /** Series secrets, for a backup continuing the series. */
  readonly series: SeriesContext;
  readonly keySource: KeySource | 'none';
  readonly passwordKeys?: PasswordKeys;
  readonly passwordHash?: Uint8Array;
  readonly masterSecret?: Uint8Array;
  readonly dataKeys: ReadonlyMap<string, Uint8Array>;
}

/** A point's manifest, to be read entry by entry as often as needed (Repository.openManifest). */
export interface ManifestReader {
  /** The size of its text, decompressed. */
  readonly bytes: number;
  /** A new scan from the first entry; its return value is the header. Return it to stop early. */
  entries(): Generator<ManifestEntry, ManifestHeader, undefined>;
}

export interface SeriesContext {
  readonly chunker: Chunker;
  readonly chunkId: ChunkIdFunction;
  /** The raw chunk-id key, for sealers on other threads; absent for unencrypted series. */
  readonly chunkIdKey?: Uint8Array;
}

export async function seriesContext(config: RepositoryConfig, masterSecret: Uint8Array | undefined): Promise<SeriesContext> {
  if (masterSecret === undefined) {
    return { chunker: new Chunker(config.chunker, gearTable(await publicGearSeed())), chunkId: await chunkIdFunction(config.chunkIdAlgorithm, undefined) };
  }
  const keys = await deriveSeriesKeys(masterSecret);
  return { chunker: new Chunker(config.chunker, gearTable(keys.gearSeed)), chunkId: await chunkIdFunction(config.chunkIdAlgorithm, keys.chunkIdKey), chunkIdKey: keys.chunkIdKey };
}

/** One zstd frame per call, on the calling thread: how metadata (index, manifest, FSI) is (de)compressed. */
export interface MetadataZstd {
  compress(data: Uint8Array, level: number): Uint8Array;
  /** The frame must hold exactly `expectedBytes`; throws otherwise. */
  decompress(frame: Uint8Array, expectedBytes: number): Uint8Array;
  /**
   * A frame compressed as its content arrives, where the host's zstd can stream: a backup then
   * holds its manifest compressed, not whole (core/tree-writer.ts). The WASM build cannot.
   */
  frameWriter?(level: number): ZstdFrameWriter;
  /**
   * The frame's content in pieces as it is decoded, each valid only until the next is taken;
   * throws as decompress does, at the piece where the frame proves wrong. A reader that
   * parses as it goes (a manifest) then never holds the content whole. Absent on the WASM build.
   */
  decompressPieces?(frame: Uint8Array, expectedBytes: number): Iterable<Uint8Array>;
}

/** One zstd frame, fed in pieces. */
export interface ZstdFrameWriter {
  /** Compresses `data` into the frame; the caller may reuse its buffer afterwards. */
  write(data: Uint8Array): void;
  /** Ends the frame: one buffer, whose header declares the content size (FORMAT.md §4.3). */
  end(): Uint8Array;
  /** Gives up the frame and its context (a failed backup); safe to call more than once. */
  close(): void;
}

export class Repository {
  readonly storage: Storage;
  readonly config: RepositoryConfig;
  readonly zstd = new ZstdCodec();
  /**
   * Metadata's zstd: the WASM build unless a host swaps in a native one. WASM memory only
   * grows, so a 40 MB manifest read through it stays in this thread's memory for good.
   */
  metadataZstd: MetadataZstd = this.zstd;
  /** Where chunks are (de)compressed; hosts swap in a worker pool (core/host/worker-codec-pool.ts). */
  codecs: ChunkCodecPool = inlineCodecPool(this.zstd);

  private constructor(storage: Storage, config: RepositoryConfig) {
    this.storage = storage;
    this.config = config;
  }

  /** Creates a repository; ALREADY_EXISTS if one is there. */
  static async init(storage: Storage, options: Parameters<typeof newRepositoryConfig>[0] = {}): Promise<Repository> {
    if (await storage.has(CONFIG_KEY)) throw new BunkerError('ALREADY_EXISTS', `a repository already exists at ${storage.location}`);
    // A repository whose config went missing still holds its points and packs: a new config
    // there (another id, other keys for new series) would make every old point unreadable.
    for (const prefix of ['points/', 'trees/', 'index/', 'packs/', 'fsi/']) {
      if ((await storage.list(prefix)).length > 0) {
        throw new BunkerError('NOT_FOUND', `${storage.location} holds a repository's objects (${prefix}…) but no config: it was deleted or moved. ` +
          'Put it back (from a copy of the repository); a new repository here would not read what is stored', { object: CONFIG_KEY });
      }
    }
    const config = newRepositoryConfig(options);
    if (!(await storage.put(CONFIG_KEY, await encodeConfig(config)))) {
      throw new BunkerError('ALREADY_EXISTS', `a repository already exists at ${storage.location}`);
    }
    return new Repository(storage, config);
  }

  static async open(storage: Storage): Promise<Repository> {
    let bytes: Uint8Array;
    try {
      bytes = await storage.get(CONFIG_KEY);
    } catch (error) {
      if (isBunkerError(error, 'NOT_FOUND')) {
        throw new BunkerError('NOT_FOUND', `no repository at ${storage.location} (run "bunker init" or back up to create one)`, { object: CONFIG_KEY });
      }
      throw error;
    }
    return new Repository(storage, await parseConfig(bytes));
  }

  static async exists(storage: Storage): Promise<boolean> {
    return storage.has(CONFIG_KEY);
  }

  async pointIds(): Promise<string[]> {
    return (await this.storage.list('points/')).map((key) => key.slice('points/'.length)).filter((id) => /^[0-9a-f]{64}$/.test(id));
  }

  async readPoint(id: string): Promise<PointRecord> {
    return parsePoint(await this.storage.get(pointKey(id)), id);
  }

  /** All points, oldest first. A damaged point throws; use `listPointsTolerant` to keep going. */
  async listPoints(series?: string): Promise<PointRecord[]> {
    const points = await Promise.all((await this.pointIds()).map((id) => this.readPoint(id)));
    const selected = points.filter((p) => series === undefined || p.body.series === series).sort(byTime);
    // A series never mixes encrypted and unencrypted points (backup refuses to switch), so an
    // unencrypted point inside an encrypted series is a forgery by someone without the key:
    // it must never become "latest" or the parent of the next run.
    if (series !== undefined && selected.some((p) => p.body.encryption !== null)) return selected.filter((p) => p.body.encryption !== null);
    return selected;
  }

  async listPointsTolerant(): Promise<{ points: PointRecord[]; errors: { id: string; error: BunkerError }[] }> {
    const points: PointRecord[] = [];
    const errors: { id: string; error: BunkerError }[] = [];
    for (const id of await this.pointIds()) {
      try {
        points.push(await this.readPoint(id));
      } catch (error) {
        if (!(error instanceof BunkerError)) throw error;
        errors.push({ id, error });
      }
    }
    return { points: points.sort(byTime), errors };
  }

  /** POINT is a full id, a unique prefix (4+ hex), or "latest" (of `series` when given, else of all points). */
  async resolvePoint(ref: string, series?: string): Promise<PointRecord> {
    if (ref === 'latest') {
      const points = await this.listPoints(series);
      const names = [...new Set(points.map((p) => p.body.series))];
      // Across several backups "latest" would let any newly appearing series (even one forged
      // by whoever can write the storage) take over: make the user say which.
      if (series === undefined && names.length > 1) {
        throw new BunkerError('AMBIGUOUS', `"latest" is ambiguous: the repository holds backups ${names.map((n) => JSON.stringify(n)).join(', ')}; give --name`);
      }
      const last = points[points.length - 1];
      if (!last) throw new BunkerError('NOT_FOUND', series === undefined ? 'the repository has no recovery points' : `no recovery points named "${series}"`);
      return last;
    }
    if (!/^[0-9a-f]{4,64}$/.test(ref)) throw new BunkerError('USAGE', `"${ref}" is not a point id, id prefix (4+ hex digits) or "latest"`);
    const matches = (await this.pointIds()).filter((id) => id.startsWith(ref));
    if (matches.length === 0) {
      // A full id names the object that should be there (deleted points are reported by key).
      throw new BunkerError('NOT_FOUND', `no recovery point ${ref}`, ref.length === 64 ? { object: pointKey(ref) } : {});
    }
    if (matches.length > 1) throw new BunkerError('AMBIGUOUS', `point id prefix ${ref} matches ${matches.length} points; give more digits`);
    return this.readPoint(matches[0]!);
  }

  /** Finds the keys of a point: verifier (WRONG_PASSWORD), MAC and key table (TAMPERED). */
  async unlock(record: PointRecord, resolver: KeyResolver | undefined): Promise<UnlockedPoint> {
    const body = record.body;
    const object = pointKey(body.id);
    // Checked once the point is authenticated (below, for encrypted points), so a forged
    // repository id in a point cannot make us blame the config.
    const checkRepositoryId = (): void => {
      if (body.repository !== this.config.id) {
        throw new BunkerError('TAMPERED', `config is not this repository's: ${object} was written to repository ${body.repository.slice(0, 12)}, ` +
          `the config is of repository ${this.config.id.slice(0, 12)} (config replaced, or point copied from another repository)`, { object: CONFIG_KEY });
      }
    };
    if (body.encryption === null) {
      checkRepositoryId();
      const runCiphers = new Map(body.runs.map((run) => [run, checksumCipher] as const));
      return { record, id: body.id, cipher: checksumCipher, runCiphers, series: await seriesContext(this.config, undefined), keySource: 'none', dataKeys: new Map() };
    }
    if (resolver === undefined) throw new BunkerError('PASSWORD_REQUIRED', `backup "${body.series}" is encrypted: a password is needed`);
    const resolved = await resolver.resolve({
      series: body.series, pointId: body.id, salt: record.salt!, kdf: body.encryption.kdf, verifier: record.verifier!,
      repository: this.config.id, ...(body.encryption.kms === undefined ? {} : { kms: body.encryption.kms }),
    });
    const tampered = (what: string): never => {
      throw new BunkerError('TAMPERED', `${object}: ${what} failed authentication`, { object });
    };
    if (!(await verifyDocumentMac(record.document, resolved.keys.pointMacKey))) tampered('the metadata');
    checkRepositoryId();
    const master = await unwrapKey(resolved.keys.kek, 'master', body.id, body.run, record.wrappedMaster!);
    if (master === undefined) return tampered('the master key');
    const dataKeys = new Map<string, Uint8Array>();
    const runCiphers = new Map<string, ObjectCipher>();
    for (let i = 0; i < body.runs.length; i++) {
      const run = body.runs[i]!;
      const dek = await unwrapKey(resolved.keys.kek, 'dek', body.id, run, record.wrappedKeys![i]!);
      if (dek === undefined) return tampered(`the key of run ${run.slice(0, 12)}`);
      dataKeys.set(run, dek);
      runCiphers.set(run, await aesGcmCipher(dek));
    }
    return {
      record,
      id: body.id,
      cipher: runCiphers.get(body.run)!,
      runCiphers,
      series: await seriesContext(this.config, master),
      keySource: resolved.source,
      passwordKeys: resolved.keys,
      passwordHash: resolved.hash,
      masterSecret: master,
      dataKeys,
    };
  }

  /** The content size a zstd frame declares, within what a reader accepts; TAMPERED otherwise. */
  private compressedContentSize(frame: Uint8Array, key: string): number {
    const size = this.zstd.frameContentSize(frame);
    if (size < 0 || size > MAX_METADATA_CONTENT_BYTES) throw new BunkerError('TAMPERED', `${key} has an invalid compressed body`, { object: key });
    return size;
  }

  /** Reads a STREAM object: authenticated, then zstd-decoded when its codec says so. */
  async readStreamObject(cipher: ObjectCipher, kind: 'manifest' | 'fsi' | 'index', objectId: string, key: string): Promise<Uint8Array> {
    const { plaintext, codec } = await openStream(cipher, kind, objectId, await this.storage.get(key), key);
    if (codec === 0) return plaintext;
    const size = this.compressedContentSize(plaintext, key);
    try {
      return this.metadataZstd.decompress(plaintext, size);
    } catch {
      throw new BunkerError('TAMPERED', `${key} has an invalid compressed body`, { object: key });
    }
  }

  /**
   * A STREAM object's content in pieces where the metadata zstd decodes that way (each valid
   * until the next), else whole: for readers that parse as they go.
   */
  private async readStreamPieces(cipher: ObjectCipher, kind: 'manifest', objectId: string, key: string): Promise<{ content: ManifestContent; bytes: number }> {
    const zstd = this.metadataZstd;
    if (zstd.decompressPieces === undefined) {
      const whole = await this.readStreamObject(cipher, kind, objectId, key);
      return { content: whole, bytes: whole.length };
    }
    const { plaintext, codec } = await openStream(cipher, kind, objectId, await this.storage.get(key), key);
    if (codec === 0) return { content: plaintext, bytes: plaintext.length };
    const size = this.compressedContentSize(plaintext, key);
    // Each iteration decodes the frame afresh, so a reader can go over the content twice.
    return { bytes: size, content: {
      *[Symbol.iterator]() {
        try {
          yield* zstd.decompressPieces!(plaintext, size);
        } catch {
          throw new BunkerError('TAMPERED', `${key} has an invalid compressed body`, { object: key });
        }
      },
    } };
  }

  // Read whole: for readers that keep every entry anyway (check, a copy's source), where reading
  // in pieces measured no lower peak (bench/README.md, "Tuning"). A restore uses openManifest.
  async readManifest(point: UnlockedPoint): Promise<Manifest> {
    const key = this.manifestKey(point);
    return parseManifest(await this.readStreamObject(point.cipher, 'manifest', point.id, key), key);
  }

  /** The manifest's entries one by one (see scanManifest), none of them kept here. */
  async scanManifest(point: UnlockedPoint, visit: (entry: ManifestEntry) => void): Promise<ManifestHeader> {
    const key = this.manifestKey(point);
    return scanManifest((await this.readStreamPieces(point.cipher, 'manifest', point.id, key)).content, key, visit);
  }

  /**
   * The manifest, authenticated and held compressed, for readers that go over its entries more
   * than once without keeping them (a restore plans, then writes): each `entries()` decodes and
   * checks it again, in pieces where the host's zstd can.
   */
  async openManifest(point: UnlockedPoint): Promise<ManifestReader> {
    const key = this.manifestKey(point);
    const { content, bytes } = await this.readStreamPieces(point.cipher, 'manifest', point.id, key);
    let scannedWhole = false;
    return {
      bytes,
      *entries() {
        const header = yield* manifestEntries(content, key, scannedWhole);
        scannedWhole = true;
        return header;
      },
    };
  }

  private manifestKey(point: UnlockedPoint): string {
    const key = point.record.body.manifest.key;
    if (key !== `trees/${point.id}`) throw new BunkerError('TAMPERED', `${pointKey(point.id)} references a foreign manifest`, { object: pointKey(point.id) });
    return key;
  }

  async readFsi(point: UnlockedPoint): Promise<FsiEntry[] | undefined> {
    const key = this.fsiKey(point);
    if (key === undefined) return undefined;
    return parseFsi(await this.readStreamObject(point.cipher, 'fsi', point.id, key), key);
  }

  /** Reads and checks the point's FSI, if it has one, keeping none of its entries. */
  async checkFsi(point: UnlockedPoint): Promise<void> {
    const key = this.fsiKey(point);
    if (key !== undefined) scanFsi(await this.readStreamObject(point.cipher, 'fsi', point.id, key), key, () => {});
  }

  private fsiKey(point: UnlockedPoint): string | undefined {
    const ref = point.record.body.fsi;
    if (ref === null) return undefined;
    const key = `fsi/${point.id}`;
    if (ref.key !== key) throw new BunkerError('TAMPERED', `${pointKey(point.id)} references a foreign FSI`, { object: pointKey(point.id) });
    return key;
  }

  /** The chunk index of every run in the point's key table. */
  /**
   * The point's chunk index: the union of its runs' indexes, a later run's entry winning.
   * `cache`, when given, keeps each run's parsed entries (or its failure) across calls, so that
   * reading several points of a series (check) fetches and parses each run once.
   */
  async readIndex(point: UnlockedPoint, cache?: RunIndexCache): Promise<ChunkIndex> {
    // A series' runs add up (one index per backup): they are fetched a few at once, as a cold
    // read each costs a disk or network round trip, and parsed in order.
    const limiter = new Limiter(INDEX_READS_AT_ONCE);
    const runIds = point.record.body.runs;
    const fetch = (run: string) => limiter.run(() => this.readStreamObject(point.runCiphers.get(run)!, 'index', run, indexKey(run)));
    const index = new ChunkIndex();
    if (cache === undefined) {
      const reads = runIds.map(fetch);
      for (const read of reads) read.catch(() => undefined); // surfaced in order below
      for (const [i, run] of runIds.entries()) parseRunIndex(await reads[i]!, run, index);
      return index;
    }
    const parsed = runIds.map((run) => {
      const read = async () => {
        const into = new ChunkIndex();
        parseRunIndex(await fetch(run), run, into);
        return into;
      };
      // Entries are shared only between points that open the run with the same key.
      const key = point.dataKeys.get(run);
      if (point.keySource !== 'none' && key === undefined) {
        const own = read();
        own.catch(() => undefined); // surfaced in order below
        return own;
      }
      return cache.entries(run, key, read);
    });
    for (const entries of parsed) index.merge(await entries);
    return index;
  }
}

function byTime(a: PointRecord, b: PointRecord): number {
  return a.body.createdAt < b.body.createdAt ? -1 : a.body.createdAt > b.body.createdAt ? 1 : a.body.id < b.body.id ? -1 : 1;
}
