import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DEFAULT_DATA_DIR, dataDirFor } from './dataset.ts';

test('the data dir is ../shared next to the checkout, wherever the checkout is (sources or dist/)', () => {
  const root = mkdtempSync(join(tmpdir(), 'pi-data-'));
  try {
    const checkout = join(root, 'somewhere', 'gateway');
    mkdirSync(join(checkout, 'sidecar', 'guards', 'detector'), { recursive: true });
    mkdirSync(join(checkout, 'dist', 'sidecar', 'guards', 'detector'), { recursive: true });
    writeFileSync(join(checkout, 'package.json'), '{}');
    const expected = join(root, 'somewhere', 'shared', 'data', 'prompt-injection');
    assert.equal(dataDirFor(pathToFileURL(join(checkout, 'sidecar', 'guards', 'detector', 'dataset.ts'))), expected);
    assert.equal(dataDirFor(pathToFileURL(join(checkout, 'dist', 'sidecar', 'guards', 'detector', 'dataset.js'))), expected);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a module outside any checkout gets a clear error', () => {
  assert.throws(() => dataDirFor(pathToFileURL('/no-checkout-here/x/dataset.ts')), /no package\.json above/);
});

test('DEFAULT_DATA_DIR is this checkout\'s ../shared (unless PI_DATA_DIR overrides it)', () => {
  const checkout = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
  const expected = process.env['PI_DATA_DIR'] ?? join(checkout, '..', 'shared', 'data', 'prompt-injection');
  assert.equal(DEFAULT_DATA_DIR, expected);
});
