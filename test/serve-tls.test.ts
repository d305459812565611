/**
 * `bunker serve --tls-cert/--tls-key` serves HTTPS directly (issue 6): a client that trusts
 * the certificate backs up and restores over it; the same port refuses cleartext HTTP. The
 * certificate is a throw-away one for 127.0.0.1, signed by a throw-away CA, both made by openssl.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pseudoRandomBytes, runCli, tempDir, TEST_KDF_FLAG } from './helpers.ts';
import { serveProcess } from './server-kit.ts';
import { snapshotTree, writeTree } from './tree.ts';

const run = promisify(execFile);

function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('HTTPS: health and a remote backup and restore over TLS; cleartext HTTP on the port gets no answer', async () => {
  await using dir = await tempDir('bunker-tls-');
  // A throw-away CA and a server certificate it signed (rustls, under Deno, refuses a CA
  // certificate used as the server's own).
  const caCert = join(dir.path, 'ca.pem');
  const caKey = join(dir.path, 'ca-key.pem');
  const cert = join(dir.path, 'cert.pem');
  const key = join(dir.path, 'key.pem');
  const csr = join(dir.path, 'server.csr');
  const ext = join(dir.path, 'server.ext');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', caCert,
    '-days', '1', '-subj', '/CN=bunker test CA']);
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1']);
  await writeFile(ext, 'basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', ext]);
  const serverHome = join(dir.path, 'server-home');
  const made = await runCli(['token', 'create', 'client', '--scope', 'backup'], { env: { BUNKER_HOME: serverHome } });
  assert.is(made.code, 0, made.stderr);
  await using server = await serveProcess(serverHome, ['--tls-cert', cert, '--tls-key', key]);
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);

  const ca = await readFile(caCert, 'utf8');
  const health = await httpsGet(`${server.url}/v1/health`, ca);
  assert.is(health.status, 200);
  assert.equal(JSON.parse(health.body), { ok: true, api: 'v1' });

  const cleartext = await fetch(server.url.replace('https:', 'http:') + '/v1/health').then((r) => r.status, () => 'refused');
  assert.is.not(cleartext, 200, 'no answer in clear');

  const src = join(dir.path, 'src');
  await writeTree(src, { 'a.txt': 'over tls\n', 'b.bin': pseudoRandomBytes(100_000, 3) });
  const passwordFile = join(dir.path, 'pw');
  await writeFile(passwordFile, 'tls password', { mode: 0o600 });
  // The client trusts the throw-away certificate (Node: NODE_EXTRA_CA_CERTS; Deno: DENO_CERT).
  const env = { BUNKER_HOME: join(dir.path, 'client-home'), BUNKER_TOKEN: made.stdout.trim(), NODE_EXTRA_CA_CERTS: caCert, DENO_CERT: caCert, BUNKER_WORKERS: '1' };
  const repo = `${server.url}/v1/repos/tls`;
  const backup = await runCli(['backup', src, '--repo', repo, '--password-file', passwordFile, '--kdf', TEST_KDF_FLAG], { env });
  assert.is(backup.code, 0, backup.stderr);
  const out = join(dir.path, 'out');
  const restored = await runCli(['restore', 'latest', '--repo', repo, '--target', out, '--password-file', passwordFile], { env });
  assert.is(restored.code, 0, restored.stderr);
  assert.equal(await snapshotTree(join(out, 'src')), await snapshotTree(src));

  // A client that does not trust the certificate is refused with REMOTE_FAILED, not a stack trace.
  const untrusting = await runCli(['points', '--repo', repo], { env: { ...env, NODE_EXTRA_CA_CERTS: undefined, DENO_CERT: undefined } });
  assert.is(untrusting.code, 23, untrusting.stderr);
  assert.not.match(untrusting.stderr, /at .*\.ts:\d+/);
});

test.run();
