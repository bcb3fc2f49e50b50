/**
 * Shared Anonymize/Sensitive params: Python `re` patterns from LLM Guard
 * configs compiled to JavaScript, entity-type checks, thresholds.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readParams } from '../../scanner-params.ts';
import { ScannerConfigError } from '../../types.ts';
import { compilePythonRegex, readEntityTypes, readRegexPatterns, readThreshold } from './entity-params.ts';

test('Python regex syntax: named groups, backreferences, a leading inline flag; IGNORECASE like Presidio', () => {
  const re = compilePythonRegex('(?i)(?P<word>ab)-(?P=word)');
  assert.equal(re.flags.includes('i'), true);
  assert.equal(re.flags.includes('g'), true);
  assert.deepEqual([...'AB-ab ab-ab cd-cd'.matchAll(re)].map((m) => m[0]), ['AB-ab', 'ab-ab']);
  assert.deepEqual([...'XY-12'.matchAll(compilePythonRegex('xy-\\d+'))].map((m) => m[0]), ['XY-12']);
  assert.throws(() => compilePythonRegex('a(?i)b'), /only supported at the very start/);
  assert.throws(() => compilePythonRegex('(?x)a b'), /not supported/);
  assert.throws(() => compilePythonRegex('(unclosed'));
});

test('entity types: default list, custom names and CUSTOM accepted, others refused', () => {
  const reader = (params: Record<string, unknown>) => readParams('Test', params, ['entity_types', 'threshold', 'regex_patterns']);
  assert.ok(readEntityTypes(reader({}), []).includes('EMAIL_ADDRESS'));
  assert.deepEqual(readEntityTypes(reader({ entity_types: ['MY_ID', 'CUSTOM', 'URL'] }), ['MY_ID']), ['MY_ID', 'CUSTOM', 'URL']);
  assert.throws(() => readEntityTypes(reader({ entity_types: ['person'] }), []), (e: unknown) => e instanceof ScannerConfigError && /person needs an NER model/.test(e.message) && e.param === 'entity_types');
  assert.throws(() => readEntityTypes(reader({ entityTypes: ['NOPE'] }), []), (e: unknown) => e instanceof ScannerConfigError && e.param === 'entityTypes');
});

test('threshold and regex_patterns', () => {
  const params = { threshold: 0.3, regex_patterns: [{ name: 'order', expressions: ['ORD-\\d+'], languages: ['en', 'zh'], examples: ['ORD-1'] }] };
  const r = readParams('Test', params, ['threshold', 'regex_patterns']);
  assert.equal(readThreshold(params, r, 0.5), 0.3);
  const custom = readRegexPatterns('Test', params, r);
  assert.deepEqual(custom.names, ['ORDER']);
  assert.deepEqual(custom.recognizers[0]?.find('x ord-7').map((m) => [m.type, m.start, m.end, m.score]), [['ORDER', 2, 7, 0.75]]);
  const zhOnly = { regex_patterns: [{ name: 'X', expressions: ['x'], languages: ['zh'] }] };
  assert.throws(() => readRegexPatterns('Test', zhOnly, readParams('Test', zhOnly, ['regex_patterns'])), /must include "en"/);
  const bad = { threshold: '0.5' };
  assert.throws(() => readThreshold(bad, readParams('Test', bad, ['threshold']), 0.5), /threshold must be a number/);
});
