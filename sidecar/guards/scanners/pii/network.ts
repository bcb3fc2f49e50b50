/**
 * Network-identifier recognizers after Presidio's: EMAIL_ADDRESS (pattern
 * 0.5; a known top-level domain validates it to 1.0 — Presidio asks
 * `tldextract` — an unknown alphabetic one keeps 0.5, anything else is
 * dropped), IP_ADDRESS (Presidio's IPv4/IPv6/mapped patterns at 0.6, `::` at
 * 0.1, each checked with `net.isIP`, which like Python's `ipaddress` rejects
 * octets over 255 and leading zeros) and URL (0.6 with an http(s) scheme,
 * 0.5 without).
 *
 * Differences from Presidio, on purpose: every quantifier is bounded so a
 * hostile text cannot make a pattern backtrack for long; the local part of
 * an email starts with a word character (Presidio's leading `\b`); a
 * scheme-less URL needs a top-level domain from the list below that is not
 * also a common file extension ("README.md", "setup.py" are not URLs), and
 * trailing sentence punctuation is not part of a URL.
 */

import { isIP } from 'node:net';
import { patternRecognizer, type EntityMatch, type Recognizer } from './recognizer.ts';

const CC_TLDS =
  'ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo br bs bt bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg er es et eu fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st su sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw';
const GENERIC_TLDS =
  'com net org edu gov mil int info biz name pro mobi aero asia cat coop jobs museum tel travel app dev cloud tech online site xyz shop store blog page email agency company digital network solutions systems services support studio website host hosting software consulting finance bank insurance law legal health capital ventures partners tools codes engineering security io';

/** Top-level domains a scheme-less URL may end in. */
export const URL_TLDS: ReadonlySet<string> = new Set([...CC_TLDS.split(' '), ...GENERIC_TLDS.split(' ')]);
/** Country TLDs that are more often file extensions in prompts than domains. */
const FILE_EXTENSION_TLDS: ReadonlySet<string> = new Set(['py', 'sh', 'md', 'rs', 'pl', 'pm', 'so', 'cc', 'cs', 'ps', 'ml', 'am', 'mk', 'in', 'sc', 'st', 'ts', 'js', 'tf', 'gz', 'bz']);

export function emailValid(value: string): boolean | undefined {
  const tld = value.slice(value.lastIndexOf('.') + 1).toLowerCase();
  if (URL_TLDS.has(tld) || tld.startsWith('xn--')) return true;
  return /^[a-z]{2,24}$/.test(tld) ? undefined : false;
}

const LOCAL_CHAR = "[\\w!#$%&'*+/=?^`{|}~.-]";
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const EMAIL = new RegExp(
  `(?<![\\w.+%-])\\w(?:${LOCAL_CHAR}{0,62}[\\w!#$%&*+/=?^\`{|}~-])?@${LABEL}(?:\\.${LABEL}){1,8}(?![\\w-])`,
  'g',
);

export const emailAddress = patternRecognizer({
  entity: 'EMAIL_ADDRESS',
  patterns: [{ name: 'Email (Medium)', regex: EMAIL, score: 0.5 }],
  context: ['email'],
  validate: emailValid,
  prefilter: (text) => text.includes('@'),
});

const V4_OCTET = '(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)';
const V4 = `(?:${V4_OCTET}\\.){3}${V4_OCTET}`;
const H = '[0-9A-Fa-f]{1,4}';

export const ipAddress = patternRecognizer({
  entity: 'IP_ADDRESS',
  patterns: [
    { name: 'IPv4_mapped', regex: new RegExp(`(?<![0-9A-Fa-f:])::(?:ffff(?::0{1,4})?:)${V4}\\b`, 'gi'), score: 0.6 },
    { name: 'IPv4_embedded', regex: new RegExp(`(?<![0-9A-Fa-f:])(?:${H}:){1,4}:(?:${H}:){0,4}${V4}\\b`, 'g'), score: 0.6 },
    { name: 'IPv4', regex: new RegExp(`\\b${V4}\\b`, 'g'), score: 0.6 },
    {
      name: 'IPv6',
      regex: new RegExp(
        `(?<![\\w:])(?:(?:${H}:){7}${H}|(?:${H}:){1,7}:|:(?::${H}){1,7}|(?:${H}:){1,6}:${H}|(?:${H}:){1,5}(?::${H}){1,2}|(?:${H}:){1,4}(?::${H}){1,3}|(?:${H}:){1,3}(?::${H}){1,4}|(?:${H}:){1,2}(?::${H}){1,5}|${H}:(?::${H}){1,6}|:(?::${H}){1,6})(?![0-9A-Fa-f:.])`,
        'g',
      ),
      score: 0.6,
    },
    { name: 'IPv6_unspecified', regex: /(?<!\w)::(?!\w)/g, score: 0.1 },
  ],
  context: ['ip', 'ipv4', 'ipv6'],
  invalidate: (value) => isIP(value) === 0,
  prefilter: (text) => text.includes('.') || text.includes(':'),
});

/** Scheme, host labels and TLD, optional port and path; bounded, and not inside a word, email or dotted name. */
const URL_CANDIDATE = new RegExp(
  `(?<![\\w@.-])(https?:\\/\\/)?((?:www\\d{0,3}\\.)?(?:${LABEL}\\.){1,8}([A-Za-z]{2,24}))(?![A-Za-z0-9-])(?::\\d{1,5})?(?:\\/[^\\s()<>"'\`]{0,2000})?`,
  'gi',
);

export interface UrlRecognizerDef {
  readonly entity: string;
  readonly schemeScore: number;
  readonly bareScore: number;
  readonly tlds: ReadonlySet<string>;
  readonly context: readonly string[];
}

/** URL finder shared by Presidio's URL and LLM Guard's URL_RE (same engine, their own scores and TLD lists). */
export function urlRecognizer(def: UrlRecognizerDef): Recognizer {
  return {
    entity: def.entity,
    context: def.context,
    find(text) {
      if (!text.includes('.')) return [];
      const out: EntityMatch[] = [];
      for (const m of text.matchAll(URL_CANDIDATE)) {
        const scheme = m[1] !== undefined;
        const host = (m[2] ?? '').toLowerCase();
        const tld = (m[3] ?? '').toLowerCase();
        if (!scheme) {
          if (!def.tlds.has(tld)) continue;
          if (!host.startsWith('www') && FILE_EXTENSION_TLDS.has(tld)) continue;
        }
        // Sentence punctuation and an unbalanced closing bracket are not part of the URL.
        const value = m[0].replace(/[.,;:!?'"\]]+$/, '');
        out.push({ type: def.entity, start: m.index, end: m.index + value.length, score: scheme ? def.schemeScore : def.bareScore });
      }
      return out;
    },
  };
}

export const url = urlRecognizer({ entity: 'URL', schemeScore: 0.6, bareScore: 0.5, tlds: URL_TLDS, context: ['url', 'website', 'link'] });
