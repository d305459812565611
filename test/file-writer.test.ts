/**
 * The restore's file-writer thread: a large file written elsewhere waits only for its parent
 * directory, which the thread makes in order with what was queued before it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileWriterThread } from '../core/host/file-writer.ts';
import { tempDir } from './helpers.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

test('directoryMade sends a directory still in the batch being filled, and returns once it exists', async () => {
  await using dir = await tempDir();
  const writer = new FileWriterThread();
  try {
    await writer.directory(join(dir.path, 'a'));
    await writer.file(join(dir.path, 'a', 'x'), 0o640, 1_700_000_000, undefined, [bytes('x')]);
    await writer.directory(join(dir.path, 'b'));
    await writer.directoryMade(join(dir.path, 'b'));
    assert.ok((await lstat(join(dir.path, 'b'))).isDirectory());
    // What was queued before it is made first.
    assert.is(await readFile(join(dir.path, 'a', 'x'), 'utf8'), 'x');
    // A directory the writer never had: nothing to wait for.
    await writer.directoryMade(join(dir.path, 'elsewhere'));
    await writer.flush();
  } finally {
    await writer.close();
  }
});

test('directoryMade after a failed batch throws that failure, and the directory is not made', async () => {
  await using dir = await tempDir();
  const writer = new FileWriterThread();
  try {
    await writer.file(join(dir.path, 'missing', 'x'), 0o600, 1_700_000_000, undefined, [bytes('x')]);
    await writer.directory(join(dir.path, 'c'));
    const error = await writer.directoryMade(join(dir.path, 'c')).then(() => undefined, (e: unknown) => e as Error & { code?: string });
    assert.is(error?.code, 'ENOENT');
    assert.match(String(error?.message), join(dir.path, 'missing', 'x'));
    assert.is(await lstat(join(dir.path, 'c')).then(() => 'exists', () => 'absent'), 'absent');
  } finally {
    await writer.close();
  }
});

test('directories in batches already written, or many batches back, are found made', async () => {
  await using dir = await tempDir();
  const writer = new FileWriterThread();
  try {
    for (let i = 0; i < 300; i++) {
      if (i % 50 === 0) await writer.directory(join(dir.path, `d${i}`));
      await writer.file(join(dir.path, `d${i - (i % 50)}`, `f${i}`), 0o600, 1_700_000_000, undefined, [bytes(String(i))]);
    }
    for (let i = 0; i < 300; i += 50) {
      await writer.directoryMade(join(dir.path, `d${i}`));
      assert.ok((await lstat(join(dir.path, `d${i}`))).isDirectory(), `d${i}`);
    }
    await writer.flush();
    assert.is(await readFile(join(dir.path, 'd250', 'f299'), 'utf8'), '299');
  } finally {
    await writer.close();
  }
});

test.run();
