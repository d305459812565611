/**
 * Where a password comes from, in order: --password-file, BUNKER_PASSWORD_FILE,
 * BUNKER_PASSWORD, then a no-echo prompt on a terminal (twice for a new password).
 * Never a plain flag: argv is visible to every user of the machine.
 */
import { readFile } from 'node:fs/promises';
import { BunkerError, PasswordKeyResolver, type PasswordPrompt } from '../core/mod.ts';
import type { Io } from './io.ts';

async function readPasswordFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new BunkerError('NOT_FOUND', `cannot read the password file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  // One trailing newline is an artifact of `echo pw > file`, not part of the password.
  return text.replace(/\r?\n$/, '');
}

export function passwordPrompt(io: Io, passwordFile: string | undefined): PasswordPrompt {
  return async ({ series, isNew }) => {
    const file = passwordFile ?? io.env.BUNKER_PASSWORD_FILE;
    if (file) return readPasswordFile(file);
    if (io.env.BUNKER_PASSWORD !== undefined && io.env.BUNKER_PASSWORD !== '') return io.env.BUNKER_PASSWORD;
    if (!io.isInteractive) return undefined;
    const first = await io.promptSecret(isNew ? `New password for backup "${series}": ` : `Password for backup "${series}": `);
    if (first === undefined) return undefined;
    if (isNew) {
      const again = await io.promptSecret('Repeat the password: ');
      if (again !== first) throw new BunkerError('USAGE', 'the two passwords differ; nothing was written');
    }
    return first;
  };
}

export function passwordResolver(io: Io, passwordFile: string | undefined): PasswordKeyResolver {
  return new PasswordKeyResolver(passwordPrompt(io, passwordFile));
}
