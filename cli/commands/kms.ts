/**
 * bunker kms enable|status|disable: AWS KMS protection of password hashes. While enabled,
 * every encrypted backup also stores its password hash encrypted under the KMS key in the
 * point's metadata, so a fresh install can restore with AWS credentials and no password.
 * Never applied to configuration bundles or self-backups.
 */
import { disableKms, describeKmsKey, enableKms, recheckKms } from '../../core/kms/kms-settings.ts';
import { openProductCatalog } from '../context.ts';
import type { Io } from '../io.ts';
import { kmsClients, type KmsSettings, readKmsSettings } from '../kms.ts';
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

/** Checks the key (DescribeKey: exists, Enabled, SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT), then saves it. */
export async function runKmsEnable(options: KmsCliOptions & { keyId: string }, io: Io): Promise<KmsSettings & { wrapped?: number }> {
  const request = { keyId: options.keyId, ...(options.region === undefined ? {} : { region: options.region }), ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }) };
  // Before the catalog is opened: a key that cannot be used leaves no trace.
  const key = await describeKmsKey(request, await kmsClients(io));
  const catalog = (await openProductCatalog(io, { create: true }))!;
  let result: KmsSettings & { wrapped?: number };
  try {
    result = await enableKms(catalog, { ...request, wrapExisting: options.wrapExisting === true }, key, await kmsClients(io));
  } finally {
    catalog.close();
  }
  if (options.json) io.out(JSON.stringify(result) + '\n');
  else {
    io.out(`KMS enabled with key ${describeSettings(result)}: every encrypted backup now also stores its password hash encrypted under this key (${NOT_FOR_BUNDLES})\n`);
    if (result.wrapped !== undefined) io.out(`encrypted the hashes of ${result.wrapped} existing password version${result.wrapped === 1 ? '' : 's'} under this key\n`);
  }
  return result;
}

export async function runKmsStatus(options: KmsCliOptions, io: Io): Promise<KmsSettings | { enabled: false }> {
  const catalog = await openProductCatalog(io, { create: false });
  try {
    let settings = readKmsSettings(catalog);
    if (settings !== undefined && settings.enabled && options.check) settings = await recheckKms(catalog!, settings, await kmsClients(io));
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
    disableKms(catalog);
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
