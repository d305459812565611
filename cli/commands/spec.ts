import type { Argv } from 'yargs';
import type { Io } from '../io.ts';

/** One CLI command: yargs wiring plus the run function it calls. */
export interface CommandSpec {
  readonly command: string;
  readonly describe: string;
  readonly builder: (yargs: Argv) => Argv;
  /** Returns an exit code, or nothing for success. */
  readonly run: (argv: Record<string, unknown>, io: Io) => Promise<unknown>;
}
