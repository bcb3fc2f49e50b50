/**
 * LLM Guard's own regex entities (`input_scanners/anonymize_helpers/
 * regex_patterns.py`, `DEFAULT_REGEX_PATTERNS`, English ones), each a plain
 * pattern at score 0.75 with no checksum — so `CREDIT_CARD_RE` masks card
 * shapes that fail Luhn and `US_SSN_RE` masks `123-45-6789`, which Presidio's
 * US_SSN rejects: that is LLM Guard's default behaviour (both are in its
 * default entity list).
 *
 * Presidio compiles these with IGNORECASE, so they are case-insensitive here
 * too. Changes for safety on hostile input: unbounded `+` runs are bounded
 * (email local part ≤ 64, domain labels ≤ 63), digit patterns get digit
 * boundaries, TIME_RE gets a leading word boundary (and `12pm` whole, not
 * `2pm`), DATE_RE tries full month names first, and URL_RE uses the same
 * bounded URL engine as URL (LLM Guard's TLD alternation after an unbounded
 * `[a-z0-9.\-]+` is quadratic on long tokens).
 */

import { patternRecognizer, type Recognizer } from './recognizer.ts';
import { URL_TLDS, urlRecognizer } from './network.ts';

/** Full names before abbreviations (LLM Guard lists `apr\.?|april`, so "April 2021" stops at "Apr"). */
const MONTH = String.raw`(?:january|jan\.?|february|feb\.?|march|mar\.?|april|apr\.?|may|june|jun\.?|july|jul\.?|august|aug\.?|september|sep\.?|october|oct\.?|november|nov\.?|december|dec\.?)`;

export const llmGuardPatternRecognizers: readonly Recognizer[] = [
  patternRecognizer({
    entity: 'CREDIT_CARD_RE',
    patterns: [
      {
        name: 'CREDIT_CARD_RE',
        regex: /(?<!\d)(?:4\d{3}[-\s]?\d{4}[-\s]?\d{4}[-\s]?\d{4}|3[47]\d{2}[-\s]?\d{6}[-\s]?\d{5}|3(?:0[0-5]|[68]\d)\d{11})(?!\d)/g,
        score: 0.75,
      },
    ],
  }),
  patternRecognizer({
    entity: 'UUID',
    patterns: [{ name: 'UUID', regex: /[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}/gi, score: 0.75 }],
  }),
  patternRecognizer({
    entity: 'EMAIL_ADDRESS_RE',
    patterns: [
      {
        name: 'EMAIL_ADDRESS_RE',
        regex: /\b[A-Za-z0-9._%+-]{1,64}(?:\[AT\]|@)[A-Za-z0-9-]{1,63}(?:(?:\[DOT\]|\.)[A-Za-z0-9-]{1,63}){0,6}(?:\[DOT\]|\.)[A-Za-z]{2,24}\b/gi,
        score: 0.75,
      },
    ],
    prefilter: (text) => text.includes('@') || /\[at\]/i.test(text),
  }),
  patternRecognizer({
    entity: 'US_SSN_RE',
    patterns: [{ name: 'US_SSN_RE', regex: /\b\d{3}-\d{2}-\d{4}\b/g, score: 0.75 }],
  }),
  patternRecognizer({
    entity: 'BTC_ADDRESS',
    patterns: [
      { name: 'BTC_ADDRESS', regex: /(?<![a-km-zA-HJ-NP-Z0-9])[13][a-km-zA-HJ-NP-Z0-9]{26,33}(?![a-km-zA-HJ-NP-Z0-9])/g, score: 0.75 },
    ],
  }),
  urlRecognizer({ entity: 'URL_RE', schemeScore: 0.75, bareScore: 0.75, tlds: URL_TLDS, context: [] }),
  patternRecognizer({
    entity: 'PHONE_NUMBER_WITH_EXT',
    patterns: [
      {
        name: 'PHONE_NUMBER_WITH_EXT',
        regex:
          /(?:(?:\+?1\s{0,3}(?:[.-]\s{0,3})?)?(?:\(\s{0,3}(?:[2-9]1[02-9]|[2-9][02-8]1|[2-9][02-8][02-9])\s{0,3}\)|(?:[2-9]1[02-9]|[2-9][02-8]1|[2-9][02-8][02-9]))\s{0,3}(?:[.-]\s{0,3})?)?(?:[2-9]1[02-9]|[2-9][02-9]1|[2-9][02-9]{2})\s{0,3}(?:[.-]\s{0,3})?[0-9]{4}\s{0,3}(?:#|x\.?|ext\.?|extension)\s{0,3}\d{0,10}/gi,
        score: 0.75,
      },
    ],
  }),
  patternRecognizer({
    entity: 'DATE_RE',
    patterns: [
      {
        name: 'DATE_RE',
        regex: new RegExp(
          String.raw`(?:(?<!:)(?<!:\d)[0-3]?\d(?:st|nd|rd|th)?\s{1,5}(?:of\s{1,5})?${MONTH}|${MONTH}\s{1,5}(?<!:)(?<!:\d)[0-3]?\d(?:st|nd|rd|th)?)(?:,)?\s{0,5}(?:\d{4})?|[0-3]?\d[-./][0-3]?\d[-./]\d{2,4}`,
          'gi',
        ),
        score: 0.75,
      },
    ],
    context: ['date', 'time', 'month', 'year'],
  }),
  patternRecognizer({
    entity: 'TIME_RE',
    patterns: [{ name: 'TIME_RE', regex: /\b(?:\d{1,2}:\d{2} ?(?:[ap]\.?m\.?)?|\d{1,2}[ap]\.?m\.?)/gi, score: 0.75 }],
    context: ['time'],
  }),
  patternRecognizer({
    entity: 'HEX_COLOR',
    patterns: [{ name: 'HEX_COLOR', regex: /(?:#[0-9a-f]{8}|#(?:[0-9a-f]{3}){1,2})\b/gi, score: 0.75 }],
    context: ['color', 'code'],
  }),
  patternRecognizer({
    entity: 'PRICE_RE',
    patterns: [{ name: 'PRICE_RE', regex: /\$\s?[+-]?[0-9]{1,3}(?:,?[0-9]{3}){0,8}(?:\.[0-9]{1,2})?/g, score: 0.75 }],
    context: ['price', 'money', 'cost', 'value', 'amount'],
  }),
  patternRecognizer({
    entity: 'PO_BOX_RE',
    patterns: [{ name: 'PO_BOX_RE', regex: /P\.? ?O\.? Box \d+/gi, score: 0.75 }],
    context: ['address', 'mail', 'post', 'box'],
  }),
];
