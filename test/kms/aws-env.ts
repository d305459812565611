/**
 * Keeping the AWS SDK's standard credential chain inside the test: no credentials, config or
 * region from the machine running the tests, and never the EC2 instance metadata service
 * (169.254.169.254 is not an address tests may contact), only what a test sets.
 */
import { join } from 'node:path';

/** Every variable the SDK's default chain, region and endpoint resolution read. */
export const AWS_ENV_NAMES = [
  'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_CREDENTIAL_EXPIRATION', 'AWS_ACCOUNT_ID',
  'AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_SDK_LOAD_CONFIG',
  'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_KMS', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_ROLE_SESSION_NAME',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_EC2_METADATA_DISABLED', 'AWS_EC2_METADATA_SERVICE_ENDPOINT', 'AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE',
  'AWS_MAX_ATTEMPTS', 'AWS_RETRY_MODE',
] as const;

/**
 * An environment with every AWS variable cleared except `vars`, config and credentials files
 * pointing into `dir` (absent unless the test writes them), and instance metadata disabled.
 * For child processes: merge it over process.env (undefined means "unset").
 */
export function isolatedAwsEnv(dir: string, vars: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of AWS_ENV_NAMES) env[name] = undefined;
  env.AWS_CONFIG_FILE = join(dir, 'aws-config');
  env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'aws-credentials');
  env.AWS_EC2_METADATA_DISABLED = 'true';
  return { ...env, ...vars };
}

/** Runs `fn` with process.env changed as `vars` says (undefined: unset), then puts it back. */
export async function withProcessEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(vars)) {
    saved.set(name, process.env[name]);
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  try {
    return await fn();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
