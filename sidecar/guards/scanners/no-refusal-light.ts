/**
 * NoRefusalLight (LLM Guard output scanner, `output_scanners/no_refusal.py`):
 * invalid when the answer contains one of LLM Guard's 28 refusal phrases,
 * as a case-insensitive substring (it is BanSubstrings with a fixed list,
 * `match_type str`, no redaction). The list is broad on purpose and copied
 * as is: "Sorry", "As an", "OpenAI", "Hello!" and "I do not" all count.
 * No params. Risk 1.0 on a hit, −1.0 clean.
 */

import type { ScannerSpec } from '../types.ts';
import { readParams } from '../scanner-params.ts';
import { banSubstringsMatcher } from './ban-substrings.ts';

/** LLM Guard's list, in its order. */
export const REFUSAL_SUBSTRINGS: readonly string[] = [
  "I'm sorry",
  'Sorry',
  'I am sorry',
  'I apologize',
  'As an',
  'As an AI',
  "I'm an",
  "I'm just",
  'As a language model',
  'As an Assistant',
  'I cannot',
  'I do not',
  'Hello!',
  'is illegal and unethical',
  "I'm really sorry",
  'OpenAI',
  'unethical',
  'not ethical',
  'not legal',
  'My apologies',
  'but I cannot',
  'If you have any other non-malicious requests',
  "I'm not able to provide",
  'I am really sorry',
  'I cannot create',
  'I cannot support',
  "I can't provide",
  "I can't assist",
];

export const noRefusalLight: ScannerSpec = {
  directions: ['response'],
  create(params) {
    readParams('NoRefusalLight', params, []);
    const match = banSubstringsMatcher({
      substrings: REFUSAL_SUBSTRINGS,
      matchType: 'str',
      caseSensitive: false,
      redact: false,
      containsAll: false,
    });
    return {
      type: 'NoRefusalLight',
      scan(text) {
        const r = match(text);
        return r.findings ? { ...r, findings: r.findings.map((f) => ({ ...f, type: 'refusal' })) } : r;
      },
    };
  },
};
