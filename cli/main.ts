#!/usr/bin/env -S node --max-semi-space-size=16
/**
 * bunker's entry point. What must happen before the command line's modules are loaded happens
 * here (the thread-pool size, the compile cache); then cli/cli.ts parses and runs the command.
 *
 * The shebang caps V8's young generation, which can only be set when Node starts. With this
 * machine's 24 GiB, V8 picks 64 MiB semi-spaces; 16 MiB took 80-100 MiB off every command's
 * peak RSS at the same speed (bench/README.md, "Tuning"). `npx bunker` and `npm run bunker`
 * run this file through the shebang, and bench/tools.ts passes the same flags.
 */
import './threadpool.ts';
import { enableCompileCache } from './compile-cache.ts';

enableCompileCache();
const [{ main }, { hideBin }] = await Promise.all([import('./cli.ts'), import('yargs/helpers')]);
process.exitCode = await main(hideBin(process.argv));
