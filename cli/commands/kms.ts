/**
 * bunker kms enable|status|disable: AWS KMS protection of password hashes. While enabled,
 * every encrypted backup also stores its password hash encrypted under the KMS key in the
 * point's metadata, so a fresh install can restore with AWS credentials and no password.
 * Never applied to configuration bundles or self-backups.
 */
import { BunkerError, checkKmsKey, type KmsKeyDescription } from '../../core/mod.ts';
import { awsKmsClient } from '../../core/host/aws-kms-client.ts';
import { parseKmsArn } from '../../core/kms/kms-client.ts';
import { openProductCatalog } from '../context.ts';
import type { Io } from '../io.ts';
import { kmsCatalogWrapper, type KmsSettings, readKmsSettings, writeKmsSettings } from '../kms.ts';
import type { CommandSpec } from './spec.ts';

export interface KmsCliOptions {
  readonly keyId?: string;
  readonly region?: string;
  readonly endpoint?: string;
  readonly check?: boolean;
  readonly json?: boolean;
  readonly wrapExisting?: boolean;
}

const NOT_FOR_BUNDLES = 'KMS is not applied to configuration bundles or self-backups';

function describeSettings(settings: KmsSettings): string {
  return `${settings.keyArn} (account ${settings.accountId ?? 'unknown'}, region ${settings.region}${settings.endpoint === undefined ? '' : `, endpoint ${settings.endpoint}`})`;
}

async function describe(options: { keyId: string; region?: string; endpoint?: string }, io: Io): Promise<KmsKeyDescription> {
  const region = options.region ?? parseKmsArn(options.keyId)?.region;
  const client = awsKmsClient({ ...(region === undefined ? {} : { region }), ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }), env: io.env });
  return checkKmsKey(client, options.keyId);
}

/** Checks the key (DescribeKey: exists, Enabled, SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT), then saves it. */
export async function runKmsEnable(options: KmsCliOptions & { keyId: string }, io: Io): Promise<KmsSettings & { wrapped?: number }> {
  const key = await describe(options, io);
  const catalog = (await openProductCatalog(io, { create: true }))!;
  // Points written under an earlier key keep naming it: restore must go on trusting it.
  const earlier = readKmsSettings(catalog);
  const trusted = [...new Set([...(earlier?.trustedKeyArns ?? (earlier === undefined ? [] : [earlier.keyArn])), key.keyArn])];
  const settings: KmsSettings = {
    enabled: true,
    keyId: options.keyId,
    keyArn: key.keyArn,
    region: parseKmsArn(key.keyArn)?.region ?? options.region ?? 'unknown',
    ...(key.accountId === undefined ? {} : { accountId: key.accountId }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    checkedAt: new Date().toISOString(),
    trustedKeyArns: trusted,
  };
  let wrapped: number | undefined;
  try {
    writeKmsSettings(catalog, settings);
    if (options.wrapExisting) {
      // After the key check: every stored password version with no KMS copy yet gets one.
      const wrap = (await kmsCatalogWrapper(io, catalog, 'KMS is enabled, but the hashes of existing passwords were not all encrypted under it'))!;
      wrapped = 0;
      for (const version of await catalog.passwordVersionsWithoutKms()) {
        if (catalog.storePasswordKms(version.salt, await wrap(version))) wrapped++;
      }
    }
  } finally {
    catalog.close();
  }
  const result = wrapped === undefined ? settings : { ...settings, wrapped };
  if (options.json) io.out(JSON.stringify(result) + '\n');
  else {
    io.out(`KMS enabled with key ${describeSettings(settings)}: every encrypted backup now also stores its password hash encrypted under this key (${NOT_FOR_BUNDLES})\n`);
    if (wrapped !== undefined) io.out(`encrypted the hashes of ${wrapped} existing password version${wrapped === 1 ? '' : 's'} under this key\n`);
  }
  return result;
}

export async function runKmsStatus(options: KmsCliOptions, io: Io): Promise<KmsSettings | { enabled: false }> {
  const catalog = await openProductCatalog(io, { create: false });
  try {
    let settings = readKmsSettings(catalog);
    if (settings !== undefined && settings.enabled && options.check) {
      await describe({ keyId: settings.keyArn, region: settings.region, ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }) }, io);
      settings = { ...settings, checkedAt: new Date().toISOString() };
      writeKmsSettings(catalog!, settings);
    }
    const status = settings ?? { enabled: false as const };
    if (options.json) io.out(JSON.stringify(status) + '\n');
    else if (!status.enabled) io.out('KMS is not enabled\n');
    else io.out(`KMS enabled with key ${describeSettings(status as KmsSettings)}\n  last check: ${(status as KmsSettings).checkedAt}\n`);
    return status;
  } finally {
    catalog?.close();
  }
}

export async function runKmsDisable(options: KmsCliOptions, io: Io): Promise<void> {
  const catalog = await openProductCatalog(io, { create: false });
  try {
    const settings = readKmsSettings(catalog);
    if (settings === undefined || !settings.enabled) throw new BunkerError('NOT_FOUND', 'KMS is not enabled');
    writeKmsSettings(catalog!, { ...settings, enabled: false });
  } finally {
    catalog?.close();
  }
  if (options.json) io.out(JSON.stringify({ enabled: false }) + '\n');
  else io.out('KMS disabled: later backups store no KMS-encrypted password hash (earlier points keep theirs)\n');
}

export const kmsCommand: CommandSpec = {
  command: 'kms',
  describe: `Protect password hashes with AWS KMS, so a fresh install restores without a password (${NOT_FOR_BUNDLES})`,
  builder: (y) => y,
  subcommands: [
    {
      command: 'enable',
      describe: 'Check a KMS key (exists, enabled, symmetric, ENCRYPT_DECRYPT) and use it for every encrypted backup',
      builder: (y) =>
        y
          .option('key-id', { type: 'string', demandOption: true, describe: 'key id, key ARN, alias/NAME or alias ARN' })
          .option('region', { type: 'string', describe: 'AWS region (default: from the key ARN, AWS_REGION or the profile)' })
          .option('endpoint', { type: 'string', describe: 'a KMS-compatible endpoint URL (default: AWS, or AWS_ENDPOINT_URL_KMS)' })
          .option('wrap-existing', { type: 'boolean', default: false, describe: 'also encrypt under the key the hashes of the named passwords already stored' }),
      run: async (argv, io) => void (await runKmsEnable(argv as unknown as KmsCliOptions & { keyId: string }, io)),
    },
    {
      command: 'status',
      describe: 'Show whether KMS is enabled, the key, region, account and last check',
      builder: (y) => y.option('check', { type: 'boolean', default: false, describe: 'check the key with AWS KMS now' }),
      run: async (argv, io) => void (await runKmsStatus(argv as unknown as KmsCliOptions, io)),
    },
    {
      command: 'disable',
      describe: 'Stop storing KMS-encrypted password hashes in new points',
      builder: (y) => y,
      run: async (argv, io) => void (await runKmsDisable(argv as unknown as KmsCliOptions, io)),
    },
  ],
};
