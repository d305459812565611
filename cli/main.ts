#!/bin/sh
":" //; GLIBC_TUNABLES="glibc.malloc.mmap_threshold=16777216${GLIBC_TUNABLES:+:$GLIBC_TUNABLES}" exec node --max-semi-space-size=16 --no-allocation-site-pretenuring "$0" "$@"
/**
 * bunker's entry point. What must happen before the command line's modules are loaded happens
 * here (the thread-pool size, the compile cache); then cli/cli.ts parses and runs the command.
 *
 * The first two lines start Node with V8's young generation capped, which can only be set when
 * Node starts: with 24 GiB, V8 picks 64 MiB semi-spaces; 16 MiB took 80-100 MiB off every
 * command's peak RSS at the same speed (bench/README.md, "Tuning"). They also fix glibc's mmap
 * threshold at 16 MiB (a user's own GLIBC_TUNABLES come after it, so they win; other C libraries ignore it): glibc
 * otherwise raises it as buffers are freed and keeps their memory in its heaps, 25-30 MiB of
 * peak RSS at the same speed. And they turn off V8's allocation-site pretenuring: once some of
 * a site's objects outlive two young collections (entries queued in the pipeline do), V8 allocates
 * all of that site's later objects in the old generation, where they pile up as garbage until the
 * next full collection; without it an unchanged 4 GiB rerun peaks ~40 MiB lower and is no slower.
 * Run as a program (`npx
 * bunker`, `npm run bunker`), the file is a shell script whose second line execs Node on itself;
 * to JavaScript that line is a string and a comment. (`#!/usr/bin/env -S node …` would say the
 * same, but BusyBox's env, Alpine's, has no -S.) bench/tools.ts starts Node the same way.
 */
import './threadpool.ts';
import { enableCompileCache } from './compile-cache.ts';

enableCompileCache();
const [{ main }, { hideBin }] = await Promise.all([import('./cli.ts'), import('yargs/helpers')]);
process.exitCode = await main(hideBin(process.argv));
