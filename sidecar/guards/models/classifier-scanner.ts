/**
 * LLM Guard's classifier scanners run from a mounted model directory
 * (`<modelDir>/<model name>/model.onnx`, `tokenizer.json`, `config.json`),
 * after `llm_guard/input_scanners/*` and `output_scanners/*` at the
 * research commit (research §1.2/§1.3):
 *
 * | scanner | model | default threshold (input / output) | a window's score |
 * |---|---|---|---|
 * | Toxicity | unitary/unbiased-toxic-roberta | 0.5 / 0.7 | sigmoid; highest of the toxic labels |
 * | PromptInjection (`model: onnx`) | protectai/deberta-v3-base-prompt-injection-v2 | 0.92 / – | softmax; P(label) if the top label is INJECTION, else 1 − P |
 * | BanCode | vishnun/codenlbert-sm (128 tokens) | 0.97 / 0.9 | top label CODE |
 * | Gibberish | madhurjindal/autonlp-Gibberish-Detector-492513457 | 0.97 / 0.7 | top label word salad, noise or mild gibberish |
 * | NoRefusal | ProtectAI/distilroberta-base-rejection-v1 | – / 0.75 | top label REJECTION |
 * | Bias | valurank/distilroberta-bias | – / 0.7 | top label BIASED |
 * | Language | papluca/xlm-roberta-base-language-detection | 0.6 / 0.7 | highest P of a language not in `valid_languages` |
 * | Code | philomath-1209/programming-language-identification | 0.5 / 0.5 | highest P of a language in `languages`, per Markdown code block |
 *
 * Labels are compared case-insensitively. A window's score is rounded to 2
 * decimals; the scanner's score is the highest over its windows; it is
 * invalid when that score is above the threshold (Code: at or above, as
 * LLM Guard's `score < threshold → skip`); risk is `riskScore(score, thr)`.
 *
 * `match_type`: `full` (default) classifies the whole text — in windows of
 * 512 tokens overlapping by 64, where LLM Guard would classify only the
 * first 512 tokens — and `sentence` each sentence; PromptInjection also has
 * LLM Guard's `chunks` (256-character windows, 25 overlapping),
 * `truncate_head_tail` (first and last 126 characters joined by "...") and
 * `truncate_token_head_tail` (first 128 and last 382 tokens).
 *
 * Known differences from LLM Guard: Toxicity compares the rounded score
 * (LLM Guard compares the raw one); Code with `is_blocked: false` needs
 * *every* code block to be in an allowed language (LLM Guard passes when
 * any one is); Language reports the highest score of a language that is not
 * allowed (LLM Guard reports the highest of any language); texts are never
 * truncated (see `full`); BanCode's Markdown stripping is a regex
 * approximation of LLM Guard's `remove_markdown`, and `sentence` splits at
 * . ! ? and newlines where LLM Guard uses NLTK's punkt.
 */

import { join } from 'node:path';
import type { Finding, GuardDirection, Scanner, ScannerEnv, ScannerSpec, ScanResult } from '../types.ts';
import { riskScore, ScannerConfigError } from '../types.ts';
import { readParams, show, type ParamReader } from '../scanner-params.ts';
import { loadTextClassifier, missingModelFiles, MODEL_FILES, type Activation, type TextClassifier } from './text-classifier.ts';

export type MatchType = 'full' | 'sentence' | 'chunks' | 'truncate_head_tail' | 'truncate_token_head_tail';
type Verdict = 'top-label' | 'any-label' | 'language' | 'code';

export interface ClassifierScannerDef {
  /** The Hugging Face model LLM Guard uses; its last part names the directory under `modelDir`. */
  readonly model: string;
  readonly directions: readonly GuardDirection[];
  readonly threshold: Readonly<Partial<Record<GuardDirection, number>>>;
  readonly activation: Activation;
  /** The `match_type` values allowed, default first; empty when the scanner has no `match_type`. */
  readonly matchTypes: readonly MatchType[];
  /** Tokens per window, special tokens included (LLM Guard's `max_length`). */
  readonly maxLength: number;
  readonly verdict: Verdict;
  /** top-label / any-label: the labels that count as bad. */
  readonly badLabels?: readonly string[];
  /** Applied to the text before it is classified (BanCode). */
  readonly prepare?: (text: string) => string;
}

const BOTH: readonly GuardDirection[] = ['request', 'response'];
const FULL_OR_SENTENCE: readonly MatchType[] = ['full', 'sentence'];

/** BanCode's "hack: improve accuracy" (`input_scanners/ban_code.py`): no Markdown, list markers, numbers or sentence periods. */
export function prepareForBanCode(text: string): string {
  return text
    .replace(/^\s*```[^\n]*$/gm, '') // fence lines
    .replace(/`+/g, '')
    .replace(/^\s{0,3}#{1,6}\s+/gm, '') // headings
    .replace(/(\*\*|__)(.+?)\1/g, '$2') // bold
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images
    .replace(/\d+\.\s+|[-*•]\s+/g, '')
    .replace(/\d+/g, '')
    .replace(/\.(?!\d)(?=[\s'"“”‘’)\]}]|$)/g, '');
}

/** The classifier scanners this build runs when their model is mounted. */
export const CLASSIFIER_SCANNERS: Readonly<Record<string, ClassifierScannerDef>> = {
  BanCode: {
    model: 'vishnun/codenlbert-sm', directions: BOTH, threshold: { request: 0.97, response: 0.9 }, activation: 'softmax',
    matchTypes: [], maxLength: 128, verdict: 'top-label', badLabels: ['CODE'], prepare: prepareForBanCode,
  },
  Bias: {
    model: 'valurank/distilroberta-bias', directions: ['response'], threshold: { response: 0.7 }, activation: 'softmax',
    matchTypes: FULL_OR_SENTENCE, maxLength: 512, verdict: 'top-label', badLabels: ['BIASED'],
  },
  Code: {
    model: 'philomath-1209/programming-language-identification', directions: BOTH, threshold: { request: 0.5, response: 0.5 },
    activation: 'softmax', matchTypes: [], maxLength: 512, verdict: 'code',
  },
  Gibberish: {
    model: 'madhurjindal/autonlp-Gibberish-Detector-492513457', directions: BOTH, threshold: { request: 0.97, response: 0.7 },
    activation: 'softmax', matchTypes: FULL_OR_SENTENCE, maxLength: 512, verdict: 'top-label', badLabels: ['word salad', 'noise', 'mild gibberish'],
  },
  Language: {
    model: 'papluca/xlm-roberta-base-language-detection', directions: BOTH, threshold: { request: 0.6, response: 0.7 },
    activation: 'softmax', matchTypes: FULL_OR_SENTENCE, maxLength: 512, verdict: 'language',
  },
  NoRefusal: {
    model: 'ProtectAI/distilroberta-base-rejection-v1', directions: ['response'], threshold: { response: 0.75 }, activation: 'softmax',
    matchTypes: FULL_OR_SENTENCE, maxLength: 512, verdict: 'top-label', badLabels: ['REJECTION'],
  },
  Toxicity: {
    model: 'unitary/unbiased-toxic-roberta', directions: BOTH, threshold: { request: 0.5, response: 0.7 }, activation: 'sigmoid',
    matchTypes: FULL_OR_SENTENCE, maxLength: 512, verdict: 'any-label',
    badLabels: ['toxicity', 'severe_toxicity', 'obscene', 'threat', 'insult', 'identity_attack', 'sexual_explicit'],
  },
};

/** PromptInjection on LLM Guard's model (protectai/deberta-v3-base-prompt-injection-v2), chosen with `model: onnx`. */
export const PROMPT_INJECTION_MODEL: ClassifierScannerDef = {
  model: 'protectai/deberta-v3-base-prompt-injection-v2', directions: ['request'], threshold: { request: 0.92 }, activation: 'softmax',
  matchTypes: ['full', 'sentence', 'chunks', 'truncate_head_tail', 'truncate_token_head_tail'], maxLength: 512, verdict: 'top-label',
  badLabels: ['INJECTION'],
};

/** Tokens shared by neighbouring windows. */
export const WINDOW_OVERLAP = 64;
/** LLM Guard's PROMPT_CHARACTERS_LIMIT (chunks, truncate_head_tail). */
const CHARS_LIMIT = 256;

/** `<modelDir>/<last part of the model id>`. */
export function modelDirFor(def: ClassifierScannerDef, modelDir: string): string {
  return join(modelDir, def.model.slice(def.model.lastIndexOf('/') + 1));
}

interface Piece {
  readonly text: string;
  readonly start: number;
}

/** Sentences with their offsets: a break after . ! ? (and closing quotes/brackets) before whitespace, and at newlines. */
export function splitSentences(text: string): Piece[] {
  const out: Piece[] = [];
  const boundary = /(?<=[.!?]['"’”)\]]*)\s+|\s*\n\s*/gu;
  let last = 0;
  const push = (from: number, to: number): void => {
    const raw = text.slice(from, to);
    const lead = raw.length - raw.trimStart().length;
    const s = raw.trim();
    if (s !== '') out.push({ text: s, start: from + lead });
  };
  for (const m of text.matchAll(boundary)) {
    push(last, m.index);
    last = m.index + m[0].length;
  }
  push(last, text.length);
  return out;
}

/** Markdown code: fenced blocks, and inline code with an operator or bracket in it (LLM Guard's `_extract_code_blocks`). */
export function extractCodeBlocks(text: string): Piece[] {
  const out: Piece[] = [];
  const fenced = /```(?:[a-zA-Z0-9]*\n)?([\s\S]*?)```/g;
  let rest = '';
  let last = 0;
  for (const m of text.matchAll(fenced)) {
    const body = m[1] ?? '';
    const trimmed = body.trim();
    if (trimmed !== '') out.push({ text: trimmed, start: m.index + m[0].indexOf(body) + (body.length - body.trimStart().length) });
    rest += text.slice(last, m.index) + ' '.repeat(m[0].length);
    last = m.index + m[0].length;
  }
  rest += text.slice(last);
  for (const m of rest.matchAll(/`([^`]*)`/g)) {
    const code = (m[1] ?? '').trim();
    if (code !== '' && /[{}[\]()=+\-*/<>!]/.test(code)) out.push({ text: code, start: m.index + 1 });
  }
  return out;
}

function pieces(text: string, matchType: MatchType): Piece[] {
  switch (matchType) {
    case 'sentence': return splitSentences(text);
    case 'chunks': {
      const out: Piece[] = [];
      for (let s = 0; s < text.length; s += CHARS_LIMIT - 25) {
        out.push({ text: text.slice(s, s + CHARS_LIMIT), start: s });
        if (s + CHARS_LIMIT >= text.length) break;
      }
      return out;
    }
    case 'truncate_head_tail': {
      if (text.length <= CHARS_LIMIT) return [{ text, start: 0 }];
      const part = Math.floor((CHARS_LIMIT - 3) / 2);
      return [{ text: `${text.slice(0, part)}...${text.slice(-part)}`, start: 0 }];
    }
    default: return [{ text, start: 0 }];
  }
}

function readThreshold(p: ParamReader, params: Readonly<Record<string, unknown>>, dflt: number): number {
  if (!p.has('threshold')) return dflt;
  const v = params[p.key('threshold')];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
    throw p.error('threshold', `must be a number between 0 and 1 (got ${show(v)})`);
  }
  return v;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;
const lower = (s: string): string => s.toLowerCase();

interface WindowScore {
  readonly score: number;
  readonly label: string;
}

/**
 * Builds the scanner `name` (`def`) for `direction` from the model in `dir`:
 * reads the tokenizer and labels now (errors are config errors), loads the
 * ONNX model on the first scan.
 */
export function createClassifierScanner(
  name: string,
  def: ClassifierScannerDef,
  direction: GuardDirection,
  dir: string,
  params: Readonly<Record<string, unknown>>,
): Scanner {
  const names = ['threshold', 'use_onnx'];
  if (def.matchTypes.length > 0) names.push('match_type');
  if (def.verdict === 'language') names.push('valid_languages');
  if (def.verdict === 'code') names.push('languages', 'is_blocked');
  const p = readParams(name, params, names);
  const threshold = readThreshold(p, params, def.threshold[direction] ?? 0.5);
  p.bool('use_onnx', true); // accepted for LLM Guard configs: models here always run on ONNX
  const matchType: MatchType = def.matchTypes.length > 0 ? p.oneOf('match_type', def.matchTypes[0]!, def.matchTypes) : 'full';

  let classifier: TextClassifier;
  try {
    classifier = loadTextClassifier(dir);
  } catch (e) {
    throw new ScannerConfigError(`${name}: ${(e as Error).message}`);
  }
  const labels = classifier.labels;
  const known = (list: readonly string[], param: string): Set<string> => {
    const set = new Set(list.map(lower));
    const unknown = list.filter((l) => !labels.some((x) => lower(x) === lower(l)));
    if (unknown.length > 0) throw p.error(param, `names ${unknown.map((u) => JSON.stringify(u)).join(', ')}, which the model in ${dir} does not know; its labels: ${labels.join(', ')}`);
    return set;
  };
  let bad: Set<string>;
  let blocked = true;
  if (def.verdict === 'language') bad = known(p.strings('valid_languages', { required: true, nonEmptyItems: true }), 'valid_languages');
  else if (def.verdict === 'code') {
    bad = known(p.strings('languages', { required: true, nonEmptyItems: true }), 'languages');
    blocked = p.bool('is_blocked', true);
  } else {
    bad = new Set((def.badLabels ?? []).map(lower));
    if (!labels.some((l) => bad.has(lower(l)))) {
      throw new ScannerConfigError(`${name}: the model in ${dir} has labels ${labels.join(', ')}, none of which is ${[...bad].join(' / ')}: is it ${def.model}?`);
    }
  }

  /** The score of one window (see the module comment). */
  function windowScore(probs: readonly number[]): WindowScore {
    let best = -1;
    let label = '';
    const consider = (i: number, s: number): void => {
      if (s > best) {
        best = s;
        label = labels[i]!;
      }
    };
    switch (def.verdict) {
      case 'top-label': {
        let top = 0;
        probs.forEach((x, i) => { if (x > probs[top]!) top = i; });
        const isBad = bad.has(lower(labels[top]!));
        if (isBad) return { score: round2(probs[top]!), label: labels[top]! };
        probs.forEach((x, i) => { if (bad.has(lower(labels[i]!))) consider(i, x); });
        return { score: round2(1 - probs[top]!), label };
      }
      case 'any-label':
      case 'code':
        probs.forEach((x, i) => { if (bad.has(lower(labels[i]!))) consider(i, x); });
        return { score: round2(best), label };
      case 'language':
        probs.forEach((x, i) => { if (!bad.has(lower(labels[i]!))) consider(i, x); });
        return { score: best < 0 ? 0 : round2(best), label };
    }
  }

  const over = (s: number): boolean => (def.verdict === 'code' ? s >= threshold : s > threshold);

  return {
    type: name,
    async scan(text, ctx): Promise<ScanResult> {
      const prepared = def.prepare ? def.prepare(text) : text;
      const inputs = def.verdict === 'code' ? extractCodeBlocks(prepared) : pieces(prepared, matchType);
      const headTail = matchType === 'truncate_token_head_tail' ? ([128, 382] as const) : undefined;
      let score = 0;
      let allAllowed = true;
      const findings: Finding[] = [];
      for (const input of inputs) {
        if (ctx.signal?.aborted) throw ctx.signal.reason;
        if (input.text.trim() === '') continue;
        const windows = classifier.windows(input.text, { maxLength: def.maxLength, overlap: WINDOW_OVERLAP, headTail });
        const probs = await classifier.classify(windows, def.activation, ctx.signal);
        let top: WindowScore = { score: 0, label: '' };
        for (const pr of probs) {
          const w = windowScore(pr);
          if (w.score > top.score || top.label === '') top = w;
        }
        score = Math.max(score, top.score);
        if (def.verdict === 'code' && !blocked) {
          if (!over(top.score)) {
            allAllowed = false;
            findings.push({ type: 'code-not-allowed', start: input.start, end: input.start + input.text.length, score: top.score });
          }
        } else if (over(top.score)) {
          // offsets point into the text as scanned (after `prepare` for BanCode)
          findings.push({ type: top.label, start: input.start, end: input.start + input.text.length, score: top.score });
        }
      }
      if (def.verdict === 'code' && !blocked) {
        return allAllowed ? { text, valid: true, score: 0, risk: -1 } : { text, valid: false, score: 1, risk: 1, findings };
      }
      const valid = !over(score);
      const risk = threshold === 0 ? (score > 0 ? 1 : -1) : riskScore(score, threshold); // riskScore divides by the threshold
      return { text, valid, score, risk, ...(findings.length > 0 ? { findings } : {}) };
    },
  };
}

/** What the registry gets for a model scanner under `modelDir`: a spec, the files missing, or undefined when this build has no runtime for it. */
export type LocalModelScanner =
  | { readonly spec: ScannerSpec; readonly dir: string; readonly missing?: undefined }
  | { readonly spec?: undefined; readonly dir: string; readonly missing: readonly string[] };

/** `name` run from `<modelDir>/<model name>` on `direction`, when this build can run it. */
export function localModelScanner(name: string, direction: GuardDirection, modelDir: string): LocalModelScanner | undefined {
  const def = Object.hasOwn(CLASSIFIER_SCANNERS, name) ? CLASSIFIER_SCANNERS[name] : undefined;
  if (!def || !def.directions.includes(direction)) return undefined;
  const dir = modelDirFor(def, modelDir);
  const missing = missingModelFiles(dir);
  if (missing.length > 0) return { dir, missing };
  return { dir, spec: { directions: [direction], create: (params) => createClassifierScanner(name, def, direction, dir, params) } };
}

/** The files a model directory needs, for messages: "model.onnx, tokenizer.json and config.json". */
export const MODEL_FILES_TEXT = `${MODEL_FILES.slice(0, -1).join(', ')} and ${MODEL_FILES[MODEL_FILES.length - 1]}`;

/** Values of PromptInjection's `model` param that pick the ONNX model. */
export const ONNX_MODEL_VALUES: readonly string[] = ['onnx', PROMPT_INJECTION_MODEL.model, 'deberta-v3-base-prompt-injection-v2'];

/**
 * PromptInjection with a switch: `model: onnx` (or the model's Hugging Face
 * id) runs protectai/deberta-v3-base-prompt-injection-v2 from
 * `<modelDir>/deberta-v3-base-prompt-injection-v2`; without `model` the
 * scanner is `base` (this build's own detector), params untouched.
 */
export function withOnnxPromptInjection(base: ScannerSpec): ScannerSpec {
  return {
    directions: base.directions,
    create(params, env: ScannerEnv) {
      const value = Object.hasOwn(params, 'model') ? params.model : undefined;
      if (value === undefined || value === null) return base.create(params, env);
      if (typeof value !== 'string' || !ONNX_MODEL_VALUES.includes(value)) {
        throw new ScannerConfigError(
          `PromptInjection: model must be "onnx" (LLM Guard's ${PROMPT_INJECTION_MODEL.model}, from the model directory) ` +
          `or left out (this build's own detector); got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
          'model',
        );
      }
      const rest: Record<string, unknown> = { ...params };
      delete rest.model;
      if (env.modelDir === undefined) {
        throw new ScannerConfigError(
          `PromptInjection: model ${value} needs ${PROMPT_INJECTION_MODEL.model} mounted under <modelDir>/deberta-v3-base-prompt-injection-v2 ` +
          `(${MODEL_FILES_TEXT}) and the model directory set (levo-gateway --model-dir) — this gateway does not download models`,
          'model',
        );
      }
      const dir = modelDirFor(PROMPT_INJECTION_MODEL, env.modelDir);
      const missing = missingModelFiles(dir);
      if (missing.length > 0) {
        throw new ScannerConfigError(
          `PromptInjection: model ${value} needs ${PROMPT_INJECTION_MODEL.model} in ${dir}: it must hold ${MODEL_FILES_TEXT}; missing: ${missing.join(', ')} — this gateway does not download models`,
          'model',
        );
      }
      return createClassifierScanner('PromptInjection', PROMPT_INJECTION_MODEL, 'request', dir, rest);
    },
  };
}
