/**
 * AWS Signature Version 4 (AWS4-HMAC-SHA256), the verifying side, for the KMS emulator.
 * Written from the AWS General Reference ("Signature Version 4 signing process": create a
 * canonical request, create a string to sign, derive the signing key, calculate the
 * signature); test/kms-emulator.test.ts checks it against the documentation's own example.
 * Test code: node:crypto is fine here.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';

export interface SignedRequestParts {
  readonly method: string;
  /** The path as sent (already URI-encoded once by the client), e.g. "/". */
  readonly path: string;
  /** The raw query string without "?", e.g. "Action=ListUsers&Version=2010-05-08". */
  readonly query: string;
  /** Header name (any case) → values in the order received. */
  readonly headers: ReadonlyMap<string, readonly string[]>;
  readonly signedHeaders: readonly string[];
  /** Hex SHA-256 of the body (or the x-amz-content-sha256 value the client signed). */
  readonly payloadHash: string;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Uint8Array, data: string): Uint8Array {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** RFC 3986 unreserved characters stay, everything else is %XX (upper-case hex), as SigV4 requires. */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalQuery(query: string): string {
  if (query === '') return '';
  const pairs = query.split('&').filter((p) => p !== '').map((pair) => {
    const at = pair.indexOf('=');
    const name = decodeURIComponent((at === -1 ? pair : pair.slice(0, at)).replace(/\+/g, ' '));
    const value = at === -1 ? '' : decodeURIComponent(pair.slice(at + 1).replace(/\+/g, ' '));
    return [uriEncode(name), uriEncode(value)] as const;
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

function canonicalHeaderValue(values: readonly string[]): string {
  return values.map((v) => v.trim().replace(/ +/g, ' ')).join(',');
}

/** Task 1: the canonical request. */
export function canonicalRequest(parts: SignedRequestParts): string {
  const lower = new Map<string, string[]>();
  for (const [name, values] of parts.headers) {
    const key = name.toLowerCase();
    lower.set(key, [...(lower.get(key) ?? []), ...values]);
  }
  const signed = [...parts.signedHeaders].map((h) => h.toLowerCase()).sort();
  const headerLines = signed.map((name) => `${name}:${canonicalHeaderValue(lower.get(name) ?? [])}\n`).join('');
  // Services other than S3 encode each path segment once more (the client already encoded it once).
  const uri = parts.path === '' ? '/' : parts.path.split('/').map(uriEncode).join('/');
  return [parts.method.toUpperCase(), uri, canonicalQuery(parts.query), headerLines, signed.join(';'), parts.payloadHash].join('\n');
}

/** Task 2: the string to sign. */
export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${SIGV4_ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
}

/** Task 3, first half: the signing key derived from the secret, date (YYYYMMDD), region and service. */
export function signingKey(secretAccessKey: string, date: string, region: string, service: string): Uint8Array {
  const kDate = hmac(`AWS4${secretAccessKey}`, date);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  return hmac(kService, 'aws4_request');
}

/** Task 3, second half: the hex signature. */
export function signature(key: Uint8Array, toSign: string): string {
  return Buffer.from(hmac(key, toSign)).toString('hex');
}

export interface AuthorizationHeader {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly terminator: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

/** Parses `AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=a;b, Signature=hex`. */
export function parseAuthorization(value: string): AuthorizationHeader | undefined {
  if (!value.startsWith(`${SIGV4_ALGORITHM} `)) return undefined;
  const fields = new Map<string, string>();
  for (const part of value.slice(SIGV4_ALGORITHM.length + 1).split(',')) {
    const at = part.indexOf('=');
    if (at === -1) return undefined;
    fields.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  const credential = fields.get('Credential')?.split('/');
  const signedHeaders = fields.get('SignedHeaders');
  const sig = fields.get('Signature');
  if (credential === undefined || credential.length !== 5 || signedHeaders === undefined || sig === undefined) return undefined;
  const [accessKeyId, date, region, service, terminator] = credential as [string, string, string, string, string];
  return { accessKeyId, date, region, service, terminator, signedHeaders: signedHeaders.split(';'), signature: sig };
}

export function signaturesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
