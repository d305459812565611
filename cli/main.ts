#!/usr/bin/env -S node --max-semi-space-size=16
/**
 * bunker's entry point. What must happen before the command line's modules are loaded happens
 * here (the thread-pool size, the compile cache); then cli/cli.ts parses and runs the command.
 */
import './threadpool.ts';
import { enableCompileCache } from './compile-cache.ts';

enableCompileCache();
console.error("EXECARGV", process.execArgv);
const [{ main }, { hideBin }] = await Promise.all([import('./cli.ts'), import('yargs/helpers')]);
process.exitCode = await main(hideBin(process.argv));
