/** Argon2id parameters in a request body (the CLI's --kdf), checked against core's bounds. */
import type { KdfParams } from '../../core/mod.ts';
import { checkKdfParams } from '../../core/crypto/kdf.ts';
import { z } from '../openapi.ts';

export const KdfSchema = z.object({
  memoryKiB: z.number().int(),
  iterations: z.number().int(),
  parallelism: z.number().int(),
}).strict().openapi('Kdf', { description: 'Argon2id parameters (advanced; default: bunker\'s)' });

/** KDF_PARAMS_OUT_OF_RANGE (400) outside the bounds bunker accepts. */
export function kdfParams(value: z.infer<typeof KdfSchema> | undefined): KdfParams | undefined {
  return value === undefined ? undefined : checkKdfParams({ algorithm: 'argon2id', ...value });
}
