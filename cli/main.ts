#!/usr/bin/env node
/**
 * bunker's entry point. What must happen before the command line's modules are loaded happens
 * here (the thread-pool size, the compile cache); then cli/cli.ts parses and runs the command.
 */
import './threadpool.ts';
import { enableCompileCache } from './compile-cache.ts';

enableCompileCache();
const [{ main }, { hideBin }] = await Promise.all([import('./cli.ts'), import('yargs/helpers')]);
process.exitCode = await main(hideBin(process.argv));
