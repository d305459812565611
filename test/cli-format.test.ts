/** What the CLI prints for people: sizes, rates, and names that cannot forge lines or drive the terminal. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { writeFile, mkdir } from 'node:fs/promises';
import { displayPath, formatBytes, formatRate } from '../cli/format.ts';
import { apiToken } from '../cli/remote.ts';
import { memoryIo, runCli, tempDir, TEST_KDF_FLAG } from './helpers.ts';

test('sizes and rates: whole bytes below a KiB, two or one decimals above', () => {
  assert.is(formatBytes(0), '0 B');
  assert.is(formatBytes(1023), '1023 B');
  assert.is(formatBytes(1536), '1.50 KiB');
  assert.is(formatBytes(20 * 1024 * 1024), '20.0 MiB');
  assert.is(formatRate(2, 127), '16 B/s');
  assert.is(formatRate(5, 0), '-');
});

test('displayPath escapes control characters and backslashes; other names are shown as they are', () => {
  assert.is(displayPath('etc/hosts'), 'etc/hosts');
  assert.is(displayPath('é 😀'), 'é 😀');
  assert.is(displayPath('a\\b'), 'a\\\\b');
  assert.is.not(displayPath('a\\nb'), displayPath('a\nb'));
  assert.is(displayPath('fake\n-  99999  esc'), 'fake\\n-  99999  esc');
  assert.is(displayPath('x\u001b[31mred\\'), 'x\\x1b[31mred\\\\');
  assert.is(displayPath('tab\there\r\u007f\u0085'), 'tab\\there\\r\\x7f\\x85');
});

test('ls and find print a name with a newline or an escape sequence escaped on one line; --json keeps it', async () => {
  await using dir = await tempDir();
  const src = join(dir.path, 'src');
  await mkdir(src);
  const evil = 'fake\n-     99999  2026-01-01 00:00:00  shadow\u001b[2J';
  await writeFile(join(src, evil), 'x');
  const repo = join(dir.path, 'repo');
  const env = { BUNKER_PASSWORD: 'pw', BUNKER_HOME: join(dir.path, 'home') };
  assert.is((await runCli(['backup', src, '--repo', repo, '--kdf', TEST_KDF_FLAG], { env })).code, 0);
  for (const args of [['ls', 'latest', 'src', '--repo', repo], ['find', 'fake*', '--repo', repo]]) {
    const run = await runCli(args, { env });
    assert.is(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.is(lines.length, 1, `${args[0]}: one line for one file: ${JSON.stringify(run.stdout)}`);
    assert.match(lines[0]!, 'src/fake\\n-     99999  2026-01-01 00:00:00  shadow\\x1b[2J');
    assert.not.match(run.stdout, '\u001b');
    const json = await runCli([...args, '--json'], { env });
    assert.match(json.stdout, JSON.stringify(`src/${evil}`).slice(1, -1), `${args[0]} --json`);
  }
});

test('--token on the command line draws a warning (other users see arguments), without the token; BUNKER_TOKEN_FILE does not', async () => {
  const given = memoryIo();
  assert.is(await apiToken({ token: 'secret-token-value' }, given), 'secret-token-value');
  assert.match(given.stderr, 'warning: --token is visible to other users of this machine (ps); prefer BUNKER_TOKEN_FILE');
  assert.not.match(given.stderr, 'secret-token-value');
  await using dir = await tempDir();
  await writeFile(join(dir.path, 't'), 'from-a-file\n');
  const fromFile = memoryIo({ BUNKER_TOKEN_FILE: join(dir.path, 't') });
  assert.is(await apiToken({}, fromFile), 'from-a-file');
  assert.is(fromFile.stderr, '');
});

test.run();
