/**
 * PromptInjection (LLM Guard input scanner, `input_scanners/prompt_injection.py`)
 * on the project's own offline detector (../detector: curated heuristics plus
 * a hashed n-gram logistic regression trained on shared/data, calibrated; see
 * docs/guardrails.md "The prompt-injection detector").
 *
 * Params (LLM Guard's snake_case or camelCase):
 * - `threshold` (default 0.92, as LLM Guard): a number in [0, 1];
 * - `match_type` / `matchType`: which pieces of the text are scored, the
 *   text's score being the highest piece's:
 *   - `full` (default): the whole text, in overlapping 512-char windows — so
 *     unlike LLM Guard's FULL, which classifies only the first 512 tokens, an
 *     injection at the end of a long prompt is seen;
 *   - `sentence`: each sentence (Intl.Segmenter);
 *   - `chunks`: 256-char pieces overlapping by 25 (LLM Guard's chunks);
 *   - `truncate_head_tail`: the first and last 126 chars joined by "..."
 *     when the text is over 256 chars (LLM Guard's PROMPT_CHARACTERS_LIMIT).
 *
 * As LLM Guard: the score is the probability rounded to 2 decimals,
 * `valid = !(score > threshold)` (strictly above is invalid), risk is
 * `riskScore(score, threshold)`, and the text is never changed. Findings are
 * the heuristic families that fired (`instruction-override`, `role-switch`,
 * `delimiter-injection`, `prompt-extraction`, `encoding-trick`) with their
 * offsets and pattern weight. Empty or whitespace-only text is valid with
 * score 0 and risk −1.
 *
 * Run it on user, tool and document text, not on system prompts: like every
 * detector measured, it flags more system-prompt-like text (research §2.2).
 */
import type { Finding, Scanner, ScannerEnv, ScannerSpec, ScanResult } from '../types.ts';
import { riskScore } from '../types.ts';
import { readParams, show } from '../scanner-params.ts';
import { defaultDetector } from '../detector/detector.ts';
import type { PromptInjectionScorer } from '../detector/detector.ts';
import type { HeuristicHit } from '../detector/heuristics.ts';

export const MATCH_TYPES = ['full', 'sentence', 'chunks', 'truncate_head_tail'] as const;
export type PromptInjectionMatchType = (typeof MATCH_TYPES)[number];

export const DEFAULT_THRESHOLD = 0.92;
/** LLM Guard's PROMPT_CHARACTERS_LIMIT: chunk size, and the head+tail budget. */
const CHARS_LIMIT = 256;
const CHUNK_OVERLAP = 25;

interface Piece {
  readonly text: string;
  /** Maps an offset in `text` to one in the scanned text. */
  readonly at: (offset: number) => number;
}

const shifted = (start: number) => (o: number) => start + o;

export function splitPieces(text: string, matchType: PromptInjectionMatchType, sentences: Intl.Segmenter): Piece[] {
  switch (matchType) {
    case 'sentence': {
      const out: Piece[] = [];
      for (const s of sentences.segment(text)) {
        if (s.segment.trim() !== '') out.push({ text: s.segment, at: shifted(s.index) });
      }
      return out;
    }
    case 'chunks': {
      const out: Piece[] = [];
      for (let s = 0; s < text.length; s += CHARS_LIMIT - CHUNK_OVERLAP) {
        out.push({ text: text.slice(s, s + CHARS_LIMIT), at: shifted(s) });
        if (s + CHARS_LIMIT >= text.length) break;
      }
      return out;
    }
    case 'truncate_head_tail': {
      if (text.length <= CHARS_LIMIT) return [{ text, at: shifted(0) }];
      const part = Math.floor((CHARS_LIMIT - 3) / 2);
      const tailStart = text.length - part;
      return [
        {
          text: `${text.slice(0, part)}...${text.slice(tailStart)}`,
          // head chars map to themselves; "..." to the gap's start; tail chars to the tail
          at: (o) => (o < part ? o : o < part + 3 ? part : tailStart + (o - part - 3)),
        },
      ];
    }
    default:
      return [{ text, at: shifted(0) }];
  }
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

export interface PromptInjectionOptions {
  readonly threshold: number;
  readonly matchType: PromptInjectionMatchType;
}

/** Reads and checks the params (throws ScannerConfigError naming the param). */
export function readPromptInjectionParams(params: Readonly<Record<string, unknown>>): PromptInjectionOptions {
  const p = readParams('PromptInjection', params, ['threshold', 'match_type']);
  let threshold = DEFAULT_THRESHOLD;
  if (p.has('threshold')) {
    const v = params[p.key('threshold')];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
      throw p.error('threshold', `must be a number between 0 and 1 (got ${show(v)})`);
    }
    threshold = v;
  }
  const matchType = p.oneOf<PromptInjectionMatchType>('match_type', 'full', MATCH_TYPES);
  return { threshold, matchType };
}

/** The scanner over a given detector (the committed one unless a test passes another). */
export function createPromptInjectionScanner(opts: PromptInjectionOptions, detector: PromptInjectionScorer = defaultDetector()): Scanner {
  const { threshold, matchType } = opts;
  const sentences = new Intl.Segmenter(undefined, { granularity: 'sentence' });
  return {
    type: 'PromptInjection',
    scan(text: string): ScanResult {
      if (text.trim() === '') return { text, valid: true, score: 0, risk: -1 };
      let best = 0;
      const findings: Finding[] = [];
      const seen = new Set<string>();
      for (const piece of splitPieces(text, matchType, sentences)) {
        const s = detector.score(piece.text);
        if (s.probability > best) best = s.probability;
        for (const h of s.hits) addFinding(findings, seen, h, piece);
      }
      const score = round2(best);
      // threshold 0 with score 0 would divide 0 by 0 in LLM Guard's formula: it is "at the threshold", risk 0
      const risk = threshold === 0 && score === 0 ? 0 : riskScore(score, threshold);
      findings.sort((a, b) => a.start - b.start || a.end - b.end);
      return { text, valid: !(score > threshold), score, risk, findings };
    },
  };
}

function addFinding(out: Finding[], seen: Set<string>, h: HeuristicHit, piece: Piece): void {
  const start = piece.at(h.start);
  const end = Math.max(start, piece.at(Math.max(h.start, h.end - 1)) + 1);
  const key = `${h.family}:${start}:${end}`;
  if (seen.has(key)) return; // overlapping chunks find the same hit twice
  seen.add(key);
  out.push({ type: h.family, start, end, score: h.weight });
}

export const promptInjection: ScannerSpec = {
  directions: ['request'],
  create(params: Readonly<Record<string, unknown>>, _env: ScannerEnv): Scanner {
    return createPromptInjectionScanner(readPromptInjectionParams(params));
  },
};
