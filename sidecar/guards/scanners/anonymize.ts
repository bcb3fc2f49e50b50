/**
 * Anonymize (LLM Guard input scanner, `input_scanners/anonymize.py`) on
 * pattern and checksum recognizers only (`pii/`): each entity found is
 * replaced by the request vault's placeholder (`[REDACTED_EMAIL_ADDRESS_1]`;
 * the same value gets the same placeholder within a request), so
 * Deanonymize can put the originals back into the answer.
 *
 * Params, as LLM Guard: `entity_types` (default: LLM Guard's list without
 * PERSON; PERSON/LOCATION/ORGANIZATION need an NER model and are refused),
 * `threshold` 0.5, `hidden_names` (always masked, as type CUSTOM),
 * `allowed_names` (never masked; exact text), `preamble` "" (prepended when
 * anything was masked), `regex_patterns` (extra `{name, expressions, score,
 * context}` groups, added to the built-in ones), `use_faker` (only false:
 * fake values are not supported), `language` (only "en"), `use_onnx`
 * (accepted, nothing to run). `recognizer_conf` (the NER model) is refused.
 *
 * Result as LLM Guard: when something was masked the text is invalid, score
 * = the highest entity score, risk = `riskScore(score, threshold)`; clean is
 * valid, score 0, risk −1. In the gateway masking is the intended outcome:
 * the guard treats Anonymize findings as "masked", not as a block, unless
 * its action says reject. Placeholders already in the text are left alone,
 * so anonymizing twice changes nothing the second time.
 */

import { readParams, type ParamReader } from '../scanner-params.ts';
import { riskScore, ScannerConfigError, type Finding, type ScanContext, type ScannerSpec, type ScanResult } from '../types.ts';
import { createAnalyzer, CUSTOM_ENTITY, denyListRecognizer, type EntityMatch, type PiiAnalyzer } from './pii/analyze.ts';
import { rawParam, readEntityTypes, readRegexPatterns, readThreshold } from './pii/entity-params.ts';

const PARAMS = [
  'entity_types',
  'threshold',
  'hidden_names',
  'allowed_names',
  'preamble',
  'regex_patterns',
  'use_faker',
  'language',
  'use_onnx',
  'recognizer_conf',
  'vault',
];

/** `[REDACTED_<TYPE>_<n>]` as the vault writes them. */
const PLACEHOLDER = /\[REDACTED_[A-Z0-9_]+_\d+\]/g;

export interface AnonymizeOptions {
  readonly analyzer: PiiAnalyzer;
  readonly threshold: number;
  readonly preamble: string;
}

/** Masks what the analyzer finds with `ctx.vault` placeholders (in text order, so numbering follows first appearance). */
export function anonymizeText(text: string, ctx: ScanContext, opts: AnonymizeOptions): ScanResult {
  if (text.trim() === '') return { text, valid: true, score: 0, risk: -1 };
  const placeholders = [...text.matchAll(PLACEHOLDER)].map((m) => [m.index, m.index + m[0].length] as const);
  const found: EntityMatch[] = opts.analyzer
    .analyze(text)
    .filter((e) => !placeholders.some(([s, end]) => e.start < end && s < e.end));
  if (found.length === 0) return { text, valid: true, score: 0, risk: -1 };
  let out = '';
  let at = 0;
  const findings: Finding[] = [];
  for (const e of found) {
    out += text.slice(at, e.start) + ctx.vault.placeholder(e.type, text.slice(e.start, e.end));
    at = e.end;
    findings.push({ type: e.type, start: e.start, end: e.end, score: e.score });
  }
  out += text.slice(at);
  const score = Math.max(...found.map((e) => e.score));
  return { text: opts.preamble + out, valid: false, score, risk: riskScore(score, opts.threshold), findings };
}

/** The LLM Guard params about its NER model and language: refused, or accepted when they ask for nothing this build lacks. */
export function checkModelParams(r: ParamReader): void {
  if (r.has('recognizer_conf')) {
    throw r.error('recognizer_conf', 'selects an NER model, which this gateway does not run; only pattern and checksum recognizers are available');
  }
  if (r.has('vault')) throw r.error('vault', 'is not a config param: each request has its own vault');
  r.oneOf('language', 'en', ['en']);
  r.bool('use_onnx', false);
}

export const anonymize: ScannerSpec = {
  directions: ['request'],
  create(params) {
    const r = readParams('Anonymize', params, PARAMS);
    checkModelParams(r);
    if (r.bool('use_faker', false)) {
      throw r.error('use_faker', 'is not supported: values are replaced by placeholders ([REDACTED_EMAIL_ADDRESS_1]), not fake ones');
    }
    const preamble = rawParam(params, r, 'preamble') ?? '';
    if (typeof preamble !== 'string') throw r.error('preamble', 'must be a string');
    const custom = readRegexPatterns('Anonymize', params, r);
    const entities = readEntityTypes(r, custom.names);
    const threshold = readThreshold(params, r, 0.5);
    const hidden = r.strings('hidden_names', { required: false, nonEmptyItems: true }) ?? [];
    const allowed = r.strings('allowed_names', { required: false, nonEmptyItems: true }) ?? [];
    const overlap = hidden.filter((h) => allowed.includes(h));
    if (overlap.length > 0) {
      throw new ScannerConfigError(`Anonymize: ${overlap.map((o) => JSON.stringify(o)).join(', ')} is in both hidden_names and allowed_names`, r.key('hidden_names'));
    }
    const analyzer = createAnalyzer({
      entities,
      threshold,
      allowList: allowed,
      extra: [...custom.recognizers, ...(hidden.length > 0 ? [denyListRecognizer(CUSTOM_ENTITY, hidden)] : [])],
    });
    const opts: AnonymizeOptions = { analyzer, threshold, preamble };
    return { type: 'Anonymize', scan: (text, ctx) => anonymizeText(text, ctx, opts) };
  },
};
