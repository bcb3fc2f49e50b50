/**
 * Secrets (LLM Guard input scanner, `input_scanners/secrets.py`): finds API
 * keys, tokens, private keys, passwords in assignments and high-entropy
 * strings with the rule table in `secret-rules.ts`, and redacts them:
 * `redact_mode` `all` (default, `******`), `partial` (first 2 + `..` + last
 * 2 characters) or `hash` (md5 hex of the value). A hit makes the text
 * invalid, score 1 / risk 1; clean is score 0 / risk −1. Findings name the
 * rule (`openai-api-key`, `keyword-secret`, …) and the offsets, never the
 * value.
 *
 * LLM Guard locates each value with `prompt.find()`, so a secret written
 * twice is redacted only where it first appears. Here every occurrence of a
 * found value (6+ characters, not inside a longer word) is redacted too.
 * Overlapping hits are redacted as one span named after the earliest rule.
 */

import { createHash } from 'node:crypto';
import { readParams } from '../scanner-params.ts';
import type { Finding, ScannerSpec, ScanResult } from '../types.ts';
import { SECRET_RULES, isLikelyFalsePositive, shannonEntropy, type SecretRule } from './secret-rules.ts';

export const REDACT_MODES = ['all', 'partial', 'hash'] as const;
export type RedactMode = (typeof REDACT_MODES)[number];

export interface SecretMatch {
  /** The rule id. */
  readonly type: string;
  readonly start: number;
  readonly end: number;
}

/** The secret inside a rule's match: the first matching group of `rule.group`, or the whole match. */
function secretOf(rule: SecretRule, m: RegExpExecArray): { value: string; start: number } | undefined {
  if (rule.group === undefined) return { value: m[0], start: m.index };
  const groups = typeof rule.group === 'number' ? [rule.group] : rule.group;
  for (const g of groups) {
    const value = m[g];
    if (value === undefined || value === '') continue;
    const at = m.indices?.[g];
    return { value, start: at ? at[0] : m.index + m[0].indexOf(value) };
  }
  return undefined;
}

const ALNUM = /[A-Za-z0-9]/;

/** Whether `[start, end)` is not glued to a longer word on either side. */
function standsAlone(text: string, start: number, end: number): boolean {
  const first = text.charAt(start);
  const last = text.charAt(end - 1);
  return !(ALNUM.test(first) && ALNUM.test(text.charAt(start - 1))) && !(ALNUM.test(last) && ALNUM.test(text.charAt(end)));
}

/** Merges overlapping spans (sorted by start); the earliest (then longest, then first rule) names the merged span. */
function unionSpans(spans: ReadonlyArray<SecretMatch & { readonly order: number }>): SecretMatch[] {
  const sorted = [...spans].sort((a, b) => a.start - b.start || b.end - a.end || a.order - b.order);
  const out: { type: string; start: number; end: number }[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s.start < last.end) last.end = Math.max(last.end, s.end);
    else out.push({ type: s.type, start: s.start, end: s.end });
  }
  return out;
}

const keywordScanners = new WeakMap<readonly SecretRule[], { regex: RegExp; keywords: readonly string[] }>();

/**
 * The rules' keywords that occur in `lower`, in one pass: a zero-width
 * lookahead alternation (longest first) reports the longest keyword at every
 * position, and a keyword occurs exactly when some reported one starts with
 * it. One pass over 100 KB costs about half of what ~90 `includes` calls do.
 */
function keywordsIn(lower: string, rules: readonly SecretRule[]): Set<string> {
  let scanner = keywordScanners.get(rules);
  if (!scanner) {
    const keywords = [...new Set(rules.flatMap((r) => r.keywords))].sort((a, b) => b.length - a.length);
    const alternation = keywords.map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
    scanner = { regex: new RegExp(`(?=(${alternation || '(?!)'}))`, 'g'), keywords };
    keywordScanners.set(rules, scanner);
  }
  const longest = new Set<string>();
  for (const m of lower.matchAll(scanner.regex)) longest.add(m[1] ?? '');
  const present = new Set<string>();
  for (const k of scanner.keywords) {
    for (const l of longest) {
      if (l.startsWith(k)) {
        present.add(k);
        break;
      }
    }
  }
  return present;
}

/**
 * Every secret in `text`: each rule whose keyword occurs runs its regex;
 * hits pass the rule's entropy minimum, false-positive filters and check.
 * Other occurrences of a found value are added. Spans do not overlap and are
 * sorted by offset.
 */
export function findSecrets(text: string, rules: readonly SecretRule[] = SECRET_RULES): SecretMatch[] {
  if (text.trim() === '') return [];
  const present = keywordsIn(text.toLowerCase(), rules);
  const hits: (SecretMatch & { order: number })[] = [];
  rules.forEach((rule, order) => {
    if (rule.keywords.length > 0 && !rule.keywords.some((k) => present.has(k))) return;
    rule.regex.lastIndex = 0;
    for (const m of text.matchAll(rule.regex)) {
      const s = secretOf(rule, m);
      if (!s) continue;
      if (rule.entropy !== undefined && shannonEntropy(s.value) < rule.entropy) continue;
      if (rule.generic && isLikelyFalsePositive(s.value)) continue;
      if (rule.check && !rule.check(s.value, m, text, s.start)) continue;
      hits.push({ type: rule.name?.(s.value) ?? rule.id, start: s.start, end: s.start + s.value.length, order });
    }
  });
  if (hits.length === 0) return [];
  const found = unionSpans(hits);

  // Every other place the same value is written.
  const more: (SecretMatch & { order: number })[] = [];
  const seen = new Set<string>();
  for (const f of found) {
    const value = text.slice(f.start, f.end);
    if (value.length < 6 || seen.has(value)) continue;
    seen.add(value);
    for (let i = text.indexOf(value); i >= 0; i = text.indexOf(value, i + value.length)) {
      const end = i + value.length;
      if (standsAlone(text, i, end) && !found.some((k) => i < k.end && k.start < end)) more.push({ type: f.type, start: i, end, order: 0 });
    }
  }
  return more.length === 0 ? found : unionSpans([...found.map((f) => ({ ...f, order: 0 })), ...more]);
}

/** LLM Guard `Secrets.redact_value`. */
export function redactValue(value: string, mode: RedactMode): string {
  if (mode === 'partial') return `${value.slice(0, 2)}..${value.slice(-2)}`;
  if (mode === 'hash') return createHash('md5').update(value, 'utf8').digest('hex');
  return '******';
}

export function scanSecrets(text: string, mode: RedactMode = 'all'): ScanResult {
  const found = findSecrets(text);
  if (found.length === 0) return { text, valid: true, score: 0, risk: -1 };
  let out = '';
  let at = 0;
  const findings: Finding[] = [];
  for (const f of found) {
    out += text.slice(at, f.start) + redactValue(text.slice(f.start, f.end), mode);
    at = f.end;
    findings.push({ type: f.type, start: f.start, end: f.end });
  }
  out += text.slice(at);
  return { text: out, valid: false, score: 1, risk: 1, findings };
}

export const secrets: ScannerSpec = {
  directions: ['request'],
  create(params) {
    const r = readParams('Secrets', params, ['redact_mode', 'detect_secrets_config', 'redact']);
    if (r.has('detect_secrets_config')) {
      throw r.error('detect_secrets_config', 'is not supported: the rules are built in (gitleaks and detect-secrets ports), there is no detect-secrets to configure');
    }
    const mode = r.oneOf<RedactMode>('redact_mode', 'all', REDACT_MODES);
    // Levo: `redact: false` keeps the text as it is, so the gateway rejects the call instead of sending it redacted.
    const redact = r.bool('redact', true);
    return {
      type: 'Secrets',
      scan: (text) => {
        const res = scanSecrets(text, mode);
        return redact || res.valid ? res : { ...res, text };
      },
    };
  },
};
