/** `--kdf m=KiB,t=N,p=N`: Argon2id parameters for a new backup (advanced; defaults in core). */
import { BunkerError, DEFAULT_KDF_PARAMS, type KdfParams } from '../core/mod.ts';
import { checkKdfParams } from '../core/crypto/kdf.ts';

export function parseKdfOption(text: string | undefined): KdfParams | undefined {
  if (text === undefined) return undefined;
  const fields = new Map<string, number>();
  for (const part of text.split(',')) {
    const match = /^([mtp])=(\d+)$/.exec(part.trim());
    if (!match) throw new BunkerError('USAGE', `--kdf expects m=MEMORY_KIB,t=ITERATIONS,p=PARALLELISM, got ${JSON.stringify(text)}`);
    fields.set(match[1]!, Number(match[2]));
  }
  return checkKdfParams({
    algorithm: 'argon2id',
    memoryKiB: fields.get('m') ?? DEFAULT_KDF_PARAMS.memoryKiB,
    iterations: fields.get('t') ?? DEFAULT_KDF_PARAMS.iterations,
    parallelism: fields.get('p') ?? DEFAULT_KDF_PARAMS.parallelism,
  });
}
