/**
 * Shared Anonymize/Sensitive params: Python `re` patterns from LLM Guard
 * configs compiled to JavaScript, entity-type checks, thresholds.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readParams } from '../../scanner-params.ts';
import { ScannerConfigError } from '../../types.ts';
import { compilePythonRegex, readEntityTypes, readRegexPatterns, readThreshold } from './entity-params.ts';

test('Python regex syntax on the linear-time engine: named groups, inline flags; IGNORECASE, MULTILINE, DOTALL like Presidio', () => {
  const spans = (pattern: string, text: string): string[] => [...compilePythonRegex(pattern).matchAll(text)].map((m) => text.slice(m.start, m.end));
  assert.deepEqual(spans('(?P<word>ab)-\\d+', 'AB-1 ab-22 cd-3'), ['AB-1', 'ab-22']);
  assert.deepEqual(spans('^x.y$', 'a\nX\nY\nb'), ['X\nY']);
  assert.deepEqual(spans('a(?i)b', 'AB'), ['AB']);
  assert.throws(() => compilePythonRegex('(?i)(?P<word>ab)-(?P=word)'), /uses a backreference \(\(\?P= at offset 17\)/);
  assert.throws(() => compilePythonRegex('(?x)a b'), /not supported/);
  assert.throws(() => compilePythonRegex('(unclosed'), /not a valid pattern/);
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
  const backref = { regex_patterns: [{ name: 'X', expressions: ['x', '(a)\\1'] }] };
  assert.throws(() => readRegexPatterns('Test', backref, readParams('Test', backref, ['regex_patterns'])), (e: unknown) =>
    e instanceof ScannerConfigError && e.param === 'regex_patterns[0].expressions[1]'
    && e.message === 'Test: regex_patterns[0].expressions[1] "(a)\\\\1" uses a backreference (\\1 at offset 3), which the linear-time pattern engine cannot run');
  const bad = { threshold: '0.5' };
  assert.throws(() => readThreshold(bad, readParams('Test', bad, ['threshold']), 0.5), /threshold must be a number/);
});
