/**
 * A second process for test/catalog-concurrency.test.ts (not a test itself):
 *
 *   catalog-writer.ts HOME WHO COUNT
 *
 * Prints "ready", waits for a line on stdin (so every writer starts at once, racing even to
 * create the database and the master key file), then opens the catalog in HOME and, COUNT
 * times, creates password WHO-i (password "WHO-i secret"), records a point, and increments
 * the setting "counter" (a read-modify-write). Prints "done" and exits 0.
 */
import { createInterface } from 'node:readline';
import { derivePasswordVersion } from '../core/catalog/catalog.ts';
import { toHex, utf8 } from '../core/format/bytes.ts';
import { openCatalog } from '../core/host/catalog-home.ts';
import { TEST_KDF } from './helpers.ts';

const [home, who, countText] = process.argv.slice(2) as [string, string, string];
const count = Number(countText);
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
await lines.next();

const catalog = (await openCatalog(home, { create: true }))!;
for (let i = 0; i < count; i++) {
  const name = `${who}-${i}`;
  const version = await derivePasswordVersion(`${name} secret`, TEST_KDF);
  await catalog.createPassword({ name, purpose: 'backup', version });
  catalog.recordPoint({
    repository: `/repos/${who}`, pointId: toHex(utf8(name.padEnd(32, '.'))), series: who, createdAt: new Date().toISOString(), salt: version.salt, job: null,
  }, 'e'.repeat(64));
  catalog.updateSetting('counter', (value) => String(Number(value ?? '0') + 1));
}
catalog.close();
process.stdout.write('done\n');
process.exit(0);
