/**
 * A KMS that speaks the real protocol, for tests: AWS JSON 1.1 over HTTP on 127.0.0.1
 * (`POST /`, `X-Amz-Target: TrentService.<Operation>`, `Content-Type:
 * application/x-amz-json-1.1`, blobs in base64), every request's SigV4 signature verified
 * against the configured test credentials, errors as the service sends them (status 400,
 * body `{"__type": "NotFoundException", "message": "…"}`), so the real @aws-sdk/client-kms
 * talks to it unchanged and maps each error to its exception class.
 *
 * Ciphertext blobs carry the id of their key (Decrypt needs no KeyId) and are bound to
 * their EncryptionContext: Decrypt with another context is InvalidCiphertextException.
 * A blob is `"BKE1" ‖ u8 n ‖ key id (n bytes) ‖ nonce (12) ‖ AES-256-GCM(key material,
 * nonce, aad = key id ‖ 0x00 ‖ canonical context, plaintext)`; the canonical context is the
 * JSON of its entries sorted by name. Nothing outside this file depends on that layout.
 *
 * Operations: Encrypt, Decrypt, GenerateDataKey, DescribeKey, EnableKey, DisableKey,
 * ScheduleKeyDeletion, CancelKeyDeletion, CreateKey, CreateAlias. Test code: node:http and
 * node:crypto are fine here.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { canonicalRequest, parseAuthorization, sha256Hex, signature, signaturesEqual, signingKey, stringToSign } from './sigv4.ts';

/** A principal the emulator knows: its access key, secret, and (optionally) the only operations it may call. */
export interface EmulatorPrincipal {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** When set, requests must carry exactly this X-Amz-Security-Token. */
  readonly sessionToken?: string;
  /** IAM user name, for AccessDeniedException messages. */
  readonly name?: string;
  /** Operations this principal is allowed (e.g. ['Encrypt', 'DescribeKey']); all when absent. */
  readonly allow?: readonly string[];
}

/** The default test principal (AWS's documented example key pair shape; not a real account). */
export const TEST_PRINCIPAL: EmulatorPrincipal = Object.freeze({
  accessKeyId: 'AKIABUNKERTEST000001',
  secretAccessKey: 'bunkerTestSecretKey/K7MDENG+bPxRfiCYEXAMPLE',
  name: 'bunker-test',
});

/** Fresh SDK credentials for a principal (the SDK writes into the object it is given, so never share one). */
export function credentialsOf(principal: EmulatorPrincipal): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } {
  return { accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey, ...(principal.sessionToken === undefined ? {} : { sessionToken: principal.sessionToken }) };
}

export interface KmsEmulatorOptions {
  readonly region?: string;
  readonly accountId?: string;
  readonly principals?: readonly EmulatorPrincipal[];
  /** How far x-amz-date may be from the emulator's clock (the service allows 5 minutes). */
  readonly maxClockSkewMs?: number;
}

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

export interface EmulatorKey {
  readonly keyId: string;
  readonly arn: string;
  readonly material: Uint8Array;
  readonly creationDate: number;
  readonly description: string;
  readonly keySpec: string;
  readonly keyUsage: string;
  state: KeyState;
  deletionDate?: number;
  pendingWindowInDays?: number;
}

/** One request the emulator answered: operation, caller, and the error type it returned (if any). */
export interface EmulatorRequestLog {
  readonly operation: string;
  readonly accessKeyId?: string;
  readonly errorType?: string;
}

class KmsFault extends Error {
  readonly type: string;
  readonly status: number;
  /** Some errors (InvalidCiphertextException) come from the service without a message. */
  readonly hasMessage: boolean;
  constructor(type: string, message: string | undefined, status = 400) {
    super(message ?? '');
    this.type = type;
    this.status = status;
    this.hasMessage = message !== undefined;
  }
}

const BLOB_MAGIC = Buffer.from('BKE1', 'latin1');
const MAX_BODY_BYTES = 1 << 20;

type Json = Record<string, unknown>;

export class KmsEmulator {
  readonly region: string;
  readonly accountId: string;
  readonly principals: EmulatorPrincipal[];
  readonly keys = new Map<string, EmulatorKey>();
  readonly aliases = new Map<string, string>();
  readonly requests: EmulatorRequestLog[] = [];
  /** While true, requests are accepted and never answered (a KMS that hangs). */
  hang = false;
  private readonly maxClockSkewMs: number;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  private constructor(options: KmsEmulatorOptions) {
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '111122223333';
    this.principals = [...(options.principals ?? [TEST_PRINCIPAL])];
    this.maxClockSkewMs = options.maxClockSkewMs ?? 5 * 60_000;
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Starts an emulator on 127.0.0.1 at a random port. */
  static async start(options: KmsEmulatorOptions = {}): Promise<KmsEmulator> {
    const emulator = new KmsEmulator(options);
    await new Promise<void>((resolve, reject) => {
      emulator.server.once('error', reject);
      emulator.server.listen(0, '127.0.0.1', () => resolve());
    });
    emulator.port = (emulator.server.address() as AddressInfo).port;
    return emulator;
  }

  /** The endpoint URL to give the SDK (`endpoint`, AWS_ENDPOINT_URL_KMS). */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Closes the port (later requests are refused: ECONNREFUSED) and drops open connections. */
  async stop(): Promise<void> {
    this.hang = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.server.listening) await this.stop();
  }

  /** Creates a key directly (no request); a symmetric encryption key unless told otherwise. */
  createKey(options: { description?: string; keySpec?: string; keyUsage?: string; state?: KeyState } = {}): EmulatorKey {
    const keyId = randomUUID();
    const key: EmulatorKey = {
      keyId,
      arn: `arn:aws:kms:${this.region}:${this.accountId}:key/${keyId}`,
      material: randomBytes(32),
      creationDate: Math.floor(Date.now() / 1000),
      description: options.description ?? '',
      keySpec: options.keySpec ?? 'SYMMETRIC_DEFAULT',
      keyUsage: options.keyUsage ?? 'ENCRYPT_DECRYPT',
      state: options.state ?? 'Enabled',
    };
    this.keys.set(keyId, key);
    return key;
  }

  createAlias(aliasName: string, keyId: string): void {
    this.aliases.set(aliasName, this.findKey(keyId).keyId);
  }

  /** Operations answered so far, in order. */
  operations(): string[] {
    return this.requests.map((r) => r.operation);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.writeHead(413).end();
        return;
      }
      chunks.push(chunk);
    }
    const body = Buffer.concat(chunks);
    if (this.hang) return;
    const target = req.headers['x-amz-target'];
    const operation = typeof target === 'string' && target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : String(target);
    let accessKeyId: string | undefined;
    try {
      if (req.method !== 'POST' || req.url !== '/') throw new KmsFault('UnknownOperationException', undefined, 404);
      const principal = this.authenticate(req, body);
      accessKeyId = principal.accessKeyId;
      if (typeof target !== 'string' || !target.startsWith('TrentService.')) throw new KmsFault('UnknownOperationException', undefined);
      const contentType = req.headers['content-type'] ?? '';
      if (!contentType.startsWith('application/x-amz-json-1.1')) throw new KmsFault('SerializationException', `Unsupported content type: ${contentType}`);
      let input: Json;
      try {
        input = body.length === 0 ? {} : (JSON.parse(body.toString('utf8')) as Json);
      } catch {
        throw new KmsFault('SerializationException', 'Start of structure or map found where not expected.');
      }
      if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new KmsFault('SerializationException', 'Start of structure or map found where not expected.');
      const output = this.dispatch(operation, input, principal);
      this.requests.push({ operation, accessKeyId });
      this.send(res, 200, output);
    } catch (error) {
      if (!(error instanceof KmsFault)) {
        this.requests.push({ operation, accessKeyId, errorType: 'KMSInternalException' });
        this.send(res, 500, { __type: 'KMSInternalException', message: 'internal error' });
        return;
      }
      this.requests.push({ operation, accessKeyId, errorType: error.type });
      this.send(res, error.status, error.hasMessage ? { __type: error.type, message: error.message } : { __type: error.type });
    }
  }

  private send(res: ServerResponse, status: number, body: Json | undefined): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/x-amz-json-1.1',
      'Content-Length': Buffer.byteLength(text),
      'x-amzn-RequestId': randomUUID(),
      Date: new Date().toUTCString(),
    });
    res.end(text);
  }

  /** SigV4 verification, with the errors (types and messages) the service answers. */
  private authenticate(req: IncomingMessage, body: Buffer): EmulatorPrincipal {
    const header = req.headers.authorization;
    if (header === undefined) throw new KmsFault('MissingAuthenticationTokenException', 'Missing Authentication Token');
    const auth = parseAuthorization(header);
    if (auth === undefined) throw new KmsFault('IncompleteSignatureException', `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization=${header.split(' ')[0]}`);
    const principal = this.principals.find((p) => p.accessKeyId === auth.accessKeyId);
    if (principal === undefined) throw new KmsFault('UnrecognizedClientException', 'The security token included in the request is invalid.');
    const amzDate = req.headers['x-amz-date'];
    if (typeof amzDate !== 'string' || !/^\d{8}T\d{6}Z$/.test(amzDate)) throw new KmsFault('IncompleteSignatureException', 'Authorization header requires existence of either a \'X-Amz-Date\' or a \'Date\' header.');
    if (auth.date !== amzDate.slice(0, 8)) throw new KmsFault('InvalidSignatureException', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`);
    if (auth.region !== this.region) throw new KmsFault('InvalidSignatureException', `Credential should be scoped to a valid region, not '${auth.region}'. `);
    if (auth.service !== 'kms') throw new KmsFault('InvalidSignatureException', `Credential should be scoped to correct service: 'kms'. `);
    if (auth.terminator !== 'aws4_request') throw new KmsFault('InvalidSignatureException', `Credential should be scoped with a valid terminator: 'aws4_request', not '${auth.terminator}'. `);
    const signed = auth.signedHeaders.map((h) => h.toLowerCase());
    if (!signed.includes('host') || !signed.includes('x-amz-date')) throw new KmsFault('InvalidSignatureException', 'Signed headers must include host and x-amz-date.');
    const when = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
    if (Math.abs(when - Date.now()) > this.maxClockSkewMs) throw new KmsFault('InvalidSignatureException', `Signature expired: ${amzDate} is now earlier than the allowed clock skew.`);
    const payloadHash = sha256Hex(body);
    const claimed = req.headers['x-amz-content-sha256'];
    if (typeof claimed === 'string' && claimed !== payloadHash) throw new KmsFault('InvalidSignatureException', 'The provided x-amz-content-sha256 header does not match what was computed.');
    const headers = new Map<string, string[]>();
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!.toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), req.rawHeaders[i + 1]!]);
    }
    const [path, query = ''] = (req.url ?? '/').split('?', 2) as [string, string?];
    const canonical = canonicalRequest({ method: req.method ?? 'POST', path, query, headers, signedHeaders: signed, payloadHash });
    const expected = signature(signingKey(principal.secretAccessKey, auth.date, auth.region, auth.service), stringToSign(amzDate, `${auth.date}/${auth.region}/${auth.service}/aws4_request`, canonical));
    if (!signaturesEqual(expected, auth.signature)) {
      throw new KmsFault('InvalidSignatureException', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');
    }
    const token = req.headers['x-amz-security-token'];
    if (principal.sessionToken !== undefined && token !== principal.sessionToken) throw new KmsFault('UnrecognizedClientException', 'The security token included in the request is invalid.');
    return principal;
  }

  private dispatch(operation: string, input: Json, principal: EmulatorPrincipal): Json | undefined {
    const authorize = (key: EmulatorKey | undefined): void => {
      if (principal.allow !== undefined && !principal.allow.includes(operation)) {
        const resource = key?.arn ?? `arn:aws:kms:${this.region}:${this.accountId}:*`;
        throw new KmsFault('AccessDeniedException', `User: arn:aws:iam::${this.accountId}:user/${principal.name ?? 'test'} is not authorized to perform: kms:${operation} on resource: ${resource} because no identity-based policy allows the kms:${operation} action`);
      }
    };
    switch (operation) {
      case 'Encrypt': {
        const key = this.findKey(requiredString(input, 'KeyId'));
        authorize(key);
        const plaintext = blob(input, 'Plaintext', 1, 4096);
        this.usable(key);
        return { CiphertextBlob: this.seal(key, plaintext, context(input)).toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      }
      case 'GenerateDataKey': {
        const key = this.findKey(requiredString(input, 'KeyId'));
        authorize(key);
        const spec = input.KeySpec;
        const count = input.NumberOfBytes;
        let length: number;
        if (spec === 'AES_256' && count === undefined) length = 32;
        else if (spec === 'AES_128' && count === undefined) length = 16;
        else if (spec === undefined && Number.isInteger(count) && (count as number) >= 1 && (count as number) <= 1024) length = count as number;
        else throw new KmsFault('ValidationException', 'Please specify either number of bytes or key spec.');
        this.usable(key);
        const plaintext = randomBytes(length);
        return { CiphertextBlob: this.seal(key, plaintext, context(input)).toString('base64'), Plaintext: plaintext.toString('base64'), KeyId: key.arn };
      }
      case 'Decrypt': {
        const sealed = blob(input, 'CiphertextBlob', 1, 6144);
        const parsed = parseBlob(sealed);
        const key = parsed === undefined ? undefined : this.keys.get(parsed.keyId);
        if (input.KeyId !== undefined) {
          const named = this.findKey(requiredString(input, 'KeyId'));
          authorize(named);
          if (key !== undefined && named.keyId !== key.keyId) throw new KmsFault('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
        } else {
          authorize(key);
        }
        if (parsed === undefined || key === undefined) throw new KmsFault('InvalidCiphertextException', undefined);
        this.usable(key);
        const plaintext = this.open(key, parsed, context(input));
        if (plaintext === undefined) throw new KmsFault('InvalidCiphertextException', undefined);
        return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      }
      case 'DescribeKey': {
        const key = this.findKey(requiredString(input, 'KeyId'));
        authorize(key);
        return { KeyMetadata: this.metadata(key) };
      }
      case 'EnableKey':
      case 'DisableKey': {
        const key = this.findKey(requiredString(input, 'KeyId'));
        authorize(key);
        if (key.state === 'PendingDeletion') throw new KmsFault('KMSInvalidStateException', `${key.arn} is pending deletion.`);
        key.state = operation === 'EnableKey' ? 'Enabled' : 'Disabled';
        return undefined;
      }
      case 'ScheduleKeyDeletion': {
        const key = this.findKey(requiredString(input, 'KeyId'));
        authorize(key);
        const days = input.PendingWindowInDays ?? 30;
        if (!Number.isInteger(days) || (days as number) < 7 || (days as number) > 30) {
          throw new KmsFault('ValidationException', `1 validation error detected: Value '${String(days)}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30`);
        }
        if (key.state === 'PendingDeletion') throw new KmsFault('KMSInvalidStateException', `${key.arn} is pending deletion.`);
        key.state = 'PendingDeletion';
        key.pendingWindowInDays = days as number;
        key.deletionDate = Math.floor(Date.now() / 1000) + (days as number) * 86400;
        return { KeyId: key.arn, DeletionDate: key.deletionDate, KeyState: 'PendingDeletion', PendingWindowInDays: days };
      }
      case 'CancelKeyDeletion': {
        const key = this.findKey(requiredString(input, 'KeyId'));
        authorize(key);
        if (key.state !== 'PendingDeletion') throw new KmsFault('KMSInvalidStateException', `${key.arn} is not pending deletion.`);
        key.state = 'Disabled';
        delete key.deletionDate;
        delete key.pendingWindowInDays;
        return { KeyId: key.arn };
      }
      case 'CreateKey': {
        authorize(undefined);
        const keySpec = (input.KeySpec as string | undefined) ?? 'SYMMETRIC_DEFAULT';
        const keyUsage = (input.KeyUsage as string | undefined) ?? 'ENCRYPT_DECRYPT';
        return { KeyMetadata: this.metadata(this.createKey({ description: (input.Description as string | undefined) ?? '', keySpec, keyUsage })) };
      }
      case 'CreateAlias': {
        const aliasName = requiredString(input, 'AliasName');
        if (!/^alias\/[a-zA-Z0-9/_-]{1,250}$/.test(aliasName) || aliasName.startsWith('alias/aws/')) {
          throw new KmsFault('ValidationException', `1 validation error detected: Value '${aliasName}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$`);
        }
        const key = this.findKey(requiredString(input, 'TargetKeyId'));
        authorize(key);
        if (this.aliases.has(aliasName)) throw new KmsFault('AlreadyExistsException', `An alias with the name arn:aws:kms:${this.region}:${this.accountId}:${aliasName} already exists`);
        this.aliases.set(aliasName, key.keyId);
        return undefined;
      }
      default:
        throw new KmsFault('UnknownOperationException', undefined);
    }
  }

  /** Resolves a key id, key ARN, alias name or alias ARN, as the service does. */
  private findKey(keyId: string): EmulatorKey {
    let id = keyId;
    const arn = /^arn:aws:kms:([^:]*):([^:]*):(.*)$/.exec(keyId);
    if (arn) {
      if (arn[1] !== this.region || arn[2] !== this.accountId) throw new KmsFault('NotFoundException', `Invalid arn ${arn[1]}`);
      id = arn[3]!;
      if (id.startsWith('key/')) id = id.slice('key/'.length);
    }
    if (id.startsWith('alias/')) {
      const target = this.aliases.get(id);
      if (target === undefined) throw new KmsFault('NotFoundException', `Alias arn:aws:kms:${this.region}:${this.accountId}:${id} is not found.`);
      id = target;
    }
    const key = this.keys.get(id);
    if (key === undefined) throw new KmsFault('NotFoundException', `Key 'arn:aws:kms:${this.region}:${this.accountId}:key/${id}' does not exist`);
    return key;
  }

  /** The state checks of cryptographic operations. */
  private usable(key: EmulatorKey): void {
    if (key.state === 'Disabled') throw new KmsFault('DisabledException', `${key.arn} is disabled.`);
    if (key.state === 'PendingDeletion') throw new KmsFault('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    if (key.keyUsage !== 'ENCRYPT_DECRYPT' || key.keySpec !== 'SYMMETRIC_DEFAULT') {
      throw new KmsFault('InvalidKeyUsageException', `${key.arn} key usage is ${key.keyUsage} which is not valid for this operation.`);
    }
  }

  private metadata(key: EmulatorKey): Json {
    const meta: Json = {
      AWSAccountId: this.accountId,
      KeyId: key.keyId,
      Arn: key.arn,
      CreationDate: key.creationDate,
      Enabled: key.state === 'Enabled',
      Description: key.description,
      KeyUsage: key.keyUsage,
      KeyState: key.state,
      Origin: 'AWS_KMS',
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: key.keySpec,
      KeySpec: key.keySpec,
      EncryptionAlgorithms: key.keyUsage === 'ENCRYPT_DECRYPT' ? ['SYMMETRIC_DEFAULT'] : undefined,
      MultiRegion: false,
    };
    if (key.deletionDate !== undefined) {
      meta.DeletionDate = key.deletionDate;
      meta.PendingDeletionWindowInDays = key.pendingWindowInDays;
    }
    return meta;
  }

  private seal(key: EmulatorKey, plaintext: Uint8Array, ctx: Record<string, string>): Buffer {
    const id = Buffer.from(key.keyId, 'utf8');
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.material, nonce);
    cipher.setAAD(blobAad(id, ctx));
    const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return Buffer.concat([BLOB_MAGIC, Buffer.from([id.length]), id, nonce, sealed]);
  }

  private open(key: EmulatorKey, parsed: ParsedBlob, ctx: Record<string, string>): Buffer | undefined {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.material, parsed.nonce);
      decipher.setAAD(blobAad(Buffer.from(parsed.keyId, 'utf8'), ctx));
      decipher.setAuthTag(parsed.sealed.subarray(parsed.sealed.length - 16));
      return Buffer.concat([decipher.update(parsed.sealed.subarray(0, parsed.sealed.length - 16)), decipher.final()]);
    } catch {
      return undefined;
    }
  }
}

interface ParsedBlob {
  readonly keyId: string;
  readonly nonce: Buffer;
  readonly sealed: Buffer;
}

function parseBlob(bytes: Buffer): ParsedBlob | undefined {
  if (bytes.length < 5 || !bytes.subarray(0, 4).equals(BLOB_MAGIC)) return undefined;
  const n = bytes[4]!;
  if (bytes.length < 5 + n + 12 + 16) return undefined;
  return { keyId: bytes.subarray(5, 5 + n).toString('utf8'), nonce: bytes.subarray(5 + n, 17 + n), sealed: bytes.subarray(17 + n) };
}

function blobAad(keyId: Buffer, ctx: Record<string, string>): Buffer {
  const canonical = JSON.stringify(Object.keys(ctx).sort().map((k) => [k, ctx[k]]));
  return Buffer.concat([keyId, Buffer.from([0]), Buffer.from(canonical, 'utf8')]);
}

function requiredString(input: Json, member: string): string {
  const value = input[member];
  if (typeof value !== 'string' || value.length === 0) {
    throw new KmsFault('ValidationException', `1 validation error detected: Value null at '${member.charAt(0).toLowerCase()}${member.slice(1)}' failed to satisfy constraint: Member must not be null`);
  }
  return value;
}

function blob(input: Json, member: string, min: number, max: number): Buffer {
  const value = input[member];
  const field = `${member.charAt(0).toLowerCase()}${member.slice(1)}`;
  if (typeof value !== 'string') throw new KmsFault('ValidationException', `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length < min || bytes.length > max) {
    throw new KmsFault('ValidationException', `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length ${bytes.length < min ? `greater than or equal to ${min}` : `less than or equal to ${max}`}`);
  }
  return bytes;
}

function context(input: Json): Record<string, string> {
  const value = input.EncryptionContext;
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new KmsFault('SerializationException', 'Start of structure or map found where not expected.');
  }
  return value as Record<string, string>;
}
