/**
 * The KMS emulator (test/kms/emulator.ts) against the documentation and the real SDK:
 * SigV4 known answers from the AWS General Reference, the raw wire format, context binding,
 * key lifecycle, and every error shape mapped by @aws-sdk/client-kms to its exception class.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CreateAliasCommand, CreateKeyCommand, DecryptCommand, DescribeKeyCommand, DisabledException, DisableKeyCommand,
  EnableKeyCommand, EncryptCommand, GenerateDataKeyCommand, IncorrectKeyException, InvalidCiphertextException, KMSClient, KMSInvalidStateException,
  KMSServiceException, NotFoundException, ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { type EmulatorPrincipal, KmsEmulator, TEST_PRINCIPAL } from './kms/emulator.ts';
import { canonicalRequest, sha256Hex, signature, signingKey, stringToSign } from './kms/sigv4.ts';

// AWS General Reference, "Signature Version 4 signing process", tasks 1-3: the POST example
// (IAM ListUsers, 2011-09-09, us-east-1) and the GET example (2015-08-30), with the
// documentation's example secret key.
const DOC_SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';

test('SigV4 known answers: the AWS documentation\'s POST example (canonical request, its hash, signing key, signature)', () => {
  const body = 'Action=ListUsers&Version=2010-05-08';
  assert.is(sha256Hex(body), 'b6359072c78d70ebee1e81adcbab4f01bf2c23245fa365ef83fe8f1f955085e2');
  const canonical = canonicalRequest({
    method: 'POST', path: '/', query: '',
    headers: new Map([['Content-type', ['application/x-www-form-urlencoded; charset=utf-8']], ['host', ['iam.amazonaws.com']], ['x-amz-date', ['20110909T233600Z']]]),
    signedHeaders: ['content-type', 'host', 'x-amz-date'], payloadHash: sha256Hex(body),
  });
  assert.is(canonical, 'POST\n/\n\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20110909T233600Z\n\n' +
    'content-type;host;x-amz-date\nb6359072c78d70ebee1e81adcbab4f01bf2c23245fa365ef83fe8f1f955085e2');
  assert.is(sha256Hex(canonical), '3511de7e95d28ecd39e9513b642aee07e54f4941150d8df8bf94b328ef7e55e2');
  const toSign = stringToSign('20110909T233600Z', '20110909/us-east-1/iam/aws4_request', canonical);
  assert.is(toSign, 'AWS4-HMAC-SHA256\n20110909T233600Z\n20110909/us-east-1/iam/aws4_request\n3511de7e95d28ecd39e9513b642aee07e54f4941150d8df8bf94b328ef7e55e2');
  const key = signingKey(DOC_SECRET, '20110909', 'us-east-1', 'iam');
  assert.is(Buffer.from(key).toString('hex'), '98f1d889fec4f4421adc522bab0ce1f82e6929c262ed15e5a94c90efd1e3b0e7');
  assert.is(signature(key, toSign), 'ced6826de92d2bdeed8f846f0bf508e8559e98e4b0199114b84c54174deb456c');
});

test('SigV4 known answers: the GET example with a query string (hash f536975d…, signature 5d672d79…)', () => {
  const canonical = canonicalRequest({
    method: 'GET', path: '/', query: 'Version=2010-05-08&Action=ListUsers',
    headers: new Map([['Content-Type', ['application/x-www-form-urlencoded; charset=utf-8']], ['Host', ['iam.amazonaws.com']], ['X-Amz-Date', ['20150830T123600Z']]]),
    signedHeaders: ['content-type', 'host', 'x-amz-date'], payloadHash: sha256Hex(''),
  });
  // The query is sorted into the canonical form whatever order it came in.
  assert.ok(canonical.startsWith('GET\n/\nAction=ListUsers&Version=2010-05-08\n'));
  assert.is(sha256Hex(canonical), 'f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59');
  const key = signingKey(DOC_SECRET, '20150830', 'us-east-1', 'iam');
  assert.is(Buffer.from(key).toString('hex'), 'c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9');
  assert.is(signature(key, stringToSign('20150830T123600Z', '20150830/us-east-1/iam/aws4_request', canonical)), '5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7');
});

function sdk(emulator: KmsEmulator, principal: Pick<EmulatorPrincipal, 'accessKeyId' | 'secretAccessKey'> = TEST_PRINCIPAL, region = emulator.region): KMSClient {
  return new KMSClient({ region, endpoint: emulator.endpoint, maxAttempts: 1, credentials: { accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey } });
}

/** A request signed by hand (not by the SDK), to see the wire format as it is. */
async function rawCall(emulator: KmsEmulator, operation: string, input: unknown, { sign = true } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const body = JSON.stringify(input);
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const host = new URL(emulator.endpoint).host;
  const headers: Record<string, string> = { 'content-type': 'application/x-amz-json-1.1', host, 'x-amz-date': amzDate, 'x-amz-target': `TrentService.${operation}` };
  if (sign) {
    const signed = Object.keys(headers).sort();
    const scope = `${amzDate.slice(0, 8)}/${emulator.region}/kms/aws4_request`;
    const canonical = canonicalRequest({ method: 'POST', path: '/', query: '', headers: new Map(Object.entries(headers).map(([k, v]) => [k, [v]])), signedHeaders: signed, payloadHash: sha256Hex(body) });
    const sig = signature(signingKey(TEST_PRINCIPAL.secretAccessKey, amzDate.slice(0, 8), emulator.region, 'kms'), stringToSign(amzDate, scope, canonical));
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${TEST_PRINCIPAL.accessKeyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${sig}`;
  }
  delete headers.host;
  const response = await fetch(`${emulator.endpoint}/`, { method: 'POST', headers, body });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : JSON.parse(text) };
}

test('wire format: JSON 1.1 bodies, epoch-second dates, base64 blobs, and {"__type", "message"} errors with status 400', async () => {
  await using emulator = await KmsEmulator.start();
  const key = emulator.createKey({ description: 'raw' });
  const described = await rawCall(emulator, 'DescribeKey', { KeyId: key.keyId });
  assert.is(described.status, 200);
  const meta = described.body.KeyMetadata as Record<string, unknown>;
  assert.is(typeof meta.CreationDate, 'number');
  assert.is(meta.CreationDate, key.creationDate);
  assert.equal([meta.Arn, meta.KeyId, meta.Enabled, meta.KeyState, meta.KeyUsage, meta.KeySpec, meta.Origin], [key.arn, key.keyId, true, 'Enabled', 'ENCRYPT_DECRYPT', 'SYMMETRIC_DEFAULT', 'AWS_KMS']);

  const encrypted = await rawCall(emulator, 'Encrypt', { KeyId: key.arn, Plaintext: Buffer.from('hello').toString('base64') });
  assert.is(encrypted.status, 200);
  assert.is(encrypted.body.KeyId, key.arn);
  assert.match(encrypted.body.CiphertextBlob as string, /^[A-Za-z0-9+/]+=*$/);
  const decrypted = await rawCall(emulator, 'Decrypt', { CiphertextBlob: encrypted.body.CiphertextBlob });
  assert.is(Buffer.from(decrypted.body.Plaintext as string, 'base64').toString(), 'hello');

  const missing = await rawCall(emulator, 'DescribeKey', { KeyId: 'alias/none' });
  assert.is(missing.status, 400);
  assert.equal(Object.keys(missing.body).sort(), ['__type', 'message']);
  assert.is(missing.body.__type, 'NotFoundException');

  const unsigned = await rawCall(emulator, 'DescribeKey', { KeyId: key.keyId }, { sign: false });
  assert.is(unsigned.status, 400);
  assert.is(unsigned.body.__type, 'MissingAuthenticationTokenException');
});

test('ciphertexts are bound to their EncryptionContext and carry their key id', async () => {
  await using emulator = await KmsEmulator.start();
  const key = emulator.createKey();
  const other = emulator.createKey();
  const client = sdk(emulator);
  const context = { 'bunker:repository': 'a'.repeat(64), 'bunker:salt': 'c2FsdA==' };
  const { CiphertextBlob } = await client.send(new EncryptCommand({ KeyId: key.arn, Plaintext: new Uint8Array([1, 2, 3]), EncryptionContext: context }));
  // Same context in another member order: fine; no KeyId needed.
  const reordered = { 'bunker:salt': 'c2FsdA==', 'bunker:repository': 'a'.repeat(64) };
  const { Plaintext, KeyId } = await client.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: reordered }));
  assert.equal([...Plaintext!], [1, 2, 3]);
  assert.is(KeyId, key.arn);
  for (const wrong of [{ ...context, 'bunker:repository': 'b'.repeat(64) }, {}, { ...context, extra: 'x' }]) {
    try {
      await client.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: wrong }));
      assert.unreachable('decrypted under another context');
    } catch (error) {
      assert.instance(error, InvalidCiphertextException);
    }
  }
  try {
    await client.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: context, KeyId: other.arn }));
    assert.unreachable('decrypted with another key named');
  } catch (error) {
    assert.instance(error, IncorrectKeyException);
  }
  const flipped = Uint8Array.from(CiphertextBlob!);
  flipped[flipped.length - 1]! ^= 1;
  try {
    await client.send(new DecryptCommand({ CiphertextBlob: flipped, EncryptionContext: context }));
    assert.unreachable('decrypted a modified blob');
  } catch (error) {
    assert.instance(error, InvalidCiphertextException);
  }
});

test('the SDK maps each error shape to its exception class', async () => {
  await using emulator = await KmsEmulator.start({ principals: [TEST_PRINCIPAL, { accessKeyId: 'AKIAENCRYPTONLY00001', secretAccessKey: 'encrypt-only-secret', name: 'encrypt-only', allow: ['Encrypt'] }] });
  const key = emulator.createKey();
  const client = sdk(emulator);
  const expectError = async (send: () => Promise<unknown>, type: abstract new (...args: never[]) => Error, name: string): Promise<Error> => {
    try {
      await send();
    } catch (error) {
      assert.instance(error, type);
      assert.is((error as Error).name, name);
      assert.is((error as KMSServiceException).$metadata.httpStatusCode, 400);
      return error as Error;
    }
    assert.unreachable(`expected ${name}`);
    throw new Error('unreachable');
  };
  await expectError(() => client.send(new DescribeKeyCommand({ KeyId: '00000000-0000-4000-8000-000000000000' })), NotFoundException, 'NotFoundException');
  await expectError(() => client.send(new DecryptCommand({ CiphertextBlob: new Uint8Array(40) })), InvalidCiphertextException, 'InvalidCiphertextException');

  const { CiphertextBlob } = await client.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: new Uint8Array(32) }));
  await client.send(new DisableKeyCommand({ KeyId: key.keyId }));
  await expectError(() => client.send(new DecryptCommand({ CiphertextBlob })), DisabledException, 'DisabledException');
  await client.send(new EnableKeyCommand({ KeyId: key.keyId }));
  await client.send(new DecryptCommand({ CiphertextBlob }));
  const scheduled = await client.send(new ScheduleKeyDeletionCommand({ KeyId: key.keyId, PendingWindowInDays: 7 }));
  assert.is(scheduled.KeyState, 'PendingDeletion');
  assert.instance(scheduled.DeletionDate, Date);
  const pending = await expectError(() => client.send(new DecryptCommand({ CiphertextBlob })), KMSInvalidStateException, 'KMSInvalidStateException');
  assert.match(pending.message, 'pending deletion');
  const described = await client.send(new DescribeKeyCommand({ KeyId: key.arn }));
  assert.equal([described.KeyMetadata?.KeyState, described.KeyMetadata?.Enabled], ['PendingDeletion', false]);
  assert.instance(described.KeyMetadata?.CreationDate, Date);

  const fresh = emulator.createKey();
  const limited = sdk(emulator, { accessKeyId: 'AKIAENCRYPTONLY00001', secretAccessKey: 'encrypt-only-secret' });
  const { CiphertextBlob: blob } = await limited.send(new EncryptCommand({ KeyId: fresh.keyId, Plaintext: new Uint8Array(32) }));
  // KMS's model has no AccessDeniedException class: the SDK keeps the service's __type as the name.
  const denied = await expectError(() => limited.send(new DecryptCommand({ CiphertextBlob: blob })), KMSServiceException, 'AccessDeniedException');
  assert.match(denied.message, 'is not authorized to perform: kms:Decrypt');

  // Unmodelled service errors keep their __type as the name.
  const badSecret = await expectError(() => sdk(emulator, { accessKeyId: TEST_PRINCIPAL.accessKeyId, secretAccessKey: 'wrong' }).send(new DescribeKeyCommand({ KeyId: fresh.keyId })),
    KMSServiceException, 'InvalidSignatureException');
  assert.match(badSecret.message, 'signature we calculated does not match');
  await expectError(() => sdk(emulator, { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'x' }).send(new DescribeKeyCommand({ KeyId: fresh.keyId })),
    KMSServiceException, 'UnrecognizedClientException');
  const region = await expectError(() => sdk(emulator, TEST_PRINCIPAL, 'eu-west-1').send(new DescribeKeyCommand({ KeyId: fresh.keyId })), KMSServiceException, 'InvalidSignatureException');
  assert.match(region.message, 'scoped to a valid region');
  assert.is(emulator.requests.filter((r) => r.errorType === 'InvalidSignatureException').length, 2);
});

test('CreateKey, CreateAlias and GenerateDataKey through the SDK; aliases resolve like key ids', async () => {
  await using emulator = await KmsEmulator.start();
  const client = sdk(emulator);
  const created = await client.send(new CreateKeyCommand({ Description: 'bunker test' }));
  const keyId = created.KeyMetadata!.KeyId!;
  await client.send(new CreateAliasCommand({ AliasName: 'alias/bunker', TargetKeyId: keyId }));
  const described = await client.send(new DescribeKeyCommand({ KeyId: 'alias/bunker' }));
  assert.is(described.KeyMetadata?.KeyId, keyId);
  const data = await client.send(new GenerateDataKeyCommand({ KeyId: `arn:aws:kms:${emulator.region}:${emulator.accountId}:alias/bunker`, KeySpec: 'AES_256', EncryptionContext: { k: 'v' } }));
  assert.is(data.Plaintext?.length, 32);
  const back = await client.send(new DecryptCommand({ CiphertextBlob: data.CiphertextBlob, EncryptionContext: { k: 'v' } }));
  assert.equal([...back.Plaintext!], [...data.Plaintext!]);
  try {
    await client.send(new DescribeKeyCommand({ KeyId: `arn:aws:kms:eu-west-1:${emulator.accountId}:key/${keyId}` }));
    assert.unreachable('found a key of another region');
  } catch (error) {
    assert.instance(error, NotFoundException);
  }
});

test('a stopped emulator refuses connections; a hanging one accepts and never answers', async () => {
  const emulator = await KmsEmulator.start();
  try {
    const key = emulator.createKey();
    emulator.hang = true;
    const credentials = { accessKeyId: TEST_PRINCIPAL.accessKeyId, secretAccessKey: TEST_PRINCIPAL.secretAccessKey };
    const hanging = new KMSClient({ region: emulator.region, endpoint: emulator.endpoint, maxAttempts: 1, credentials, requestHandler: { requestTimeout: 300, throwOnRequestTimeout: true } });
    try {
      await hanging.send(new DescribeKeyCommand({ KeyId: key.keyId }));
      assert.unreachable('a hanging emulator answered');
    } catch (error) {
      assert.is((error as Error).name, 'TimeoutError', String(error));
    }
    await emulator.stop();
    try {
      await sdk(emulator).send(new DescribeKeyCommand({ KeyId: key.keyId }));
      assert.unreachable('a stopped emulator answered');
    } catch (error) {
      assert.is((error as { code?: string }).code, 'ECONNREFUSED', String(error));
    }
  } finally {
    await emulator[Symbol.asyncDispose]();
  }
});

test.run();
