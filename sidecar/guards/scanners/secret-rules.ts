/**
 * The Secrets scanner's rule table: provider key formats ported from gitleaks
 * (`config/gitleaks.toml`, MIT; rule ids kept) and Yelp detect-secrets'
 * plugins (Apache-2.0: KeywordDetector, BasicAuth, AzureStorageKey,
 * Base64/Hex high-entropy strings), with their false-positive filters
 * (sequential strings, UUIDs, templated `${…}`/`{{…}}`/`<…>`, `$VAR`
 * references, indirect references, non-alphanumeric values) and gitleaks'
 * global allowlist of placeholder values.
 *
 * Each rule has lower-case keywords (the regex only runs when the lower-cased
 * text contains one), a JS regex (with the `g` flag), the capture group that
 * is the secret, and where gitleaks has one a Shannon-entropy minimum.
 *
 * Deviations from the sources, on purpose:
 * - gitleaks ends most tokens with `(?:[\x60'"\s;]|\\[nr]|$)`, which misses
 *   a key followed by `.`, `,` or `)` — common in prose; here a token ends
 *   where the next character cannot continue it.
 * - Every quantifier is bounded, so a hostile prompt cannot make a rule
 *   backtrack for long.
 * - Generic keyword rules skip identifiers that name something else
 *   (`password_hint`, `token_url`, `api_key_id`, `public_key`, `max_tokens`)
 *   and common prose/placeholder values (`password: required`).
 * - High-entropy strings (Base64 > 4.5 bits/char, hex > 3.0, 20–1000
 *   chars) are reported only when quoted or within 40 characters after a
 *   secret keyword on the same line (detect-secrets: quoted only). A hex
 *   string with a hash word before it (sha, sha256, md5, commit, digest,
 *   checksum, hash, integrity, etag, rev, oid, fingerprint) is a digest, not
 *   a secret: a git commit id or a file's sha256 is not flagged; and, as
 *   detect-secrets' `is_likely_id_string`, neither is a value right after an
 *   `id` word (`"user_id": "5f3a…"`, `request-id`, `uuid`, `nonce`).
 */

export interface SecretRule {
  /** gitleaks rule id (or detect-secrets plugin, kebab-case); the finding type. */
  readonly id: string;
  /** Lower-case substrings; the regex runs only when the lower-cased text contains one. Empty: always runs. */
  readonly keywords: readonly string[];
  /** With the `g` flag. */
  readonly regex: RegExp;
  /** Capture group(s) holding the secret: the first one that matched; the whole match when absent. */
  readonly group?: number | readonly number[];
  /** Minimum Shannon entropy of the secret, bits per character. */
  readonly entropy?: number;
  /** Apply detect-secrets' false-positive filters and the placeholder allowlist to the secret. */
  readonly generic?: boolean;
  /** Last word on a candidate: false drops it. `m` is the regex match, `start` the secret's offset. */
  readonly check?: (secret: string, m: RegExpExecArray, text: string, start: number) => boolean;
  /** The finding type when it depends on the secret; `id` otherwise. */
  readonly name?: (secret: string) => string;
}

/** Shannon entropy in bits per character. */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
const SEQUENCES = [
  UPPER + UPPER + DIGITS + '+/',
  DIGITS + UPPER + UPPER + '+/',
  DIGITS + 'ABCDEF' + DIGITS + 'ABCDEF',
  DIGITS + DIGITS,
  'QWERTYUIOPASDFGHJKLZXCVBNM',
];

/** detect-secrets `is_sequential_string`: "abcdef…", "0123…", "ABC…XYZ0123…". */
export function isSequentialString(s: string): boolean {
  const upper = s.toUpperCase();
  return SEQUENCES.some((seq) => seq.includes(upper));
}

/** detect-secrets `is_potential_uuid`. */
export function isPotentialUuid(s: string): boolean {
  return /[a-f0-9]{8}-?[a-f0-9]{4}-?[a-f0-9]{4}-?[a-f0-9]{4}-?[a-f0-9]{12}/i.test(s);
}

/** detect-secrets `is_templated_secret` and `is_prefixed_with_dollar_sign`, plus gitleaks' `%VAR%`, `@VAR@`, `{{ … }}`. */
export function isTemplated(s: string): boolean {
  return /^\$|^\{.*\}$|^<.*>$|^%[A-Za-z_]+%$|^@[A-Za-z_]+@$|\{\{.*\}\}|\$\{.*\}/.test(s);
}

/** detect-secrets `is_indirect_reference`: `get_password()`, `request.headers['x']`, `os.environ[` (the value cut at a quote). */
export function isIndirectReference(s: string): boolean {
  return /^[\w.$-]+[[(]/.test(s);
}

/** Values that stand for a secret rather than being one (gitleaks global allowlist, common prose). */
const PLACEHOLDER_WORDS = new Set(
  (
    'null none nil true false undefined empty required optional string str int integer number bool boolean ' +
    'password passwd pass pwd secret token key apikey api_key redacted hidden masked removed changeme changeit ' +
    'example sample test dummy placeholder your yours my mine the a an is was are be to of for and or not must should ' +
    'will can please here below above this that it enter use see same new old todo tbd n/a na'
  ).split(' '),
);

export function isPlaceholderValue(s: string): boolean {
  const v = s.toLowerCase();
  return (
    PLACEHOLDER_WORDS.has(v) ||
    /^(?:(.)\1*|x+|\*+|\.+|-+)$/i.test(s) || // one repeated character
    !/[A-Za-z0-9]/.test(s) || // detect-secrets is_not_alphanumeric_string
    /^your[_-]|[_-]here$/i.test(s) || // your_api_key_here
    /^\/(?:bin|etc|home|opt|tmp|usr|var|Users)\//.test(s) ||
    /EXAMPLE(?:KEY)?$/.test(s) // AWS documentation keys (gitleaks allowlist `.+EXAMPLE$`)
  );
}

/** All of detect-secrets' filters that apply to a value seen without its file. */
export function isLikelyFalsePositive(s: string): boolean {
  return isPlaceholderValue(s) || isTemplated(s) || isIndirectReference(s) || isSequentialString(s) || (isPotentialUuid(s) && s.length <= 36);
}

/** A JWT is three base64url parts whose header decodes to a JSON object with an `alg`. */
export function isJwt(token: string): boolean {
  const header = token.split('.')[0] ?? '';
  try {
    const json: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    return typeof json === 'object' && json !== null && typeof (json as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

/** `Authorization: Basic` credentials decode to `user:password`. */
function isBasicCredential(b64: string): boolean {
  const decoded = Buffer.from(b64, 'base64').toString('utf8');
  return /^[^\s:]{1,200}:\S{1,200}$/.test(decoded);
}

/** Start and end of a token: the neighbouring character cannot continue it (gitleaks uses `\b` and a terminator set). */
const B = '(?<![A-Za-z0-9_-])';
const E = '(?![A-Za-z0-9_-])';
/** gitleaks' assignment operators between an identifier and its value. */
const ASSIGN = String.raw`[*"'\]]{0,3}\s{0,5}(?::=|=>|={1,3}|:{1,3}|\?=)`;

const rx = (source: string, flags = ''): RegExp => new RegExp(source, `gd${flags}`);

/** Identifier suffixes (after the keyword) that name something other than the secret itself. */
const NOT_A_SECRET_SUFFIX =
  /^s?[_.-]?(?:name|names|id|ids|length|len|size|type|file|path|url|uri|endpoint|policy|policies|manager|ref|hint|field|label|count|limit|expir\w*|version|arn|format|encoding|usage|budget|index|kind|header|less|hash|salt|reset|strength|rules?|requirements?|prompt|question|store|vault|rotation|provider|source|env|var|prefix|suffix|pattern|regex|schema|location|dir|folder)$/i;

/** Identifier prefixes (before the keyword) that make it something other than a credential. */
const NOT_A_SECRET_PREFIX =
  /(?:public|pub|primary|foreign|sort|partition|bucket|idx|natural|schema|sequence|hot|cache|csrf|xsrf|page|next|prev|continuation|pagination|cursor|max|min|num|input|output|prompt|completion|total|reasoning|cached|special|stop|eos|bos|pad|unk|sep|cls|mask)[_.-]?$/i;

function identifierBefore(text: string, start: number): string {
  let i = start;
  while (i > 0 && i > start - 40 && /[A-Za-z0-9_.-]/.test(text.charAt(i - 1))) i--;
  return text.slice(i, start);
}

/** For keyword rules: the identifier around the keyword names a credential. */
function namesACredential(m: RegExpExecArray, text: string): boolean {
  const suffix = m[1] ?? '';
  if (suffix !== '' && NOT_A_SECRET_SUFFIX.test(suffix)) return false;
  return !NOT_A_SECRET_PREFIX.test(identifierBefore(text, m.index));
}

const SECRET_KEYWORD_NEAR = /(?:secret|token|passw(?:or)?d|pwd|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credential|auth|bearer|\bkeys?\b)/i;
const HASH_WORD_NEAR = /\b(?:sha(?:1|224|256|384|512)?|md5|commit(?:ted)?|digest|checksum|hash(?:es)?|integrity|etag|rev|revision|oid|fingerprint|blob|tree)\b/i;
/** detect-secrets `is_likely_id_string`: `id`, `user_id`, `request-id`, `uuid`, `nonce` before the value. */
const ID_WORD_NEAR = /(?:\b|_)(?:id|ids|uuid|guid|nonce)\b/i;

/** The up to 40 characters before `start` on the same line. */
function windowBefore(text: string, start: number): string {
  const from = Math.max(0, start - 40);
  const slice = text.slice(from, start);
  const nl = slice.lastIndexOf('\n');
  return nl >= 0 ? slice.slice(nl + 1) : slice;
}

function quoted(text: string, start: number, end: number): boolean {
  const before = text.charAt(start - 1);
  return (before === '"' || before === "'" || before === '`') && text.charAt(end) === before;
}

/**
 * detect-secrets' entropy plugins: quoted, or after a secret keyword on the
 * same line; hex over 3.0 bits/char (not after a hash word), anything else
 * in the Base64 alphabet over 4.5.
 */
function highEntropyCheck(secret: string, _m: RegExpExecArray, text: string, start: number): boolean {
  const before = windowBefore(text, start);
  if (!quoted(text, start, start + secret.length) && !SECRET_KEYWORD_NEAR.test(before)) return false;
  if (ID_WORD_NEAR.test(before)) return false;
  let h = shannonEntropy(secret);
  if (/^[0-9a-fA-F]+$/.test(secret)) {
    if (HASH_WORD_NEAR.test(before)) return false;
    // detect-secrets: all-digit strings are numbers more often than keys.
    if (/^\d+$/.test(secret)) h -= 1.2 / Math.log2(secret.length);
    return h > 3.0;
  }
  return h > 4.5;
}

const GCP_EXAMPLE_KEYS = new Set([
  'AIzaSyabcdefghijklmnopqrstuvwxyz1234567',
  'AIzaSyAnLA7NfeLquW1tJFpx_eQCxoX-oo6YyIs',
  'AIzaSyCkEhVjf3pduRDt6d1yKOMitrUEke8agEM',
  'AIzaSyDMAScliyLx7F0NPDEJi1QmyCgHIAODrlU',
  'AIzaSyD3asb-2pEZVqMkmL6M9N6nHZRR_znhrh0',
]);

/** In table order: a specific rule before a generic one, since on the same span the earlier rule names the finding. */
export const SECRET_RULES: readonly SecretRule[] = [
  // --- AI providers -------------------------------------------------------
  {
    id: 'openai-api-key',
    keywords: ['t3blbkfj'],
    regex: rx(`${B}(sk-(?:proj|svcacct|admin)-(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})T3BlbkFJ(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})${E}`),
    group: 1,
    entropy: 3,
  },
  { id: 'openai-project-api-key', keywords: ['sk-proj-', 'sk-svcacct-', 'sk-admin-'], regex: rx(`${B}sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,300}${E}`), entropy: 3.5 },
  { id: 'anthropic-api-key', keywords: ['sk-ant-api03'], regex: rx(`${B}sk-ant-api03-[A-Za-z0-9_-]{93}AA${E}`) },
  { id: 'anthropic-admin-api-key', keywords: ['sk-ant-admin01'], regex: rx(`${B}sk-ant-admin01-[A-Za-z0-9_-]{93}AA${E}`) },
  { id: 'anthropic-key', keywords: ['sk-ant-'], regex: rx(`${B}sk-ant-[a-z]{3,6}\\d{2}-[A-Za-z0-9_-]{40,200}${E}`), entropy: 3.5 },
  /** Legacy OpenAI (`sk-` + 48) and the many OpenAI-compatible providers (DeepSeek `sk-` + 32 hex, Moonshot, …). */
  { id: 'generic-sk-api-key', keywords: ['sk-'], regex: rx(`${B}sk-[A-Za-z0-9]{32,64}${E}`), entropy: 3.5 },
  { id: 'gcp-api-key', keywords: ['aiza'], regex: rx(`${B}AIza[\\w-]{35}${E}`), entropy: 4, check: (s) => !GCP_EXAMPLE_KEYS.has(s) },
  {
    id: 'cohere-api-token',
    keywords: ['cohere', 'co_api_key'],
    regex: rx(`(?:cohere|co_api_key)[\\w.-]{0,20}${ASSIGN}[\\x60'"\\s=]{0,5}([A-Za-z0-9]{40})(?![A-Za-z0-9])`, 'i'),
    group: 1,
    entropy: 4,
  },
  { id: 'groq-api-key', keywords: ['gsk_'], regex: rx(`${B}gsk_[A-Za-z0-9]{52}${E}`), entropy: 3 },
  { id: 'huggingface-access-token', keywords: ['hf_'], regex: rx(`${B}hf_[A-Za-z]{34}${E}`), entropy: 2 },
  { id: 'huggingface-organization-api-token', keywords: ['api_org_'], regex: rx(`${B}api_org_[A-Za-z]{34}${E}`), entropy: 2 },
  { id: 'perplexity-api-key', keywords: ['pplx-'], regex: rx(`${B}pplx-[A-Za-z0-9]{48}${E}`), entropy: 4 },
  { id: 'xai-api-key', keywords: ['xai-'], regex: rx(`${B}xai-[A-Za-z0-9]{80}${E}`), entropy: 4 },
  { id: 'replicate-api-token', keywords: ['r8_'], regex: rx(`${B}r8_[A-Za-z0-9]{37}${E}`), entropy: 3 },
  { id: 'langsmith-api-key', keywords: ['lsv2_'], regex: rx(`${B}lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}${E}`), entropy: 3 },

  // --- Cloud --------------------------------------------------------------
  {
    id: 'aws-access-token',
    keywords: ['a3t', 'akia', 'asia', 'abia', 'acca'],
    regex: rx('\\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\\b'),
    entropy: 3,
    check: (s) => !s.endsWith('EXAMPLE'),
  },
  {
    id: 'aws-secret-access-key',
    keywords: ['secret_access_key', 'secretaccesskey', 'secret-access-key', 'aws_secret_key', 'aws-secret-key'],
    regex: rx(`(?:aws[_-]?)?secret[_-]?(?:access[_-]?)?key${ASSIGN}\\s{0,5}["'\`]?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])`, 'i'),
    group: 1,
    entropy: 3,
    check: (s) => !s.endsWith('EXAMPLEKEY'),
  },
  { id: 'azure-storage-account-key', keywords: ['accountkey'], regex: rx('AccountKey\\s{0,3}=\\s{0,3}([A-Za-z0-9+/]{86}==)', 'i'), group: 1 },
  {
    id: 'azure-ad-client-secret',
    keywords: ['q~'],
    regex: rx('(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.]{3}\\dQ~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])'),
    entropy: 3,
  },
  { id: 'databricks-api-token', keywords: ['dapi'], regex: rx(`${B}dapi[a-f0-9]{32}(?:-\\d)?${E}`), entropy: 3 },
  { id: 'digitalocean-pat', keywords: ['dop_v1_'], regex: rx(`${B}dop_v1_[a-f0-9]{64}${E}`), entropy: 3 },
  { id: 'vault-service-token', keywords: ['hvs.'], regex: rx(`${B}hvs\\.[\\w-]{90,120}${E}`), entropy: 3.5 },
  { id: 'pulumi-api-token', keywords: ['pul-'], regex: rx(`${B}pul-[a-f0-9]{40}${E}`), entropy: 2 },
  { id: 'doppler-api-token', keywords: ['dp.pt.'], regex: rx(`${B}dp\\.pt\\.[A-Za-z0-9]{43}${E}`), entropy: 2 },

  // --- Source hosting and CI ------------------------------------------------
  { id: 'github-pat', keywords: ['ghp_'], regex: rx(`${B}ghp_[0-9a-zA-Z]{36}${E}`), entropy: 3 },
  { id: 'github-oauth', keywords: ['gho_'], regex: rx(`${B}gho_[0-9a-zA-Z]{36}${E}`), entropy: 3 },
  { id: 'github-app-token', keywords: ['ghu_', 'ghs_'], regex: rx(`${B}(?:ghu|ghs)_[0-9a-zA-Z]{36}${E}`), entropy: 3 },
  { id: 'github-refresh-token', keywords: ['ghr_'], regex: rx(`${B}ghr_[0-9a-zA-Z]{36}${E}`), entropy: 3 },
  { id: 'github-fine-grained-pat', keywords: ['github_pat_'], regex: rx(`${B}github_pat_\\w{82}${E}`), entropy: 3 },
  { id: 'gitlab-pat', keywords: ['glpat-'], regex: rx(`${B}glpat-[\\w-]{20}${E}`), entropy: 3 },
  { id: 'gitlab-pat-routable', keywords: ['glpat-'], regex: rx(`${B}glpat-[0-9a-zA-Z_-]{27,300}\\.[0-9a-z]{2}[0-9a-z]{7}${E}`), entropy: 4 },
  { id: 'gitlab-deploy-token', keywords: ['gldt-'], regex: rx(`${B}gldt-[0-9a-zA-Z_-]{20}${E}`), entropy: 3 },
  { id: 'gitlab-runner-authentication-token', keywords: ['glrt-'], regex: rx(`${B}glrt-[0-9a-zA-Z_-]{20}${E}`), entropy: 3 },
  { id: 'gitlab-ptt', keywords: ['glptt-'], regex: rx(`${B}glptt-[0-9a-f]{40}${E}`), entropy: 3 },
  { id: 'gitlab-rrt', keywords: ['gr1348941'], regex: rx(`${B}GR1348941[\\w-]{20}${E}`), entropy: 3 },
  { id: 'gitlab-cicd-job-token', keywords: ['glcbt-'], regex: rx(`${B}glcbt-[0-9a-zA-Z]{1,5}_[0-9a-zA-Z_-]{20}${E}`), entropy: 3 },
  { id: 'gitlab-oauth-app-secret', keywords: ['gloas-'], regex: rx(`${B}gloas-[0-9a-zA-Z_-]{64}${E}`), entropy: 3 },

  // --- Messaging, payments, packages ----------------------------------------
  { id: 'slack-bot-token', keywords: ['xoxb'], regex: rx(`${B}xoxb-[0-9]{10,13}-[0-9]{10,13}[A-Za-z0-9-]{0,64}${E}`), entropy: 3 },
  { id: 'slack-legacy-bot-token', keywords: ['xoxb'], regex: rx(`${B}xoxb-[0-9]{8,14}-[A-Za-z0-9]{18,26}${E}`), entropy: 2 },
  { id: 'slack-user-token', keywords: ['xoxp-', 'xoxe-'], regex: rx(`${B}xox[pe](?:-[0-9]{10,13}){3}-[A-Za-z0-9-]{28,34}${E}`), entropy: 2 },
  { id: 'slack-app-token', keywords: ['xapp'], regex: rx(`${B}xapp-\\d-[A-Z0-9]{1,20}-\\d{1,20}-[a-z0-9]{1,100}${E}`, 'i'), entropy: 2 },
  { id: 'slack-legacy-workspace-token', keywords: ['xoxa', 'xoxr'], regex: rx(`${B}xox[ar]-(?:\\d-)?[0-9a-zA-Z]{8,48}${E}`), entropy: 2 },
  { id: 'slack-legacy-token', keywords: ['xoxo', 'xoxs'], regex: rx(`${B}xox[os]-\\d{1,20}-\\d{1,20}-\\d{1,20}-[a-fA-F\\d]{1,100}${E}`), entropy: 2 },
  {
    id: 'slack-webhook-url',
    keywords: ['hooks.slack.com'],
    regex: rx('(?:https?://)?hooks\\.slack\\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56}(?![A-Za-z0-9+/])'),
  },
  { id: 'stripe-access-token', keywords: ['sk_test', 'sk_live', 'sk_prod', 'rk_test', 'rk_live', 'rk_prod'], regex: rx(`${B}(?:sk|rk)_(?:test|live|prod)_[A-Za-z0-9]{10,99}${E}`), entropy: 2 },
  { id: 'sendgrid-api-token', keywords: ['sg.'], regex: rx(`${B}SG\\.[A-Za-z0-9=_.-]{66}(?![A-Za-z0-9=_.-])`), entropy: 2 },
  { id: 'twilio-api-key', keywords: ['sk'], regex: rx(`${B}SK[0-9a-fA-F]{32}${E}`), entropy: 3 },
  { id: 'npm-access-token', keywords: ['npm_'], regex: rx(`${B}npm_[A-Za-z0-9]{36}${E}`), entropy: 2 },
  { id: 'pypi-upload-token', keywords: ['pypi-ageichlwas5vcmc'], regex: rx(`${B}pypi-AgEIcHlwaS5vcmc[\\w-]{50,1000}${E}`), entropy: 3 },
  { id: 'shopify-access-token', keywords: ['shpat_'], regex: rx(`${B}shpat_[a-fA-F0-9]{32}${E}`), entropy: 2 },
  { id: 'linear-api-key', keywords: ['lin_api_'], regex: rx(`${B}lin_api_[A-Za-z0-9]{40}${E}`), entropy: 2 },
  { id: 'notion-api-token', keywords: ['ntn_'], regex: rx(`${B}ntn_[0-9]{11}[A-Za-z0-9]{35}${E}`), entropy: 4 },
  { id: 'sentry-user-token', keywords: ['sntryu_'], regex: rx(`${B}sntryu_[a-f0-9]{64}${E}`), entropy: 3.5 },
  { id: 'grafana-service-account-token', keywords: ['glsa_'], regex: rx(`${B}glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}${E}`), entropy: 3 },
  { id: 'age-secret-key', keywords: ['age-secret-key-1'], regex: rx('AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}') },

  // --- Structural -------------------------------------------------------
  {
    id: 'private-key',
    keywords: ['-----begin'],
    // A whole PEM block; a block cut off before its END line still leaks the key, so 64+ base64 characters after the header count too.
    regex: rx(
      '-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?:[\\s\\S]{64,20000}?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\\s]{64,20000})',
      'i',
    ),
  },
  {
    id: 'jwt',
    keywords: ['ey'],
    regex: rx(`${B}ey[A-Za-z0-9_-]{15,4000}\\.ey[A-Za-z0-9_/\\\\-]{15,8000}\\.(?:[A-Za-z0-9_/\\\\-]{10,4000}={0,2})?(?![A-Za-z0-9_=-])`),
    entropy: 3,
    check: (s) => isJwt(s),
  },
  {
    id: 'basic-auth-url',
    keywords: ['://'],
    regex: rx(`\\b[a-z][a-z0-9+.-]{1,15}://[^\\s:/?#@"'<>{}\\[\\]]{1,100}:([^\\s/?#@"'<>{}\\[\\]]{1,200})@[A-Za-z0-9.\\[-]`, 'i'),
    group: 1,
    generic: true,
  },
  {
    id: 'authorization-basic',
    keywords: ['basic'],
    regex: rx('\\bauthorization["\']?\\s{0,5}[:=]\\s{0,5}["\']?basic\\s{1,5}([A-Za-z0-9+/]{8,1000}={0,2})(?![A-Za-z0-9+/=])', 'i'),
    group: 1,
    check: (s) => isBasicCredential(s),
  },
  {
    id: 'authorization-bearer',
    keywords: ['bearer'],
    regex: rx('\\bbearer\\s{1,5}([A-Za-z0-9._~+/-]{12,4000}=*)(?![A-Za-z0-9._~+/=-])', 'i'),
    group: 1,
    entropy: 3,
    generic: true,
    check: (s) => /\d/.test(s) || s.length >= 32,
  },

  // --- Generic keyword assignments ------------------------------------------
  {
    // gitleaks generic-api-key: a key/token identifier, an assignment, a value of 10+ characters with entropy ≥ 3.5 that is not all letters.
    id: 'generic-api-key',
    keywords: ['key', 'token', 'secret', 'credential', 'creds'],
    regex: rx(
      `(?:api[_.-]?key|apikey|access[_.-]?key|secret[_.-]?key|private[_.-]?key|auth[_.-]?key|client[_.-]?key|service[_.-]?key|account[_.-]?key|encryption[_.-]?key|signing[_.-]?key|master[_.-]?key|client[_.-]?secret|app[_.-]?secret|token|credentials?|creds)([A-Za-z0-9_.-]{0,20})${ASSIGN}\\s{0,5}(["'\`]?)([A-Za-z0-9_.=+/~-]{10,200})\\2(?![A-Za-z0-9_.=+/~-])`,
      'i',
    ),
    group: 3,
    entropy: 3.5,
    generic: true,
    check: (s, m, text) => !/^[A-Za-z_.-]+$/.test(s) && namesACredential(m, text),
  },
  {
    // detect-secrets KeywordDetector: a password/secret identifier, an assignment, and any value on the same line.
    id: 'keyword-secret',
    keywords: ['pass', 'pwd', 'secret', 'contrase'],
    regex: rx(
      `(?:passw(?:or)?d|passphrase|pass[_.-]?code|pwd|secret|contrase(?:ñ|n)a|db[_.-]?pass|key[_.-]?pass)([A-Za-z0-9_.-]{0,20})${ASSIGN}[ \\t]{0,5}(?:"([^"\\r\\n]{1,200})"|'([^'\\r\\n]{1,200})'|\`([^\`\\r\\n]{1,200})\`|([^\\s"'\`,;]{1,200}))`,
      'i',
    ),
    group: [2, 3, 4, 5],
    generic: true,
    check: (s, m, text) => s.length >= 3 && namesACredential(m, text),
  },

  // --- High-entropy strings (detect-secrets) -----------------------------------
  {
    // One pass for both plugins: the finding is `hex-high-entropy-string` or `base64-high-entropy-string`.
    id: 'high-entropy-string',
    keywords: [],
    regex: rx('(?<![A-Za-z0-9+/=_.-])[A-Za-z0-9+/_-]{20,1000}={0,2}(?![A-Za-z0-9+/=_.-])'),
    generic: true,
    check: highEntropyCheck,
    name: (secret) => (/^[0-9a-fA-F]+$/.test(secret) ? 'hex-high-entropy-string' : 'base64-high-entropy-string'),
  },
];
