/**
 * The slice of AWS KMS that bunker uses, as a small interface the portable core depends on.
 * The core never imports the AWS SDK: its Node client pulls in node:http and the credential
 * chain's file and process readers. A host constructs the client (core/host/aws-kms-client.ts
 * wraps @aws-sdk/client-kms with the standard credential chain) and injects it.
 *
 * Implementations throw whatever their transport throws (SDK exceptions named after the
 * service's error `__type`, network errors with a `code`); core/kms/kms-errors.ts turns those
 * into a KmsError naming the cause. No method ever logs its inputs or outputs.
 */

/** KMS EncryptionContext: non-secret name/value pairs bound to a ciphertext (and visible in CloudTrail). */
export type KmsEncryptionContext = Readonly<Record<string, string>>;

/** DescribeKey's KeyMetadata, the members bunker checks. */
export interface KmsKeyDescription {
  readonly keyArn: string;
  readonly keyId: string;
  readonly accountId?: string;
  readonly enabled: boolean;
  /** Enabled, Disabled, PendingDeletion, PendingImport, Unavailable, Creating, … */
  readonly keyState: string;
  /** SYMMETRIC_DEFAULT for the keys bunker can use. */
  readonly keySpec: string;
  /** ENCRYPT_DECRYPT for the keys bunker can use. */
  readonly keyUsage: string;
  readonly origin?: string;
  readonly creationDate?: Date;
  readonly deletionDate?: Date;
}

export interface KmsEncryptRequest {
  readonly keyId: string;
  readonly plaintext: Uint8Array;
  readonly context: KmsEncryptionContext;
}

export interface KmsDecryptRequest {
  /** When given, KMS refuses a ciphertext made under another key (IncorrectKeyException). */
  readonly keyId?: string;
  readonly ciphertext: Uint8Array;
  readonly context: KmsEncryptionContext;
}

/** One KMS endpoint in one region, with credentials found by the host. */
export interface KmsClient {
  /** The region requests are signed for, when the host knows it (for messages). */
  readonly region?: string;
  /** Where requests go: an endpoint URL when overridden, else undefined (AWS's regional endpoint). */
  readonly endpoint?: string;
  encrypt(request: KmsEncryptRequest, signal: AbortSignal): Promise<{ keyArn: string; ciphertext: Uint8Array }>;
  decrypt(request: KmsDecryptRequest, signal: AbortSignal): Promise<{ keyArn: string; plaintext: Uint8Array }>;
  describeKey(keyId: string, signal: AbortSignal): Promise<KmsKeyDescription>;
}

/**
 * Makes a client for a region (undefined: the host's default region, e.g. AWS_REGION or the
 * profile's). KMS keys live in one region, so a point's key ARN decides where to ask.
 */
export type KmsClientFactory = (region: string | undefined) => KmsClient;

/** The parts of a key ARN, `arn:<partition>:kms:<region>:<account>:key/<id>` (or `:alias/<name>`). */
export interface KmsArn {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  readonly resource: string;
}

export function parseKmsArn(value: string): KmsArn | undefined {
  const match = /^arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):((?:key|alias)\/.+)$/.exec(value);
  if (match === null) return undefined;
  return { partition: match[1]!, region: match[2]!, accountId: match[3]!, resource: match[4]! };
}
