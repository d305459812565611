/** One repository, two runtimes: what Node writes Deno restores, and the other way round. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { pseudoRandomBytes, runCli, tempDir, TEST_KDF_FLAG } from './helpers.ts';
import { ageTree, snapshotTree, writeTree } from './tree.ts';

for (const [writer, reader] of [['node', 'deno'], ['deno', 'node']] as const) {
  test(`a repository written on ${writer} restores on ${reader}, and ${reader} continues the series`, async () => {
    await using dir = await tempDir();
    const env = { BUNKER_PASSWORD: 'interop', BUNKER_REPO: join(dir.path, 'repo') };
    const src = join(dir.path, 'src');
    await writeTree(src, { 'bin': pseudoRandomBytes(150_000, 5), 'text.txt': 'hello\n'.repeat(5000), 'link': { link: 'text.txt' }, 'empty': { dir: true } });
    await ageTree(src); // so that the rerun finds them unchanged
    const made = await runCli(['backup', src, '--kdf', TEST_KDF_FLAG], { env, runtime: writer });
    assert.is(made.code, 0, made.stderr);
    const target = join(dir.path, 'out');
    const restored = await runCli(['restore', 'latest', '--target', target], { env, runtime: reader });
    assert.is(restored.code, 0, restored.stderr);
    assert.equal(await snapshotTree(join(target, 'src')), await snapshotTree(src));
    const continued = await runCli(['backup', src, '--json'], { env, runtime: reader });
    assert.is(continued.code, 0, continued.stderr);
    assert.is(JSON.parse(continued.stdout).stats.filesUnchanged, 2);
    const check = await runCli(['check', '--read-data'], { env, runtime: writer });
    assert.is(check.code, 0, check.stdout + check.stderr);
  });
}

test.run();
