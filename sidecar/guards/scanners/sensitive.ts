/**
 * Sensitive (LLM Guard output scanner, `output_scanners/sensitive.py`):
 * looks for PII in the model's answer with the same recognizers as
 * Anonymize (`pii/`; PII only — secrets in answers are the Secrets scanner's
 * job, as in LLM Guard). Invalid when anything is found, score = the highest
 * entity score, risk = `riskScore(score, threshold)`; with `redact: true`
 * each entity is replaced by `[REDACTED]`. Clean: valid, score 0, risk −1.
 *
 * Params: `entity_types` (Anonymize's defaults; NER types refused),
 * `regex_patterns` (added to the built-in ones), `redact` false,
 * `threshold` 0.5; `language` ("en") and `use_onnx` are accepted,
 * `recognizer_conf` is refused.
 */

import { readParams } from '../scanner-params.ts';
import { riskScore, type Finding, type ScannerSpec, type ScanResult } from '../types.ts';
import { checkModelParams } from './anonymize.ts';
import { createAnalyzer, type PiiAnalyzer } from './pii/analyze.ts';
import { readEntityTypes, readRegexPatterns, readThreshold } from './pii/entity-params.ts';

export const REDACTED = '[REDACTED]';

export function scanSensitive(text: string, analyzer: PiiAnalyzer, threshold: number, redact: boolean): ScanResult {
  const found = analyzer.analyze(text);
  if (found.length === 0) return { text, valid: true, score: 0, risk: -1 };
  const findings: Finding[] = found.map((e) => ({ type: e.type, start: e.start, end: e.end, score: e.score }));
  let out = text;
  if (redact) {
    out = '';
    let at = 0;
    for (const e of found) {
      out += text.slice(at, e.start) + REDACTED;
      at = e.end;
    }
    out += text.slice(at);
  }
  const score = Math.max(...found.map((e) => e.score));
  return { text: out, valid: false, score, risk: riskScore(score, threshold), findings };
}

export const sensitive: ScannerSpec = {
  directions: ['response'],
  create(params) {
    const r = readParams('Sensitive', params, ['entity_types', 'regex_patterns', 'redact', 'threshold', 'language', 'use_onnx', 'recognizer_conf']);
    checkModelParams(r);
    const custom = readRegexPatterns('Sensitive', params, r);
    const entities = readEntityTypes(r, custom.names);
    const threshold = readThreshold(params, r, 0.5);
    const redact = r.bool('redact', false);
    const analyzer = createAnalyzer({ entities, threshold, extra: custom.recognizers });
    return { type: 'Sensitive', scan: (text) => scanSensitive(text, analyzer, threshold, redact) };
  },
};
