import type { Argv } from 'yargs';
import type { Io } from '../io.ts';

/** One CLI command: yargs wiring plus the run function it calls, or a group of subcommands. */
export interface CommandSpec {
  readonly command: string;
  readonly describe: string;
  readonly builder: (yargs: Argv) => Argv;
  /** Resolves to an exit code other than 0 when the command ran but must report failure (check). */
  readonly run?: (argv: Record<string, unknown>, io: Io) => Promise<number | void>;
  /** `bunker <command> <subcommand>` (password, job, config); one of them must be given. */
  readonly subcommands?: readonly CommandSpec[];
}
