/**
 * The KMS client of core/kms/kms-client.ts, on @aws-sdk/client-kms (Node and Deno). Host
 * code: the SDK's Node runtime reads files and environment for the standard credential
 * chain (environment, shared config and credentials files and profiles, SSO, credential
 * process, web identity, container and instance roles) and speaks over node:http.
 *
 * The endpoint is AWS's regional one unless `endpoint` (the CLI's --endpoint) or the SDK's
 * own AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL say otherwise. Retries are the SDK's standard
 * mode, bounded by `maxAttempts`; each attempt has a connection and a request timeout; the
 * caller adds an overall deadline (core/kms/kms-wrap.ts). The SDK logs nothing (no logger is
 * given), and neither does this file.
 */
import { DecryptCommand, DescribeKeyCommand, EncryptCommand, KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';
import type { KmsClient, KmsClientFactory, KmsKeyDescription } from '../kms/kms-client.ts';

export interface AwsKmsClientOptions {
  /** Signing region; default: the SDK's (AWS_REGION, the profile's region). */
  readonly region?: string;
  /** A KMS-compatible endpoint URL (tests, VPC endpoints). */
  readonly endpoint?: string;
  /** Attempts per operation, the first included (SDK standard retry mode). Default 3. */
  readonly maxAttempts?: number;
  /** Per attempt: time to connect. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Per attempt: time for the whole request and response. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** A named profile of the shared config files; default: AWS_PROFILE, else "default". */
  readonly profile?: string;
  /** Explicit credentials or provider; default: the SDK's standard chain. */
  readonly credentials?: KMSClientConfig['credentials'];
  /** Where the environment comes from, for the endpoint named in messages. Default: process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export const DEFAULT_KMS_MAX_ATTEMPTS = 3;
export const DEFAULT_KMS_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_KMS_REQUEST_TIMEOUT_MS = 10_000;

/** A KmsClient for one region over @aws-sdk/client-kms. */
export function awsKmsClient(options: AwsKmsClientOptions = {}): KmsClient {
  const env = options.env ?? process.env;
  const config: KMSClientConfig = {
    maxAttempts: options.maxAttempts ?? DEFAULT_KMS_MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: options.connectTimeoutMs ?? DEFAULT_KMS_CONNECT_TIMEOUT_MS,
      requestTimeout: options.requestTimeoutMs ?? DEFAULT_KMS_REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    },
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  };
  const sdk = new KMSClient(config);
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const endpoint = options.endpoint ?? env.AWS_ENDPOINT_URL_KMS ?? env.AWS_ENDPOINT_URL;
  return {
    ...(region === undefined ? {} : { region }),
    ...(endpoint === undefined ? {} : { endpoint }),
    async encrypt(request, signal) {
      const out = await sdk.send(new EncryptCommand({ KeyId: request.keyId, Plaintext: request.plaintext, EncryptionContext: { ...request.context } }), { abortSignal: signal });
      if (out.CiphertextBlob === undefined || out.KeyId === undefined) throw malformed('Encrypt');
      return { keyArn: out.KeyId, ciphertext: out.CiphertextBlob };
    },
    async decrypt(request, signal) {
      const out = await sdk.send(new DecryptCommand({
        CiphertextBlob: request.ciphertext,
        EncryptionContext: { ...request.context },
        ...(request.keyId === undefined ? {} : { KeyId: request.keyId }),
      }), { abortSignal: signal });
      if (out.Plaintext === undefined || out.KeyId === undefined) throw malformed('Decrypt');
      return { keyArn: out.KeyId, plaintext: out.Plaintext };
    },
    async describeKey(keyId, signal): Promise<KmsKeyDescription> {
      const out = await sdk.send(new DescribeKeyCommand({ KeyId: keyId }), { abortSignal: signal });
      const meta = out.KeyMetadata;
      if (meta === undefined || meta.KeyId === undefined || meta.Arn === undefined) throw malformed('DescribeKey');
      return {
        keyArn: meta.Arn,
        keyId: meta.KeyId,
        enabled: meta.Enabled === true,
        keyState: meta.KeyState ?? 'Unknown',
        keySpec: meta.KeySpec ?? meta.CustomerMasterKeySpec ?? 'Unknown',
        keyUsage: meta.KeyUsage ?? 'Unknown',
        ...(meta.AWSAccountId === undefined ? {} : { accountId: meta.AWSAccountId }),
        ...(meta.Origin === undefined ? {} : { origin: meta.Origin }),
        ...(meta.CreationDate === undefined ? {} : { creationDate: meta.CreationDate }),
        ...(meta.DeletionDate === undefined ? {} : { deletionDate: meta.DeletionDate }),
      };
    },
  };
}

/** One client per region, sharing every other option: what KmsKeyResolver needs. */
export function awsKmsClientFactory(options: Omit<AwsKmsClientOptions, 'region'> = {}): KmsClientFactory {
  return (region) => awsKmsClient({ ...options, ...(region === undefined ? {} : { region }) });
}

function malformed(operation: string): Error {
  const error = new Error(`KMS ${operation} answered without the expected members`);
  error.name = 'MalformedResponse';
  return error;
}
