/**
 * Password rotation in the key hierarchy (DESIGN.md key table, FORMAT.md §3): a series backed
 * up with a named password, then rotated. The next point takes the new salt and wraps the
 * same M and every DEK under the new KEK, so dedup survives and both points restore without
 * a prompt from the catalog; with an empty catalog each needs its own password.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backup, BunkerError, PasswordKeyResolver, type Repository, restore } from '../core/mod.ts';
import { CatalogKeyResolver } from '../core/catalog/catalog-key-resolver.ts';
import { type Catalog, derivePasswordVersion } from '../core/catalog/catalog.ts';
import { derivePasswordHash } from '../core/crypto/kdf.ts';
import { derivePasswordKeys, unwrapKey } from '../core/crypto/keys.ts';
import { openCatalog } from '../core/host/catalog-home.ts';
import { fixedResolver, memoryRepo, pseudoRandomBytes, SMALL_CHUNKER, tempDir, TEST_KDF } from './helpers.ts';
import { MemorySink, memorySource, type TreeEntry } from './bad-input-kit.ts';

const BIG = pseudoRandomBytes(60_000, 11);
const FIRST: TreeEntry[] = [{ path: 'd', type: 'dir' }, { path: 'd/big', type: 'file', data: BIG }, { path: 'd/note', type: 'file', data: new TextEncoder().encode('one') }];
const SECOND: TreeEntry[] = [...FIRST.slice(0, 2), { path: 'd/note', type: 'file', data: new TextEncoder().encode('two') }, { path: 'd/same-as-big', type: 'file', data: BIG }];

/** Catalog first, then a prompt that fails the test: "no prompt" is checked, not assumed. */
function catalogOnly(catalog: Catalog): PasswordKeyResolver {
  return new PasswordKeyResolver(async () => assert.unreachable('a password was asked for') as never, [new CatalogKeyResolver(async () => catalog)]);
}

async function named(catalog: Catalog, name: string) {
  const v = await catalog.currentPassword(name, 'backup');
  return { hash: v.hash, salt: v.salt, kdf: v.kdf, source: 'catalog' as const };
}

async function restored(repo: Repository, pointId: string, resolver: PasswordKeyResolver): Promise<Map<string, Uint8Array>> {
  const point = await repo.unlock(await repo.readPoint(pointId), resolver);
  const sink = new MemorySink();
  await restore(repo, point, sink);
  return sink.files;
}

async function expectCode(code: string, run: () => unknown): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof BunkerError)) throw error;
    assert.is(error.code, code, error.message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('rotation: new salt, same M (dedup survives), both points restore from the catalog without a prompt', async () => {
  await using dir = await tempDir();
  const catalog = (await openCatalog(dir.path, { create: true }))!;
  await catalog.createPassword({ name: 'main', purpose: 'backup', version: await derivePasswordVersion('old password', TEST_KDF) });
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const options = { series: 's', encrypt: true, compressionLevel: 3 } as const;

  const first = await backup(repo, memorySource(FIRST), { ...options, resolver: catalogOnly(catalog), passwordHash: await named(catalog, 'main') });
  assert.is(first.keySource, 'catalog');
  await catalog.rotatePassword('main', 'new password');
  const second = await backup(repo, memorySource(SECOND), { ...options, resolver: catalogOnly(catalog), passwordHash: await named(catalog, 'main') });
  assert.is(second.parentId, first.pointId);
  assert.is(second.keySource, 'catalog');
  assert.is(second.stats.chunksNew, 1, 'only the changed small file is new: same-as-big deduplicates against the first point');

  const p1 = await repo.readPoint(first.pointId);
  const p2 = await repo.readPoint(second.pointId);
  const v1 = (await catalog.exportSnapshot()).passwords[0]!.versions;
  assert.equal(p1.salt, v1[0]!.salt, 'the first point has the first version\'s salt');
  assert.equal(p2.salt, v1[1]!.salt, 'the point after the rotation has the new salt');
  assert.equal(p2.body.runs, [p1.body.run, p2.body.run]);
  // The same M, wrapped under each point's own KEK.
  const kek1 = (await derivePasswordKeys(await derivePasswordHash('old password', p1.salt!, TEST_KDF))).kek;
  const kek2 = (await derivePasswordKeys(await derivePasswordHash('new password', p2.salt!, TEST_KDF))).kek;
  const m1 = await unwrapKey(kek1, 'master', p1.body.id, p1.body.run, p1.wrappedMaster!);
  const m2 = await unwrapKey(kek2, 'master', p2.body.id, p2.body.run, p2.wrappedMaster!);
  assert.ok(m1 !== undefined && m2 !== undefined);
  assert.equal(m2, m1);
  assert.is(await unwrapKey(kek1, 'master', p2.body.id, p2.body.run, p2.wrappedMaster!), undefined, 'the old password does not open the new point');

  const files1 = await restored(repo, first.pointId, catalogOnly(catalog));
  assert.equal([...files1.keys()].sort(), ['d/big', 'd/note']);
  assert.equal(files1.get('d/note'), new TextEncoder().encode('one'));
  const files2 = await restored(repo, second.pointId, catalogOnly(catalog));
  assert.equal(files2.get('d/same-as-big'), BIG);
  assert.equal(files2.get('d/note'), new TextEncoder().encode('two'));

  // The next point keeps the new password (its parent already has its salt).
  const third = await backup(repo, memorySource(SECOND), { ...options, resolver: catalogOnly(catalog), passwordHash: await named(catalog, 'main') });
  assert.equal((await repo.readPoint(third.pointId)).salt, p2.salt);

  // With an empty catalog, each point needs its own password.
  await restored(repo, first.pointId, fixedResolver('old password'));
  await expectCode('WRONG_PASSWORD', () => restored(repo, first.pointId, fixedResolver('new password')));
  await restored(repo, second.pointId, fixedResolver('new password'));
  await expectCode('WRONG_PASSWORD', () => restored(repo, second.pointId, fixedResolver('old password')));
  await expectCode('PASSWORD_REQUIRED', () => restored(repo, second.pointId, fixedResolver(undefined)));
  catalog.close();
});

test('a backup that falls back past a damaged point keeps the series\' current password, not the older point\'s', async () => {
  await using dir = await tempDir();
  const catalog = (await openCatalog(dir.path, { create: true }))!;
  await catalog.createPassword({ name: 'main', purpose: 'backup', version: await derivePasswordVersion('old password', TEST_KDF) });
  const { repo, storage } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const options = { series: 's', encrypt: true, compressionLevel: 3 } as const;
  const first = await backup(repo, memorySource(FIRST), { ...options, resolver: catalogOnly(catalog), passwordHash: await named(catalog, 'main') });
  await catalog.rotatePassword('main', 'new password');
  const second = await backup(repo, memorySource(SECOND), { ...options, resolver: catalogOnly(catalog), passwordHash: await named(catalog, 'main') });
  const manifest = storage.objects.get(`trees/${second.pointId}`)!.slice();
  manifest[40] = manifest[40]! ^ 1;
  storage.objects.set(`trees/${second.pointId}`, manifest);
  // No password given: the catalog opens both points, and the run falls back to the first.
  const warnings: string[] = [];
  const third = await backup(repo, memorySource(SECOND), { ...options, resolver: catalogOnly(catalog), onWarning: (m) => void warnings.push(m) });
  assert.is(third.parentId, first.pointId);
  assert.is(warnings.length, 1);
  assert.equal((await repo.readPoint(third.pointId)).salt, (await repo.readPoint(second.pointId)).salt, 'the new password\'s salt');
  assert.equal((await restored(repo, third.pointId, fixedResolver('new password'))).get('d/note'), new TextEncoder().encode('two'));
  await expectCode('WRONG_PASSWORD', () => restored(repo, third.pointId, fixedResolver('old password')));
  catalog.close();
});

test('a series started with a typed password continues under a named one: the parent is unlocked by prompt once, then re-keyed', async () => {
  await using dir = await tempDir();
  const catalog = (await openCatalog(dir.path, { create: true }))!;
  await catalog.createPassword({ name: 'main', purpose: 'backup', version: await derivePasswordVersion('named', TEST_KDF) });
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  const first = await backup(repo, memorySource(FIRST), { series: 's', encrypt: true, compressionLevel: 3, resolver: fixedResolver('typed'), kdf: TEST_KDF });
  let prompts = 0;
  const resolver = new PasswordKeyResolver(async () => {
    prompts++;
    return 'typed';
  }, [new CatalogKeyResolver(async () => catalog)]);
  const second = await backup(repo, memorySource(SECOND), { series: 's', encrypt: true, compressionLevel: 3, resolver, passwordHash: await named(catalog, 'main') });
  assert.is(prompts, 1, 'the parent\'s password, once');
  assert.is(second.stats.chunksNew, 1);
  assert.equal((await restored(repo, second.pointId, catalogOnly(catalog))).get('d/same-as-big'), BIG);
  await restored(repo, first.pointId, fixedResolver('typed'));
  catalog.close();
});

test('a catalog hash that does not match the point (a stale or foreign one) falls through to the password', async () => {
  await using dir = await tempDir();
  const catalog = (await openCatalog(dir.path, { create: true }))!;
  const version = await derivePasswordVersion('catalog password', TEST_KDF);
  await catalog.createPassword({ name: 'main', purpose: 'backup', version });
  const { repo } = await memoryRepo({ chunker: SMALL_CHUNKER });
  // A point with the catalog's salt but made from another password: same salt, another H.
  const made = await backup(repo, memorySource(FIRST), {
    series: 's', encrypt: true, compressionLevel: 3,
    passwordHash: { hash: await derivePasswordHash('real password', version.salt, TEST_KDF), salt: version.salt, kdf: TEST_KDF, source: 'password' },
  });
  let prompts = 0;
  const resolver = new PasswordKeyResolver(async () => {
    prompts++;
    return 'real password';
  }, [new CatalogKeyResolver(async () => catalog)]);
  const point = await repo.unlock(await repo.readPoint(made.pointId), resolver);
  assert.is(point.keySource, 'password');
  assert.is(prompts, 1);
  catalog.close();
});

test.run();
