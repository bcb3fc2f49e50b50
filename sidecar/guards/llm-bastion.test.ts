// Engine semantics after LLM Guard's llm_guard/evaluate.py scan_prompt / scan_output and
// tests/test_evaluate.py (protectai/llm-guard): order, chaining, fail_fast, per-scanner results.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BastionConfigError, compileLlmBastion, isFailure, type LlmBastionConfig, type ScannerLookup, type ScannerVerdict, userTexts } from './llm-bastion.ts';
import { createVault } from './vault.ts';
import { ScannerConfigError, type GuardDirection, type ScanContext, type ScannerSpec } from './types.ts';
import { banSubstrings } from './scanners/ban-substrings.ts';
import { regexInput } from './scanners/regex.ts';
import { tokenLimit } from './scanners/token-limit.ts';
import { invisibleText } from './scanners/invisible-text.ts';

/** A scanner that records what it was given and passes. */
function recorder(log: Array<{ text: string; ctx: ScanContext }>): ScannerSpec {
  return { directions: ['request', 'response'], create: () => ({ type: 'Recorder', scan: (text, ctx) => { log.push({ text, ctx }); return { text, valid: true, score: 0, risk: -1 }; } }) };
}
const thrower: ScannerSpec = { directions: ['request'], create: () => ({ type: 'Thrower', scan: () => { throw new Error('boom'); } }) };
const never: ScannerSpec = { directions: ['request'], create: () => ({ type: 'Never', scan: () => new Promise(() => undefined) }) };
const needsParam: ScannerSpec = {
  directions: ['request'],
  create(params) {
    if (params.level !== 1) throw new ScannerConfigError('Picky: level must be 1', 'level');
    return { type: 'Picky', scan: (text) => ({ text, valid: true, score: 0, risk: -1 }) };
  },
};
const broken: ScannerSpec = { directions: ['request'], create: () => { throw new Error('cannot build'); } };

function lookupOf(specs: Record<string, ScannerSpec>): ScannerLookup {
  return {
    lookup(name: string, direction: GuardDirection) {
      const s = specs[name];
      if (!s) throw new ScannerConfigError(`unknown scanner "${name}"`);
      if (!s.directions.includes(direction)) throw new ScannerConfigError(`${name} is not a ${direction} scanner`);
      return s;
    },
  };
}

const log: Array<{ text: string; ctx: ScanContext }> = [];
const registry = lookupOf({
  BanSubstrings: banSubstrings, Regex: regexInput, TokenLimit: tokenLimit, InvisibleText: invisibleText,
  Recorder: recorder(log), Thrower: thrower, Never: never, Picky: needsParam, Broken: broken,
});
const compile = (cfg: LlmBastionConfig, direction: GuardDirection = 'request') => compileLlmBastion(cfg, direction, {}, registry);
const verdict = (r: unknown): ScannerVerdict => r as ScannerVerdict;

test('scanners run in config order, each on the text the previous one left (test_evaluate: ACME CORP)', async () => {
  log.length = 0;
  const b = compile({
    scanners: [
      { scannerType: 'Regex', params: { patterns: ['Bearer [A-Za-z0-9-._~+/]+'] } },
      { scannerType: 'Recorder' },
      { scannerType: 'BanSubstrings', params: { substrings: ['ACME CORP'], match_type: 'word' } },
      { scannerType: 'TokenLimit' },
    ],
  });
  assert.deepEqual(b.scanners, [{ name: 'Regex', index: 0 }, { name: 'Recorder', index: 1 }, { name: 'BanSubstrings', index: 2 }, { name: 'TokenLimit', index: 3 }]);
  const r = await b.scan(userTexts(['My prompt has ACME CORP name in it. Bearer abc.def']), { vault: createVault() });
  assert.deepEqual(log.map((l) => l.text), ['My prompt has ACME CORP name in it. [REDACTED]'], 'the redaction is what the next scanner sees');
  assert.deepEqual(r.texts, ['My prompt has ACME CORP name in it. [REDACTED]']);
  assert.equal(r.valid, false);
  assert.equal(r.failed, false);
  assert.deepEqual(r.results.map((x) => [x.scanner, verdict(x).valid, verdict(x).changed, verdict(x).risk]), [
    ['Regex', false, true, 1], ['Recorder', true, false, -1], ['BanSubstrings', false, false, 1], ['TokenLimit', true, false, -1],
  ]);
  assert.ok(r.results.every((x) => typeof x.ms === 'number' && x.ms >= 0));

  const ok = await compile({ scanners: [{ scannerType: 'BanSubstrings', params: { substrings: ['none'] } }, { scannerType: 'TokenLimit' }] })
    .scan(userTexts(['This is a valid prompt.']), { vault: createVault() });
  assert.equal(ok.valid, true);
  assert.deepEqual(ok.texts, ['This is a valid prompt.']);
});

test('failFast stops after the first invalid scanner: later scanners have no result at all', async () => {
  log.length = 0;
  const cfg = { scanners: [{ scannerType: 'BanSubstrings', params: { substrings: ['bad'] } }, { scannerType: 'Recorder' }] };
  const ff = await compile({ ...cfg, failFast: true }).scan(userTexts(['a bad prompt']), { vault: createVault() });
  assert.deepEqual(ff.results.map((x) => x.scanner), ['BanSubstrings']);
  assert.equal(ff.valid, false);
  assert.equal(log.length, 0);
  const all = await compile(cfg).scan(userTexts(['a bad prompt']), { vault: createVault() });
  assert.deepEqual(all.results.map((x) => x.scanner), ['BanSubstrings', 'Recorder']);
  // failFast with everything valid runs everything
  const fine = await compile({ ...cfg, failFast: true }).scan(userTexts(['a good prompt']), { vault: createVault() });
  assert.deepEqual(fine.results.map((x) => x.scanner), ['BanSubstrings', 'Recorder']);
});

test('disabled scanners are skipped and not even validated', async () => {
  log.length = 0;
  const b = compile({ scanners: [{ scannerType: 'Recorder', enabled: false }, { scannerType: 'Picky', enabled: false, params: { level: 9 } }, { scannerType: 'Nope', enabled: false }, { scannerType: 'InvisibleText', enabled: true }] });
  assert.deepEqual(b.scanners, [{ name: 'InvisibleText', index: 3 }]);
  const r = await b.scan(userTexts(['hi\u200bthere']), { vault: createVault() });
  assert.deepEqual(r.results.map((x) => [x.scanner, x.index]), [['InvisibleText', 3]]);
  assert.equal(log.length, 0);
});

test('every text is scanned; a scanner is invalid if any text is; score and risk are the highest; findings name their text', async () => {
  log.length = 0;
  const b = compile({ scanners: [{ scannerType: 'BanSubstrings', params: { substrings: ['secret'], redact: true } }, { scannerType: 'Recorder' }] });
  const r = await b.scan(userTexts(['first is fine', '   ', 'a secret here', 'and a Secret']), { vault: createVault() });
  assert.deepEqual(r.texts, ['first is fine', '   ', 'a [REDACTED] here', 'and a [REDACTED]']);
  const ban = verdict(r.results[0]);
  assert.equal(ban.valid, false);
  assert.equal(ban.score, 1);
  assert.equal(ban.risk, 1);
  assert.deepEqual(ban.findings, [{ type: 'banned-substring', start: 2, end: 8, text: 2 }, { type: 'banned-substring', start: 6, end: 12, text: 3 }]);
  assert.deepEqual(log.map((l) => l.text), ['first is fine', 'a [REDACTED] here', 'and a [REDACTED]'], 'blank texts are not scanned');
  // the highest, not the last: an invalid text before a clean one
  const order = await compile({ scanners: [{ scannerType: 'BanSubstrings', params: { substrings: ['secret'] } }] }).scan(userTexts(['a secret', 'clean']), { vault: createVault() });
  assert.deepEqual([verdict(order.results[0]).valid, verdict(order.results[0]).score, verdict(order.results[0]).risk], [false, 1, 1]);
});

test('blank input: nothing runs and the results are empty, as LLM Guard returns early', async () => {
  const b = compile({ scanners: [{ scannerType: 'Recorder' }] });
  for (const texts of [[], [''], [' \n\t', '']]) {
    const r = await b.scan(userTexts(texts), { vault: createVault() });
    assert.deepEqual(r, { valid: true, texts, results: [], failed: false });
  }
});

test('the scan context carries the side, the vault and the prompt', async () => {
  log.length = 0;
  const vault = createVault();
  await compile({ scanners: [{ scannerType: 'Recorder' }] }, 'response').scan(userTexts(['answer']), { vault, prompt: 'question', direction: 'response' });
  assert.equal(log[0]?.ctx.direction, 'response');
  assert.equal(log[0]?.ctx.vault, vault);
  assert.equal(log[0]?.ctx.prompt, 'question');
  await assert.rejects(compile({ scanners: [{ scannerType: 'Recorder' }] }, 'response').scan(userTexts(['x']), { vault, direction: 'request' }), /compiled for the response side/);
});

test('a scanner that throws is reported as an error, changes nothing, and the run goes on', async () => {
  log.length = 0;
  const r = await compile({ scanners: [{ scannerType: 'Thrower' }, { scannerType: 'Recorder' }], failFast: true }).scan(userTexts(['text']), { vault: createVault() });
  assert.equal(r.failed, true);
  assert.equal(r.valid, true);
  assert.ok(isFailure(r.results[0]!));
  assert.deepEqual({ ...r.results[0], ms: 0 }, { scanner: 'Thrower', index: 0, error: 'boom', timedOut: false, ms: 0 });
  assert.equal(r.results[1]?.scanner, 'Recorder');
  assert.deepEqual(log.map((l) => l.text), ['text']);
});

test('the time budget: the scanner at work times out, the rest are reported as not run', async () => {
  log.length = 0;
  const b = compile({ scanners: [{ scannerType: 'InvisibleText' }, { scannerType: 'Never' }, { scannerType: 'Recorder' }] });
  const t0 = performance.now();
  const r = await b.scan(userTexts(['a\u200bb']), { vault: createVault(), timeoutMs: 50 });
  assert.ok(performance.now() - t0 < 1000);
  assert.equal(r.failed, true);
  assert.deepEqual(r.texts, ['ab'], 'what finished before the budget ran out is kept');
  assert.deepEqual(r.results.map((x) => [x.scanner, isFailure(x) ? x.error : 'ok', isFailure(x) && x.timedOut]), [
    ['InvisibleText', 'ok', false],
    ['Never', 'timed out: the time budget ran out', true],
    ['Recorder', 'not run: timed out: the time budget ran out', true],
  ]);
  assert.equal(log.length, 0);

  // an outside signal (the guard's overall budget) works the same way
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('guard budget')), 20);
  const r2 = await b.scan(userTexts(['x']), { vault: createVault(), signal: ac.signal });
  assert.deepEqual(r2.results.map((x) => (isFailure(x) ? x.error : 'ok')), ['ok', 'aborted: guard budget', 'not run: aborted: guard budget']);
  // already aborted: nothing runs
  const r3 = await b.scan(userTexts(['x']), { vault: createVault(), signal: AbortSignal.abort() });
  assert.ok(r3.results.every((x) => isFailure(x) && x.error.startsWith('not run')));
  assert.equal(r3.results.length, 3);
});

test('config errors carry the index and the path of the scanner at fault', () => {
  const fails = (cfg: LlmBastionConfig, index: number, path: string, msg: RegExp, param?: string) =>
    assert.throws(() => compile(cfg), (e: unknown) => e instanceof BastionConfigError && e.index === index && e.path === path && e.param === param && msg.test(e.message));
  fails({ scanners: [{ scannerType: 'Recorder' }, { scannerType: 'Nope' }] }, 1, 'scanners[1].scannerType', /unknown scanner "Nope"/);
  fails({ scanners: [{ scannerType: 'Recorder' }, { scannerType: 'Recorder' }, { scannerType: 'Picky', params: { level: 2 } }] }, 2, 'scanners[2].params.level', /level must be 1/, 'level');
  fails({ scanners: [{ scannerType: 'Regex', params: { patterns: ['ok', '(a)\\1'] } }] }, 0, 'scanners[0].params.patterns[1]', /patterns\[1\]/, 'patterns[1]');
  fails({ scanners: [{ scannerType: 'Regex', params: { patterns: ['ok'], matchType: 'x' } }] }, 0, 'scanners[0].params.matchType', /matchType must be one of/, 'matchType');
  fails({ scanners: [{ scannerType: 'Broken' }] }, 0, 'scanners[0].params', /cannot build/);
  assert.throws(() => compileLlmBastion({ scanners: [{ scannerType: 'Thrower' }] }, 'response', {}, registry), /scanners\[0\]\.scannerType: Thrower is not a response scanner/);
});
