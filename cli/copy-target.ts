import { BunkerError, type CopyResult } from '../core/mod.ts';
import type { Io } from './io.ts';
import type { CopyCliOptions } from './commands/copy.ts';

/** Copy with encryption on the target server: the point is read here and streamed as a tar. */
export async function runCopyEncryptOnTarget(_options: CopyCliOptions, _io: Io): Promise<CopyResult> {
  throw new BunkerError('USAGE', 'copy --encrypt-on target is not available yet');
}
