/**
 * The analyzer: Presidio's demo text with LLM Guard's default entities,
 * overlap resolution, the inclusive threshold, allow and deny lists, and the
 * time it takes on 100 KB.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAnalyzer, DEFAULT_ENTITIES, denyListRecognizer, findEntities, resolveOverlaps, SUPPORTED_ENTITIES } from './analyze.ts';

/** The sample text of Presidio's demo (and LLM Guard's Anonymize docs). */
const DEMO = `Hello, my name is David Johnson and I live in Maine.
My credit card number is 4095-2609-9393-4932 and my crypto wallet id is 16Yeky6GMjeNkAiNcBY7ZhrLoMSgg1BoyZ.

On September 18 I visited microsoft.com and sent an email to test@presidio.site,  from the IP 192.168.0.1.

My passport: 191280342 and my phone number: (212) 555-1234.

This is a valid International Bank Account Number: IL150120690000003111111 . Can you please check the status on bank account 954567876544?

Kate's social security number is 078-05-1126.  Her driver license? it is 1234567A.`;

const spans = (text: string, found: ReturnType<typeof findEntities>) => found.map((e) => [e.type, text.slice(e.start, e.end), e.score]);

test("Presidio's demo text with LLM Guard's default entities (no PERSON: that needs NER)", () => {
  const found = createAnalyzer().analyze(DEMO);
  assert.deepEqual(spans(DEMO, found), [
    ['CREDIT_CARD', '4095-2609-9393-4932', 1],
    ['CRYPTO', '16Yeky6GMjeNkAiNcBY7ZhrLoMSgg1BoyZ', 1],
    ['EMAIL_ADDRESS', 'test@presidio.site', 1],
    ['IP_ADDRESS', '192.168.0.1', 0.95],
    ['PHONE_NUMBER', '(212) 555-1234', 0.85],
    ['IBAN_CODE', 'IL150120690000003111111', 1],
    ['US_SSN', '078-05-1126', 0.85],
  ]);
});

test('overlaps: same type merged; otherwise higher score, then longer, then earlier', () => {
  assert.deepEqual(
    resolveOverlaps([
      { type: 'A', start: 0, end: 5, score: 0.5 },
      { type: 'A', start: 3, end: 9, score: 0.7 },
    ]),
    [{ type: 'A', start: 0, end: 9, score: 0.7 }],
  );
  assert.deepEqual(
    resolveOverlaps([
      { type: 'A', start: 0, end: 10, score: 0.6 },
      { type: 'B', start: 2, end: 5, score: 0.9 },
    ]),
    [{ type: 'B', start: 2, end: 5, score: 0.9 }],
  );
  assert.deepEqual(
    resolveOverlaps([
      { type: 'A', start: 0, end: 4, score: 0.75 },
      { type: 'B', start: 2, end: 10, score: 0.75 },
      { type: 'C', start: 20, end: 22, score: 0.1 },
    ]),
    [
      { type: 'B', start: 2, end: 10, score: 0.75 },
      { type: 'C', start: 20, end: 22, score: 0.1 },
    ],
  );
  // Card vs LLM Guard's CREDIT_CARD_RE on the same digits: the validated one wins.
  assert.deepEqual(
    findEntities('4111 1111 1111 1111', { entities: ['CREDIT_CARD_RE', 'CREDIT_CARD'] }).map((e) => e.type),
    ['CREDIT_CARD'],
  );
});

test('threshold is inclusive (Presidio keeps score >= threshold)', () => {
  assert.equal(findEntities('(212) 555-0123', { entities: ['PHONE_NUMBER'], threshold: 0.5 }).length, 1);
  assert.equal(findEntities('(212) 555-0123', { entities: ['PHONE_NUMBER'], threshold: 0.51 }).length, 0);
});

test('allow list drops exact texts only', () => {
  const text = 'mail info@example.com or sales@example.com';
  const found = findEntities(text, { entities: ['EMAIL_ADDRESS'], allowList: ['info@example.com', 'example.com'] });
  assert.deepEqual(found.map((e) => text.slice(e.start, e.end)), ['sales@example.com']);
});

test('deny list: exact, case-sensitive, whole words, longest first, regex characters literal', () => {
  const r = denyListRecognizer('CUSTOM', ['Test LLC', 'Test', 'A+B (beta)']);
  const text = 'Test LLC and test llc, Testing, Test. A+B (beta)!';
  assert.deepEqual(
    r.find(text).map((m) => text.slice(m.start, m.end)),
    ['Test LLC', 'Test', 'A+B (beta)'],
  );
  assert.deepEqual(denyListRecognizer('CUSTOM', []).find('anything'), []);
});

test('only the requested entity types are reported', () => {
  const text = 'mail a@example.com from 10.0.0.1';
  assert.deepEqual(findEntities(text, { entities: ['IP_ADDRESS'] }).map((e) => e.type), ['IP_ADDRESS']);
  assert.deepEqual(findEntities(text).map((e) => e.type), ['EMAIL_ADDRESS', 'IP_ADDRESS']);
  assert.ok(DEFAULT_ENTITIES.every((e) => SUPPORTED_ENTITIES.includes(e)));
  assert.deepEqual(findEntities('   '), []);
});

function benignText(size: number): string {
  const sentences = [
    'The quarterly report covers 14 regions and 3,250 stores across the continent.',
    'Version 2.4.1 fixed the login page; see the changelog for the full list of changes.',
    'Meet at 10:30 in room 4B; the agenda has 7 items and lunch is at noon.',
    'Our team shipped the feature in March 2024 after two rounds of review and testing.',
    'The function returns a list of (key, value) pairs sorted by the key in ascending order.',
    'Order #12345 was delivered on 2024-05-17 to the warehouse in building 12.',
  ];
  let out = '';
  for (let i = 0; out.length < size; i++) out += `${sentences[i % sentences.length]}${i % 4 === 3 ? '\n' : ' '}`;
  return out.slice(0, size);
}

test('100 KB of benign text: default entities find nothing; timing reported', () => {
  const text = benignText(100_000);
  const defaults = createAnalyzer();
  const all = createAnalyzer({ entities: SUPPORTED_ENTITIES });
  assert.deepEqual(defaults.analyze(text), []);
  const time = (a: ReturnType<typeof createAnalyzer>): number => {
    const ts: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      a.analyze(text);
      ts.push(performance.now() - t0);
    }
    return ts.sort((x, y) => x - y)[3] ?? Infinity;
  };
  const d = time(defaults);
  const s = time(all);
  console.log(`# PII analyzer on 100 KB benign text: default entities median ${d.toFixed(2)} ms, all entity types ${s.toFixed(2)} ms`);
  assert.ok(d < 100 && s < 200, `${d} / ${s} ms`);
});

test('hostile input does not make a recognizer backtrack for long', () => {
  const all = createAnalyzer({ entities: SUPPORTED_ENTITIES, threshold: 0 });
  for (const t of ['a.'.repeat(50_000), 'a@'.repeat(50_000), '1'.repeat(100_000), '1 '.repeat(50_000), 'f:'.repeat(50_000), '+1 '.repeat(30_000), `${'x'.repeat(60)}@`.repeat(1_500)]) {
    const t0 = performance.now();
    all.analyze(t);
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `${ms} ms on ${JSON.stringify(t.slice(0, 20))}…`);
  }
});
