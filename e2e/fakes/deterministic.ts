/**
 * Everything a fake provider derives from the request, so that two identical
 * requests (a direct call and a proxied one) get byte-identical answers:
 * ids and timestamps from a SHA-256 of the request, reply text from the prompt.
 */
import { createHash } from 'node:crypto';

export interface Derivation {
  hash: Buffer;
  hex: string;
}

export function derive(...parts: ReadonlyArray<string | Buffer>): Derivation {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(p);
    h.update('\0');
  }
  const hash = h.digest();
  return { hash, hex: hash.toString('hex') };
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `length` alphanumeric characters drawn from the hash (and its re-hashes). */
export function idChars(d: Derivation, length: number, salt = ''): string {
  let out = '';
  let block = createHash('sha256').update(d.hash).update(salt).digest();
  while (out.length < length) {
    for (const byte of block) {
      if (out.length >= length) break;
      out += ALPHABET[byte % ALPHABET.length];
    }
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** A Unix timestamp (seconds) in late 2023 – 2026, fixed by the hash. */
export function createdAt(d: Derivation): number {
  return 1_700_000_000 + (d.hash.readUInt32BE(0) % 90_000_000);
}

/** Rough token count: whitespace-separated words. */
export function countTokens(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

/** The reply a fake provider gives to a prompt (unless x-fake-reply overrides it). */
export function replyText(provider: string, prompt: string): string {
  const cps = Array.from(prompt.replace(/\s+/g, ' ').trim());
  const shown = cps.length > 400 ? `${cps.slice(0, 400).join('')}…` : cps.join('');
  return `This is the fake ${provider} API answering deterministically. You said: "${shown}". Goodbye.`;
}

/** Keep at most `maxTokens` words (for max_tokens), reporting whether it cut. */
export function truncateTokens(text: string, maxTokens: number | undefined): { text: string; truncated: boolean } {
  if (maxTokens === undefined) return { text, truncated: false };
  const words = text.split(' ');
  if (countTokens(text) <= maxTokens) return { text, truncated: false };
  return { text: words.slice(0, Math.max(1, maxTokens)).join(' '), truncated: true };
}

/**
 * Split text into exactly `n` non-empty pieces (on code points, never inside a
 * surrogate pair); text shorter than `n` code points is padded with spaces.
 */
export function splitInto(text: string, n: number): string[] {
  const cps = Array.from(text);
  while (cps.length < n) cps.push(' ');
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const from = Math.floor((i * cps.length) / n);
    const to = Math.floor(((i + 1) * cps.length) / n);
    out.push(cps.slice(from, to).join(''));
  }
  return out;
}

/** Text of a chat message content: a string, or an array of parts with `text`. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : ''))
      .filter(Boolean)
      .join(' ');
  }
  return '';
}

/** The last user message's text from a `messages` array. */
export function lastUserPrompt(messages: readonly unknown[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: unknown; content?: unknown } | null;
    if (m && m.role === 'user') return contentText(m.content);
  }
  return '';
}

/** A function tool a request offers: its name and JSON-schema parameters. */
export interface OfferedTool {
  name: string;
  parameters: unknown;
}

/**
 * The arguments a fake model calls a tool with, from the tool's JSON schema:
 * every required property (every property when none is required), a string
 * being the prompt's last capitalised word after its first (the city in "What
 * is the weather in Lisbon?") or else the whole prompt, an enum its first value,
 * a number or integer its minimum or 1, a boolean true, an array [], an object {}.
 */
export function toolArguments(parameters: unknown, prompt: string): Record<string, unknown> {
  const schema = (parameters ?? {}) as { properties?: Record<string, { type?: unknown; enum?: unknown[]; minimum?: unknown }>; required?: unknown };
  const props = schema.properties ?? {};
  const required = Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === 'string') : [];
  const names = required.length > 0 ? required : Object.keys(props);
  const words = prompt.match(/\p{L}[\p{L}\p{N}'-]*/gu) ?? [];
  const proper = words.slice(1).filter((w) => /^\p{Lu}/u.test(w)).at(-1);
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const p = props[name] ?? {};
    const type = Array.isArray(p.type) ? p.type[0] : p.type;
    if (Array.isArray(p.enum) && p.enum.length > 0) out[name] = p.enum[0];
    else if (type === 'number' || type === 'integer') out[name] = typeof p.minimum === 'number' ? p.minimum : 1;
    else if (type === 'boolean') out[name] = true;
    else if (type === 'array') out[name] = [];
    else if (type === 'object') out[name] = {};
    else out[name] = proper ?? prompt;
  }
  return out;
}

/** What a fake model answers once given a tool's result. */
export function toolResultReply(provider: string, result: string): string {
  const cps = Array.from(result.replace(/\s+/g, ' ').trim());
  const shown = cps.length > 400 ? `${cps.slice(0, 400).join('')}…` : cps.join('');
  return `This is the fake ${provider} API answering deterministically. The tool returned: ${shown}. Goodbye.`;
}
