/** bunker's command line: parse, call core, print. Exit codes: cli/exit-codes.ts. Entry point: cli/main.ts. */
import yargs, { type Argv } from 'yargs';
import { BunkerError, isBunkerError, useArgon2id, wasmArgon2id } from '../core/mod.ts';
import { nativeArgon2id } from '../core/host/native-argon2.ts';
import { backupCommand } from './commands/backup.ts';
import { checkCommand } from './commands/check.ts';
import { configCommand } from './commands/config.ts';
import { copyCommand } from './commands/copy.ts';
import { dumpCommand } from './commands/dump.ts';
import { findCommand } from './commands/find.ts';
import { initCommand } from './commands/init.ts';
import { jobCommand } from './commands/job.ts';
import { kmsCommand } from './commands/kms.ts';
import { lsCommand } from './commands/ls.ts';
import { passwordCommand } from './commands/password.ts';
import { pointsCommand } from './commands/points.ts';
import { restoreCommand } from './commands/restore.ts';
import { serveCommand } from './commands/serve.ts';
import { tokenCommand } from './commands/token.ts';
import type { CommandSpec } from './commands/spec.ts';
import { EXIT_CHECK_FAILED, EXIT_CODES, EXIT_INTERNAL, EXIT_OK } from './exit-codes.ts';
import { type Io, processIo } from './io.ts';

export const COMMANDS: readonly CommandSpec[] = [
  initCommand, backupCommand, pointsCommand, lsCommand, findCommand, restoreCommand, dumpCommand, checkCommand, copyCommand,
  passwordCommand, jobCommand, configCommand, kmsCommand, tokenCommand, serveCommand,
];

const EXIT_CODE_LIST = ([[EXIT_OK, 'ok'], [EXIT_INTERNAL, 'internal error'], [EXIT_CHECK_FAILED, 'check found problems'], ...Object.entries(EXIT_CODES).map(([code, n]) => [n, code])] as [number, string][])
  .sort(([a], [b]) => a - b).map(([n, label]) => `${n} ${label}`).join(', ');
const EPILOGUE = `Exit codes: ${EXIT_CODE_LIST}.
Passwords: --password-file FILE, BUNKER_PASSWORD_FILE, BUNKER_PASSWORD, or a prompt on a terminal; --password NAME names a stored one.
Restore finds a point's key in this order: the product database (no prompt), AWS KMS (bunker kms), then the password.
Repository: --repo DIR, BUNKER_REPO, or BUNKER_HOME/repository (BUNKER_HOME defaults to the user's data directory);
--repo http(s)://HOST:PORT/v1/repos/NAME keeps it on a bunker server (encrypted here; token: --token, BUNKER_TOKEN_FILE, BUNKER_TOKEN).`;

/** Runs the CLI with `args`; returns the exit code. Errors are printed, never thrown. */
export async function main(args: readonly string[], io: Io = processIo()): Promise<number> {
  // Argon2id: the runtime's native one where it has one (same bytes), unless BUNKER_ARGON2=wasm.
  useArgon2id((io.env.BUNKER_ARGON2 === 'wasm' ? undefined : nativeArgon2id()) ?? wasmArgon2id);
  let exitCode = EXIT_OK;
  let json = args.includes('--json');
  const report = (error: unknown): number => {
    if (isBunkerError(error)) {
      if (json) io.out(JSON.stringify({ error: error.toJSON() }) + '\n');
      io.err(`bunker: ${error.message}\n`);
      return EXIT_CODES[error.code];
    }
    if ((error as { closedPipe?: boolean })?.closedPipe) return EXIT_CODES.CANCELLED;
    if ((error as { cancelled?: boolean })?.cancelled) {
      io.err('bunker: cancelled\n');
      return EXIT_CODES.CANCELLED;
    }
    io.err(`bunker: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT_INTERNAL;
  };
  let cli = yargs([...args])
    .scriptName('bunker')
    .usage('$0 <command> [options]')
    .option('repo', { type: 'string', global: true, describe: 'repository directory, or http(s)://HOST:PORT/v1/repos/NAME on a bunker server' })
    .option('password-file', { type: 'string', global: true, describe: 'read the password from this file' })
    .option('token', { type: 'string', global: true, describe: 'API token for a bunker server (or BUNKER_TOKEN_FILE, BUNKER_TOKEN)' })
    .option('json', { type: 'boolean', global: true, default: false, describe: 'machine-readable output' })
    .demandCommand(1, 'give a command (see --help)')
    .strict()
    .epilogue(EPILOGUE)
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new BunkerError('USAGE', message ?? 'invalid usage');
    });
  const register = (y: Argv, spec: CommandSpec): Argv =>
    y.command(spec.command, spec.describe, (inner: Argv) => {
      let built = spec.builder(inner);
      for (const sub of spec.subcommands ?? []) built = register(built, sub);
      return spec.subcommands ? built.demandCommand(1, `give a ${spec.command} subcommand (see bunker ${spec.command} --help)`) : built;
    }, async (argv) => {
      json = Boolean(argv.json);
      const code = await spec.run?.(argv as Record<string, unknown>, io);
      if (typeof code === 'number') exitCode = code;
    });
  for (const spec of COMMANDS) cli = register(cli as Argv, spec) as typeof cli;
  try {
    await cli.parseAsync();
  } catch (error) {
    return report(error);
  }
  return exitCode;
}
