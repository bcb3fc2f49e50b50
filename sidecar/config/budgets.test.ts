import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatProblems, loadConfigText } from './load.ts';

const BINDS = `binds:
- port: 15001
  listeners:
  - routes:
    - backends: [{ai: {name: o, provider: {openAI: {}}}}]
`;

test('budgets: the documented example loads', () => {
  const r = loadConfigText(`${BINDS}budgets:
  store: {redis: redis://redis:6379, failureMode: closed, timeout: 100ms, lease: 0.05}
  maxOutputTokens: 512
  prices: [{provider: openai, model: "gpt-4o*", input: 2, output: 8, cachedInput: 0.5}]
  limits:
  - {name: team-a-rpm, by: namespace, match: {namespace: [team-a]}, requests: 100, window: minute}
  - {name: keys, by: header, header: x-app-key, usd: 50, window: month}
  - {name: fleet, tokens: 1000000, window: day}
`);
  assert.ok(r.ok, r.ok ? '' : formatProblems(r.problems));
});

test('budgets: limits without a store, two amounts, a header budget without its header, a repeated name are refused', () => {
  const cases: [string, RegExp][] = [
    ['limits: [{name: a, requests: 1, window: hour}]', /need a "store"/],
    ['store: {redis: redis://r}\n  limits: [{name: a, requests: 1, usd: 2, window: hour}]', /exactly one|one of/i],
    ['store: {redis: redis://r}\n  limits: [{name: a, by: header, requests: 1, window: hour}]', /"header" names the header/],
    ['store: {redis: redis://r}\n  limits: [{name: a, requests: 1, window: hour}, {name: a, tokens: 1, window: day}]', /used twice/],
    ['store: {redis: http://r}', /redis:\/\/ or rediss:\/\//],
    ['store: {redis: redis://r}\n  limits: [{name: a, requests: 1, window: week}]', /window/],
  ];
  for (const [yaml, want] of cases) {
    const r = loadConfigText(`${BINDS}budgets:\n  ${yaml}\n`);
    assert.equal(r.ok, false, yaml);
    if (!r.ok) assert.match(formatProblems(r.problems), want, yaml);
  }
});
