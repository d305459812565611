/**
 * bunker's public API: what the CLI, the server and edge code use. Portable: Web-standard
 * APIs only. Host pieces (directory storage, file-system source and restore sink) live in
 * core/host/ and are imported from there by runtimes that have a file system.
 */
export { BunkerError, ERROR_CODES, type ErrorCode, isBunkerError, throwIfCancelled } from './errors.ts';
export { Repository, type UnlockedPoint } from './repository.ts';
export { backup, type BackupOptions, type BackupProgress, type BackupResult } from './backup.ts';
export { dumpFile, openFile, restore, type RestoreOptions, type RestoreProgress, type RestoreResult, type RestoreSink } from './restore.ts';
export { checkRepository, type CheckReport } from './check.ts';
export { copyPoint, type CopyOptions, type CopyResult } from './copy.ts';
export { pointSource } from './point-source.ts';
export { findFiles, type FindMatch, listDirectory, pointListing } from './browse.ts';
export { type KeyResolver, type KeySource, PasswordKeyResolver, type PasswordPrompt } from './key-resolver.ts';
export { type Argon2id, DEFAULT_KDF_PARAMS, type KdfParams, useArgon2id, wasmArgon2id } from './crypto/kdf.ts';
export { Catalog, derivePasswordVersion, type FoundPasswordHash, type ImportSummary, type MasterKeyStore, type PasswordUsage } from './catalog/catalog.ts';
export { CatalogKeyResolver } from './catalog/catalog-key-resolver.ts';
export type { KmsClient, KmsClientFactory, KmsKeyDescription } from './kms/kms-client.ts';
export { KmsError, type KmsFailureReason } from './kms/kms-errors.ts';
export { catalogKmsContext, checkKmsKey, type PointKms, wrapCatalogPasswordHash, pointKmsContext, unwrapPasswordHash, wrapPasswordHash } from './kms/kms-wrap.ts';
export { type KmsFailure, KmsKeyResolver, type KmsKeyResolverOptions } from './kms/kms-key-resolver.ts';
export type { CatalogJob, CatalogPoint, CatalogSnapshot, PasswordInfo, PasswordPurpose, PasswordVersion } from './catalog/records.ts';
export type { SqlDatabase } from './catalog/sql.ts';
export { type BundleContent, encodeSnapshot, parseSnapshot } from './catalog/snapshot.ts';
export { type BundleHeader, type BundleKey, openBundle, parseBundleHeader, sealBundle } from './bundle.ts';
export { DEFAULT_ZSTD_LEVEL, parseCompression } from './compression.ts';
export { type FileReader, type Source, type SourceEntry, bytesReader, iterableReader, streamReader } from './source.ts';
export type { Storage } from './storage/storage.ts';
export { MemoryStorage } from './storage/memory.ts';
export { HttpStorage, type HttpStorageOptions } from './storage/http-storage.ts';
export type { ManifestEntry } from './manifest.ts';
export type { FsiEntry } from './fsi.ts';
export type { PointRecord, PointStats } from './repo/recovery-point.ts';
export { initWasm } from '../wasm/mod.ts';
