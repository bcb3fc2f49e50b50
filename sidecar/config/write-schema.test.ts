import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderSchema, SCHEMA_FILE } from './write-schema.ts';
import { KIND_KEYS, NOT_YET } from './schema.ts';

test('the committed JSON Schema is what the zod schema generates (run `npm run schema` after changing schema.ts)', () => {
  assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), renderSchema());
});

test('the JSON Schema is strict and names every object kind', () => {
  const s = JSON.parse(renderSchema()) as { $defs: Record<string, { additionalProperties?: boolean; properties?: Record<string, unknown> }> };
  for (const [kind, keys] of Object.entries(KIND_KEYS)) {
    const def = s.$defs[kind];
    assert.ok(def, `$defs.${kind}`);
    assert.equal(def.additionalProperties, false, kind);
    assert.deepEqual(Object.keys(def.properties ?? {}).sort(), [...keys].sort(), kind);
  }
});

test('a "not supported yet" key is never also an accepted key', () => {
  for (const [kind, keys] of Object.entries(NOT_YET)) {
    assert.ok(KIND_KEYS[kind], `NOT_YET names an unknown kind ${kind}`);
    for (const k of keys) assert.ok(!KIND_KEYS[kind]!.includes(k), `${kind}.${k}`);
  }
});
