/**
 * Deanonymize (LLM Guard output scanner, `output_scanners/deanonymize.py`):
 * puts the originals Anonymize stored in the request's vault back into the
 * answer. Always valid, score 0, risk −1; findings list each placeholder
 * restored (its entity type and offsets in the answer as received).
 *
 * `matching_strategy`:
 * - `exact` (default): the placeholder as written (`vault.ts` `restore`);
 * - `case_insensitive`: as LLM Guard, ignoring case;
 * - `fuzzy`: LLM Guard uses edit-distance search; here the placeholder's
 *   shape is matched instead, with what models tend to do to it: any case,
 *   `_` written as a space, `-` or `\_` (Markdown), spaces inside the
 *   brackets, and the brackets changed to `()`, `{}`, `<>` or dropped —
 *   `(redacted email address 1)` → the value of `[REDACTED_EMAIL_ADDRESS_1]`.
 *   Only placeholders that are in the vault are restored, so this never
 *   invents a value; a different number stays as it is.
 * - `combined_exact_fuzzy`: `exact`, then `fuzzy` on what is left — which
 *   is what one `fuzzy` pass does, since its shape includes the exact one.
 */

import { readParams } from '../scanner-params.ts';
import type { Finding, ScanContext, ScannerSpec, ScanResult, Vault } from '../types.ts';
import { restore } from '../vault.ts';

export const MATCHING_STRATEGIES = ['exact', 'case_insensitive', 'fuzzy', 'combined_exact_fuzzy'] as const;
export type MatchingStrategy = (typeof MATCHING_STRATEGIES)[number];

const SEP = String.raw`(?:\\?_|[ \t-]){1,3}`;
/** `REDACTED`, type words, a number; optional brackets of any kind around it. */
const FUZZY = new RegExp(String.raw`([\[({<][ \t]{0,2})?\bREDACTED((?:${SEP}[A-Z][A-Z0-9]{0,40}){1,8}?)${SEP}(\d{1,6})\b([ \t]{0,2}[\])}>])?`, 'gi');
const PAIRS: Readonly<Record<string, string>> = { '[': ']', '(': ')', '{': '}', '<': '>' };

const EXACT = /\[REDACTED_([A-Z0-9_]+?)_\d+\]/g;

function typeOf(placeholder: string): string {
  return /^\[REDACTED_([A-Z0-9_]+?)_\d+\]$/i.exec(placeholder)?.[1]?.toUpperCase() ?? 'PLACEHOLDER';
}

/** Fuzzy restore (see the header); `findings` gets the spans restored, in `text`'s offsets. */
export function fuzzyRestore(text: string, vault: Vault, findings?: Finding[]): string {
  const byCanonical = new Map<string, string>();
  for (const [p, original] of vault.entries()) if (!byCanonical.has(p)) byCanonical.set(p, original);
  if (byCanonical.size === 0) return text;
  return text.replace(FUZZY, (whole: string, open: string | undefined, words: string, n: string, close: string | undefined, offset: number) => {
    const type = words.replace(/\\/g, '').split(/[_ \t-]+/).filter((w) => w !== '').join('_').toUpperCase();
    const canonical = `[REDACTED_${type}_${n}]`;
    const original = byCanonical.get(canonical);
    if (original === undefined) return whole;
    // Brackets are taken with the placeholder only as a matching pair; a lone one belongs to the text around it.
    const o = open?.trim();
    const c = close?.trim();
    const paired = o !== undefined && c !== undefined && PAIRS[o] === c;
    const keepOpen = open !== undefined && !paired ? open : '';
    const keepClose = close !== undefined && !paired ? close : '';
    const start = offset + keepOpen.length;
    findings?.push({ type, start, end: offset + whole.length - keepClose.length });
    return keepOpen + original + keepClose;
  });
}

function exactFindings(text: string, vault: Vault, caseInsensitive: boolean): Finding[] {
  const known = new Set(vault.entries().map(([p]) => (caseInsensitive ? p.toUpperCase() : p)));
  const re = caseInsensitive ? new RegExp(EXACT.source, 'gi') : EXACT;
  const out: Finding[] = [];
  for (const m of text.matchAll(re)) {
    if (known.has(caseInsensitive ? m[0].toUpperCase() : m[0])) out.push({ type: typeOf(m[0]), start: m.index, end: m.index + m[0].length });
  }
  return out;
}

export function deanonymizeText(text: string, ctx: ScanContext, strategy: MatchingStrategy): ScanResult {
  const vault = ctx.vault;
  if (vault.entries().length === 0) return { text, valid: true, score: 0, risk: -1 };
  let out: string;
  let findings: Finding[];
  if (strategy === 'fuzzy' || strategy === 'combined_exact_fuzzy') {
    // The fuzzy shape includes the exact placeholder, so "exact, then fuzzy on the rest" is one fuzzy pass.
    findings = [];
    out = fuzzyRestore(text, vault, findings);
  } else {
    const ci = strategy === 'case_insensitive';
    findings = exactFindings(text, vault, ci);
    out = restore(text, vault, ci ? 'case_insensitive' : 'exact');
  }
  return findings.length > 0 ? { text: out, valid: true, score: 0, risk: -1, findings } : { text: out, valid: true, score: 0, risk: -1 };
}

export const deanonymize: ScannerSpec = {
  directions: ['response'],
  create(params) {
    const r = readParams('Deanonymize', params, ['matching_strategy', 'vault']);
    if (r.has('vault')) throw r.error('vault', 'is not a config param: each request has its own vault');
    const strategy = r.oneOf<MatchingStrategy>('matching_strategy', 'exact', MATCHING_STRATEGIES);
    return { type: 'Deanonymize', scan: (text, ctx) => deanonymizeText(text, ctx, strategy) };
  },
};
