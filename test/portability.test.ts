/**
 * The fence around the portable core (a lint rule, not good intentions): nothing under core/
 * outside core/host/, and nothing in wasm/ but its file loader, may touch node:*, Deno.*,
 * process or Buffer, or import core/host/.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ROOT } from './helpers.ts';

const FORBIDDEN: [RegExp, string][] = [
  [/from\s+['"]node:/, 'imports node:*'],
  [/import\(\s*['"]node:/, 'imports node:*'],
  [/\brequire\s*\(/, 'uses require()'],
  [/\bDeno\./, 'uses Deno.*'],
  [/\bprocess\./, 'uses process'],
  [/\bBuffer\b/, 'uses Buffer'],
  [/from\s+['"][./]*(?:core\/)?host\//, 'imports core/host/'],
];

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

test('core/ outside core/host/ and wasm/ (but its package loader) use Web-standard APIs only', async () => {
  const files = [
    ...(await sources(join(ROOT, 'core'))).filter((f) => !relative(ROOT, f).startsWith('core/host/')),
    ...(await sources(join(ROOT, 'wasm'))).filter((f) => !f.endsWith('packages.ts')),
  ];
  assert.ok(files.length > 20, `found only ${files.length} portable files`);
  const violations: string[] = [];
  for (const file of files) {
    const text = stripComments(await readFile(file, 'utf8'));
    for (const [pattern, what] of FORBIDDEN) if (pattern.test(text)) violations.push(`${relative(ROOT, file)} ${what}`);
  }
  assert.equal(violations, []);
});

test('the fence itself catches a violation', () => {
  const sample = "import { readFile } from 'node:fs/promises';\nconst x = Buffer.from('a');";
  assert.ok(FORBIDDEN.some(([p]) => p.test(stripComments(sample))));
  assert.not.ok(FORBIDDEN.some(([p]) => p.test(stripComments('// node: Buffer process.env in a comment'))));
});

test.run();
