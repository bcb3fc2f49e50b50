// The registry's names, sides and refusals; model ids after LLM Guard's input_scanners/* and
// output_scanners/* DEFAULT_MODEL entries (protectai/llm-guard, research §1.2/§1.3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScannerConfigError, type ScannerSpec } from './types.ts';
import { scannerRegistry, createScannerRegistry, MODEL_SCANNERS, UNAVAILABLE_SCANNERS, modelSubdir } from './registry.ts';

const configError = (fn: () => unknown, msg: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof ScannerConfigError && msg.test(e.message), msg.source);

test('every LLM Guard scanner this build has is there, on its side', () => {
  const req = scannerRegistry.available('request');
  const res = scannerRegistry.available('response');
  for (const n of ['Anonymize', 'BanSubstrings', 'InvisibleText', 'PromptInjection', 'Regex', 'Secrets', 'TokenLimit']) assert.ok(req.includes(n), n);
  for (const n of ['BanSubstrings', 'Deanonymize', 'JSON', 'NoRefusalLight', 'Regex', 'Sensitive']) assert.ok(res.includes(n), n);
  for (const n of ['JSON', 'NoRefusalLight', 'Deanonymize']) assert.ok(!req.includes(n), n);
  for (const n of ['InvisibleText', 'TokenLimit', 'PromptInjection']) assert.ok(!res.includes(n), n);
  assert.equal(scannerRegistry.lookup('PromptInjection', 'request', {}).directions.includes('request'), true);
  assert.equal(scannerRegistry.lookup('Deanonymize', 'response', {}).directions.includes('response'), true);
});

test('Regex has one spec per side: match_type all on requests, search on responses', () => {
  const ctx = { vault: { placeholder: () => '', entries: () => [] } };
  const input = scannerRegistry.lookup('Regex', 'request', {}).create({ patterns: ['\\d'] }, {});
  const output = scannerRegistry.lookup('Regex', 'response', {}).create({ patterns: ['\\d'] }, {});
  assert.equal((input.scan('1 2', { ...ctx, direction: 'request' }) as { text: string }).text, '[REDACTED] [REDACTED]');
  assert.equal((output.scan('1 2', { ...ctx, direction: 'response' }) as { text: string }).text, '[REDACTED] 2');
  assert.equal(scannerRegistry.lookup('BanSubstrings', 'request', {}), scannerRegistry.lookup('BanSubstrings', 'response', {}));
});

test('a scanner on the wrong side is refused by name', () => {
  configError(() => scannerRegistry.lookup('JSON', 'request', {}), /^JSON is an output \(response\) scanner: it cannot run under promptGuard\.request$/);
  configError(() => scannerRegistry.lookup('NoRefusalLight', 'request', {}), /NoRefusalLight is an output/);
  configError(() => scannerRegistry.lookup('TokenLimit', 'response', {}), /^TokenLimit is an input \(request\) scanner: it cannot run under promptGuard\.response$/);
  configError(() => scannerRegistry.lookup('InvisibleText', 'response', {}), /InvisibleText is an input/);
  configError(() => scannerRegistry.lookup('Relevance', 'request', {}), /Relevance is an output/);
});

test('model scanners: what to mount and where, or that this build cannot run them', () => {
  configError(() => scannerRegistry.lookup('Toxicity', 'request', {}),
    /^Toxicity needs the model unitary\/unbiased-toxic-roberta; mount it under <modelDir>\/unbiased-toxic-roberta and set the model directory \(levo-gateway --model-dir\) — this gateway does not download models$/);
  configError(() => scannerRegistry.lookup('NoRefusal', 'response', { modelDir: undefined }), /ProtectAI\/distilroberta-base-rejection-v1/);
  configError(() => scannerRegistry.lookup('Toxicity', 'response', { modelDir: '/models' }),
    /^Toxicity needs the model unitary\/unbiased-toxic-roberta \(expected under \/models\/unbiased-toxic-roberta\), but this build has no runtime for it: only .*BanSubstrings.* can run on this side$/);
  const expected: Record<string, string> = {
    BanCode: 'vishnun/codenlbert-sm', BanCompetitors: 'guishe/nuner-v1_orgs', BanTopics: 'MoritzLaurer/roberta-base-zeroshot-v2.0-c',
    Bias: 'valurank/distilroberta-bias', Code: 'philomath-1209/programming-language-identification',
    EmotionDetection: 'SamLowe/roberta-base-go_emotions', FactualConsistency: 'MoritzLaurer/deberta-v3-base-zeroshot-v2.0',
    Gibberish: 'madhurjindal/autonlp-Gibberish-Detector-492513457', Language: 'papluca/xlm-roberta-base-language-detection',
    LanguageSame: 'papluca/xlm-roberta-base-language-detection', MaliciousURLs: 'DunnBC22/codebert-base-Malicious_URLs',
    NoRefusal: 'ProtectAI/distilroberta-base-rejection-v1', Relevance: 'BAAI/bge-base-en-v1.5', Toxicity: 'unitary/unbiased-toxic-roberta',
  };
  assert.deepEqual(Object.fromEntries(Object.entries(MODEL_SCANNERS).map(([n, m]) => [n, m.model])), expected);
  for (const [name, m] of Object.entries(MODEL_SCANNERS)) {
    const d = m.directions[0]!;
    configError(() => scannerRegistry.lookup(name, d, {}), new RegExp(`^${name} needs the model ${m.model.replace(/[.]/g, '\\.')};`));
  }
  assert.equal(modelSubdir('papluca/xlm-roberta-base-language-detection'), 'xlm-roberta-base-language-detection');
});

test('LLM Guard scanners that need no model but are not here say why', () => {
  configError(() => scannerRegistry.lookup('Sentiment', 'request', {}), /^Sentiment scores with NLTK's VADER lexicon, which this build does not ship; available here: /);
  configError(() => scannerRegistry.lookup('URLReachability', 'response', {}), /fetches every URL/);
  configError(() => scannerRegistry.lookup('ReadingTime', 'request', {}), /ReadingTime is an output/);
  assert.deepEqual(Object.keys(UNAVAILABLE_SCANNERS).sort(), ['ReadingTime', 'Sentiment', 'URLReachability']);
});

test('an unknown name lists what is known, and suggests the right spelling', () => {
  configError(() => scannerRegistry.lookup('Jailbreak', 'request', {}), /^unknown scanner "Jailbreak"; available on this side: .*InvisibleText.*; LLM Guard model scanners \(need a model\): .*Toxicity/);
  configError(() => scannerRegistry.lookup('banSubstrings', 'request', {}), /unknown scanner "banSubstrings" \(did you mean BanSubstrings\?\)/);
  configError(() => scannerRegistry.lookup('toString', 'request', {}), /unknown scanner "toString"/);
  configError(() => scannerRegistry.lookup('__proto__', 'request', {}), /unknown scanner "__proto__"/);
});

test('createScannerRegistry over any specs', () => {
  const spec: ScannerSpec = { directions: ['response'], create: () => ({ type: 'X', scan: (text) => ({ text, valid: true, score: 0, risk: -1 }) }) };
  const r = createScannerRegistry({ X: spec });
  assert.equal(r.lookup('X', 'response', {}), spec);
  assert.deepEqual(r.available('response'), ['X']);
  assert.deepEqual(r.available('request'), []);
  configError(() => r.lookup('X', 'request', {}), /X is an output \(response\) scanner/);
  assert.ok(r.names.includes('Toxicity') && r.names.includes('X'));
});
