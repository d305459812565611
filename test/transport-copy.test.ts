/**
 * Backup copy between two transporters (issue 6): a client bunker and a `bunker serve` in
 * another process, each with its own BUNKER_HOME, on 127.0.0.1. A point is copied to the
 * server (encrypted here, under another password), back from it, and to the server with the
 * encryption done there (its named password); every copy restores byte for byte, and the
 * server's repositories never hold the source's plaintext or file names.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pseudoRandomBytes, runCli, tempDir, TEST_KDF_FLAG } from './helpers.ts';
import { serveProcess } from './server-kit.ts';
import { snapshotTree, writeTree } from './tree.ts';

const MARKER = 'qz-copy-marker-81d4e2';

async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    if ((await readFile(path)).includes(needle)) found.push(path);
  }
  return found;
}

test('copy in each direction between a client and a bunker serve, and a copy encrypted on the target', async () => {
  await using dir = await tempDir('bunker-tcopy-');
  const serverHome = join(dir.path, 'server-home');
  const clientHome = join(dir.path, 'client-home');
  const src = join(dir.path, 'src');
  await writeTree(src, {
    [`notes-${MARKER}.txt`]: `${MARKER} line\n`.repeat(4000),
    'data/random.bin': pseudoRandomBytes(400_000, 31),
    'data/link': { link: `../notes-${MARKER}.txt` },
    'data/empty': new Uint8Array(0),
  });
  const pw = async (name: string, text: string) => {
    const path = join(dir.path, name);
    await writeFile(path, text, { mode: 0o600 });
    return path;
  };
  const p1 = await pw('p1', 'client repository password');
  const p2 = await pw('p2', 'copy on the server password');
  const p3 = await pw('p3', 'copy back home password');
  const vaultFile = await pw('vault', 'the server vault password');

  // The server: a token and a named password in its own home.
  const token = await runCli(['token', 'create', 'client', '--scope', 'backup'], { env: { BUNKER_HOME: serverHome } });
  assert.is(token.code, 0, token.stderr);
  const vault = await runCli(['password', 'create', 'vault', '--password-file', vaultFile, '--kdf', TEST_KDF_FLAG], { env: { BUNKER_HOME: serverHome } });
  assert.is(vault.code, 0, vault.stderr);
  await using server = await serveProcess(serverHome);
  const env = { BUNKER_HOME: clientHome, BUNKER_TOKEN: token.stdout.trim(), BUNKER_WORKERS: '1' };

  const r1 = join(dir.path, 'r1');
  const made = await runCli(['backup', src, '--repo', r1, '--password-file', p1, '--kdf', TEST_KDF_FLAG, '--json'], { env });
  assert.is(made.code, 0, made.stderr);
  const original = await snapshotTree(src);
  const restoresExactly = async (args: string[], label: string, extraEnv: Record<string, string> = env) => {
    const out = join(dir.path, `out-${label}`);
    const run = await runCli(['restore', 'latest', '--target', out, ...args], { env: extraEnv });
    assert.is(run.code, 0, `${label}: ${run.stderr}`);
    assert.equal(await snapshotTree(join(out, 'src')), original, `${label}: byte for byte`);
  };

  // 1. Here → server, encrypted here under another password.
  const toServer = await runCli(['copy', 'latest', '--from', r1, '--to', `${server.url}/v1/repos/r2`, '--password-file', p1, '--to-password-file', p2, '--kdf', TEST_KDF_FLAG, '--json'], { env });
  assert.is(toServer.code, 0, toServer.stderr);
  await restoresExactly(['--repo', `${server.url}/v1/repos/r2`, '--password-file', p2], 'to-server');
  const wrong = await runCli(['restore', 'latest', '--target', join(dir.path, 'nope'), '--repo', `${server.url}/v1/repos/r2`, '--password-file', p1], { env });
  assert.is(wrong.code, 4, 'the source password does not open the copy');

  // 2. Server → here.
  const r3 = join(dir.path, 'r3');
  const fromServer = await runCli(['copy', 'latest', '--from', `${server.url}/v1/repos/r2`, '--to', r3, '--password-file', p2, '--to-password-file', p3, '--kdf', TEST_KDF_FLAG, '--json'], { env });
  assert.is(fromServer.code, 0, fromServer.stderr);
  await restoresExactly(['--repo', r3, '--password-file', p3], 'from-server');

  // 3. Here → server, encrypted there under its named password; restored there with no password.
  const onTarget = await runCli(['copy', 'latest', '--from', r1, '--to', `${server.url}/v1/repos/r4`, '--encrypt-on', 'target', '--password', 'vault', '--password-file', p1, '--json'], { env });
  assert.is(onTarget.code, 0, onTarget.stderr);
  const copied = JSON.parse(onTarget.stdout) as { pointId: string; sourcePointId: string; keySource: string };
  assert.is(copied.sourcePointId, (JSON.parse(made.stdout) as { pointId: string }).pointId);
  await restoresExactly(['--repo', join(serverHome, 'repos', 'r4')], 'on-target', { BUNKER_HOME: serverHome, BUNKER_WORKERS: '1' });

  // The server's repositories hold neither the plaintext nor the file names.
  assert.equal(await filesContaining(join(serverHome, 'repos'), MARKER), []);
  // A damaged source chunk stops a copy encrypted on the target: TAMPERED, and no point there
  // (never zeros in place of the chunk).
  const damaged = join(dir.path, 'r1-damaged');
  await cp(r1, damaged, { recursive: true });
  for (const e of await readdir(join(damaged, 'packs'), { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    const bytes = await readFile(path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
    await writeFile(path, bytes);
  }
  const bad = await runCli(['copy', 'latest', '--from', damaged, '--to', `${server.url}/v1/repos/r5`, '--encrypt-on', 'target', '--password', 'vault', '--password-file', p1], { env });
  assert.is(bad.code, 6, bad.stderr);
  assert.equal(await readdir(join(serverHome, 'repos', 'r5', 'points')).catch(() => []), [], 'no point on the target');

  // Encrypting on the target needs the name of a password the target holds: refused before anything is sent.
  const plain = await runCli(['copy', 'latest', '--from', r1, '--to', `${server.url}/v1/repos/r4`, '--encrypt-on', 'target', '--password-file', p1], { env });
  assert.is(plain.code, 2, plain.stderr);
  assert.match(plain.stderr, '--password names the password stored on the target');
});

test.run();
