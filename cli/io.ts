/**
 * What a command may touch of its process: output streams, environment, prompts, stdin.
 * Commands take an Io so tests run them in-process; cli/main.ts builds the real one.
 */
import { stdin as processStdin } from 'node:process';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Raw bytes to stdout (dump); resolves when written. */
  writeOut(bytes: Uint8Array): Promise<void>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** stderr is a terminal: show progress and prompts. */
  readonly isInteractive: boolean;
  /** Reads a line without echo from the terminal; undefined when there is none. */
  promptSecret(question: string): Promise<string | undefined>;
  stdin(): AsyncIterable<Uint8Array>;
  /**
   * Aborted on Ctrl-C or SIGTERM, so that a command stops cleanly (nothing committed, staging
   * removed) and exits CANCELLED; a second signal stops the process at once. Listening starts
   * at the first call: a command that never asks keeps the runtime's default.
   */
  interruption?(): AbortSignal;
}

/** The reader of our stdout went away (`bunker dump … | head`): stop quietly, like other Unix tools. */
function closedPipe(error: Error): Error {
  return (error as NodeJS.ErrnoException).code === 'EPIPE' ? Object.assign(new Error('output closed'), { closedPipe: true }) : error;
}

export function processIo(): Io {
  // Without a listener an EPIPE on stdout is an unhandled 'error' event that kills the process.
  process.stdout.on('error', () => undefined);
  const isInteractive = Boolean(process.stderr.isTTY && process.stdin.isTTY);
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    writeOut: (bytes) => new Promise((resolve, reject) => process.stdout.write(bytes, (error) => (error ? reject(closedPipe(error)) : resolve()))),
    env: process.env,
    isInteractive,
    promptSecret: (question) => (isInteractive ? readSecret(question) : Promise.resolve(undefined)),
    stdin: () => processStdin as AsyncIterable<Uint8Array>,
    interruption: () => (interrupt ??= listenForInterrupts()).signal,
  };
}

let interrupt: AbortController | undefined;

function listenForInterrupts(): AbortController {
  const controller = new AbortController();
  const stop = (signal: 'SIGINT' | 'SIGTERM') => {
    if (controller.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
    process.stderr.write(`\nbunker: ${signal === 'SIGINT' ? 'interrupted' : 'terminated'}: stopping cleanly (again to stop at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return controller;
}

/** No-echo line input in raw mode; Ctrl-C cancels. */
function readSecret(question: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const input = process.stdin;
    process.stderr.write(question);
    let value = '';
    input.setRawMode(true);
    input.resume();
    const finish = (result: string | undefined, error?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(result);
    };
    const onData = (data: Buffer | string) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(value);
        if (ch === '\u0003') return finish(undefined, Object.assign(new Error('cancelled'), { cancelled: true }));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on('data', onData);
  });
}
