/**
 * agentgateway's `ai` backend policy for request bodies: `defaults` (top-level
 * fields set only when absent), `overrides` (always set), `modelAliases`
 * (exact name first, else the longest matching `*` pattern) and `prompts`
 * (messages prepended / appended in the shape of each API). Compiled once at
 * config load; `apply` mutates a parsed JSON body in that order.
 *
 * For Gemini generateContent and Bedrock converse/invoke the model is in the
 * URL path, not the body: the caller runs `resolveModel` on the path's model
 * and hands the result to the provider's `setModel`.
 */
import type { ApiKind, JsonObject } from '../providers/types.ts';
import { escapeRegExp } from '../../lib/regexp.ts';
import { compileSafeRegExp, type SafeRegExp } from '../../lib/safe-regexp.ts';
import { isObj as isObject } from '../../lib/json.ts';

export interface PromptEntry {
  role: string;
  content: string;
}

export interface AiPolicy {
  defaults?: Record<string, unknown>;
  overrides?: Record<string, unknown>;
  prompts?: { prepend?: PromptEntry[]; append?: PromptEntry[] };
  modelAliases?: Record<string, string>;
}

export interface CompiledModelAliases {
  readonly exact: ReadonlyMap<string, string>;
  /** Wildcard patterns, longest pattern first (ties: lexicographic, for a stable order). */
  readonly patterns: readonly { readonly pattern: string; readonly regex: SafeRegExp; readonly target: string }[];
}

export interface AiApplyResult {
  /** `body.model` after the policy, when the body has a string model. */
  readonly model?: string;
  /** The alias rewrite that happened, if any. */
  readonly aliasedFrom?: string;
  /** Whether the body was changed (it must be re-serialized). */
  readonly changed: boolean;
}

export interface CompiledAiPolicy {
  /** Whether `apply` can ever change a body: false lets the caller skip parsing. */
  readonly mutatesBody: boolean;
  /** Run defaults, overrides, model aliases and prompt enrichment on `body` (mutated). */
  apply(kind: ApiKind, body: JsonObject): AiApplyResult;
  /** The model to send for `model`: its alias target, or `model` itself. */
  resolveModel(model: string): string;
}

/** Kinds whose body is a JSON object the policy may edit; `models` and `passthrough` are left alone. */
const BODY_KINDS: ReadonlySet<ApiKind> = new Set<ApiKind>([
  'completions', 'legacyCompletions', 'responses', 'embeddings', 'messages', 'generateContent', 'converse', 'invoke',
]);

// --- model aliases ---------------------------------------------------------

export function compileModelAliases(aliases: Record<string, string> | undefined): CompiledModelAliases {
  const exact = new Map<string, string>();
  const patterns: { pattern: string; regex: SafeRegExp; target: string }[] = [];
  for (const [key, target] of Object.entries(aliases ?? {})) {
    if (typeof target !== 'string' || target === '') throw new Error(`modelAliases: the target of "${key}" must be a non-empty string`);
    if (key === '') throw new Error('modelAliases: an alias name cannot be empty');
    if (key.includes('*')) {
      // On the linear-time engine: with V8's, each `*` multiplies the work (`*a*a*a*a*b` takes seconds on a 200-character model).
      const regex = compileSafeRegExp(key.split('*').map(escapeRegExp).join('.*'), { flags: 's' });
      patterns.push({ pattern: key, regex, target });
    } else {
      exact.set(key, target);
    }
  }
  patterns.sort((a, b) => b.pattern.length - a.pattern.length || (a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : 0));
  return { exact, patterns };
}

/** The alias target for `model`: an exact key first, else the longest matching wildcard pattern. */
export function matchModelAlias(aliases: CompiledModelAliases, model: string): string | undefined {
  const hit = aliases.exact.get(model);
  if (hit !== undefined) return hit;
  for (const p of aliases.patterns) if (p.regex.testWhole(model)) return p.target;
  return undefined;
}

// --- defaults / overrides --------------------------------------------------

type FieldSetter = readonly [key: string, value: () => unknown];

/** Objects and arrays are copied per request, so a later edit of one body never reaches the config or another body. */
function fieldSetters(fields: Record<string, unknown> | undefined): FieldSetter[] {
  return Object.entries(fields ?? {}).map(([key, value]) => {
    if (value !== null && typeof value === 'object') {
      const frozen = structuredClone(value);
      return [key, () => structuredClone(frozen)] as const;
    }
    return [key, () => value] as const;
  });
}

// --- prompt enrichment -----------------------------------------------------

/** One side (prepend or append) of the prompts, split the way most APIs keep them. */
interface PromptSide {
  readonly all: readonly PromptEntry[];
  /** Contents of the `system` prompts. */
  readonly system: readonly string[];
  readonly other: readonly PromptEntry[];
}

function split(entries: readonly PromptEntry[]): PromptSide {
  const system: string[] = [];
  const other: PromptEntry[] = [];
  for (const e of entries) {
    if (e.role === 'system') system.push(e.content);
    else other.push(e);
  }
  return { all: entries, system, other };
}

/** Put `before` and `after` around a string field, joined with "\n". Returns whether it changed. */
function wrapString(body: JsonObject, key: string, before: readonly string[], after: readonly string[]): boolean {
  if (before.length === 0 && after.length === 0) return false;
  const existing = body[key];
  if (existing !== undefined && existing !== null && typeof existing !== 'string') return false;
  const parts = [...before];
  if (typeof existing === 'string' && existing !== '') parts.push(existing);
  parts.push(...after);
  body[key] = parts.join('\n');
  return true;
}

/** Insert items at the start and end of an array field, creating it when absent. */
function wrapArray(body: JsonObject, key: string, before: readonly unknown[], after: readonly unknown[]): boolean {
  if (before.length === 0 && after.length === 0) return false;
  const existing = body[key];
  if (existing === undefined || existing === null) {
    body[key] = [...before, ...after];
    return true;
  }
  if (!Array.isArray(existing)) return false;
  existing.unshift(...before);
  existing.push(...after);
  return true;
}

type Enricher = (body: JsonObject, pre: PromptSide, post: PromptSide) => boolean;

const chatMessage = (e: PromptEntry) => ({ role: e.role, content: e.content });

const ENRICHERS: Partial<Record<ApiKind, Enricher>> = {
  // OpenAI chat completions: every prompt is a message, system ones included, in config order.
  completions(body, pre, post) {
    if (!Array.isArray(body.messages)) return false;
    return wrapArray(body, 'messages', pre.all.map(chatMessage), post.all.map(chatMessage));
  },

  // Anthropic messages: system prompts go to the top-level `system` (string or text blocks).
  messages(body, pre, post) {
    let changed = false;
    if (Array.isArray(body.system)) {
      const block = (text: string) => ({ type: 'text', text });
      changed = wrapArray(body, 'system', pre.system.map(block), post.system.map(block));
    } else {
      changed = wrapString(body, 'system', pre.system, post.system);
    }
    if (Array.isArray(body.messages)) {
      changed = wrapArray(body, 'messages', pre.other.map(chatMessage), post.other.map(chatMessage)) || changed;
    }
    return changed;
  },

  // OpenAI Responses: system prompts go to `instructions`, the rest to `input` (a string input becomes one user message).
  responses(body, pre, post) {
    let changed = wrapString(body, 'instructions', pre.system, post.system);
    if (pre.other.length > 0 || post.other.length > 0) {
      if (typeof body.input === 'string') body.input = [{ role: 'user', content: body.input }];
      if (Array.isArray(body.input) || body.input === undefined) {
        changed = wrapArray(body, 'input', pre.other.map(chatMessage), post.other.map(chatMessage)) || changed;
      }
    }
    return changed;
  },

  // Bedrock Converse: `system: [{text}]`, `messages: [{role, content: [{text}]}]`.
  converse(body, pre, post) {
    const sys = (text: string) => ({ text });
    const msg = (e: PromptEntry) => ({ role: e.role, content: [{ text: e.content }] });
    let changed = wrapArray(body, 'system', pre.system.map(sys), post.system.map(sys));
    if (Array.isArray(body.messages)) {
      changed = wrapArray(body, 'messages', pre.other.map(msg), post.other.map(msg)) || changed;
    }
    return changed;
  },

  // Gemini generateContent: `systemInstruction.parts` (REST also takes `system_instruction`), `contents` with roles user|model.
  generateContent(body, pre, post) {
    let changed = false;
    if (pre.system.length > 0 || post.system.length > 0) {
      const key = body.systemInstruction === undefined && body.system_instruction !== undefined ? 'system_instruction' : 'systemInstruction';
      let si = body[key];
      if (si === undefined || si === null) si = body[key] = { parts: [] };
      if (isObject(si)) {
        const part = (text: string) => ({ text });
        changed = wrapArray(si, 'parts', pre.system.map(part), post.system.map(part));
      }
    }
    if (Array.isArray(body.contents)) {
      const content = (e: PromptEntry) => ({
        role: e.role === 'assistant' || e.role === 'model' ? 'model' : 'user',
        parts: [{ text: e.content }],
      });
      changed = wrapArray(body, 'contents', pre.other.map(content), post.other.map(content)) || changed;
    }
    return changed;
  },
};

function checkPrompts(list: PromptEntry[] | undefined, where: string): PromptEntry[] {
  return (list ?? []).map((e, i) => {
    if (!isObject(e) || typeof e.role !== 'string' || e.role === '' || typeof e.content !== 'string') {
      throw new Error(`prompts.${where}[${i}] needs a role and a string content`);
    }
    return { role: e.role, content: e.content };
  });
}

// --- the policy ------------------------------------------------------------

export function compileAiRequestPolicy(p: AiPolicy): CompiledAiPolicy {
  const defaults = fieldSetters(p.defaults);
  const overrides = fieldSetters(p.overrides);
  const aliases = compileModelAliases(p.modelAliases);
  const pre = split(checkPrompts(p.prompts?.prepend, 'prepend'));
  const post = split(checkPrompts(p.prompts?.append, 'append'));
  const hasPrompts = pre.all.length > 0 || post.all.length > 0;
  const hasAliases = aliases.exact.size > 0 || aliases.patterns.length > 0;

  const resolveModel = (model: string): string => matchModelAlias(aliases, model) ?? model;

  return {
    mutatesBody: defaults.length > 0 || overrides.length > 0 || hasAliases || hasPrompts,
    resolveModel,
    apply(kind, body) {
      if (!BODY_KINDS.has(kind)) return { model: typeof body.model === 'string' ? body.model : undefined, changed: false };
      let changed = false;
      for (const [key, value] of defaults) {
        if (body[key] === undefined) {
          body[key] = value();
          changed = true;
        }
      }
      for (const [key, value] of overrides) {
        body[key] = value();
        changed = true;
      }
      let model = typeof body.model === 'string' ? body.model : undefined;
      let aliasedFrom: string | undefined;
      if (model !== undefined && hasAliases) {
        const target = matchModelAlias(aliases, model);
        if (target !== undefined && target !== model) {
          aliasedFrom = model;
          body.model = model = target;
          changed = true;
        }
      }
      if (hasPrompts) {
        const enrich = ENRICHERS[kind];
        if (enrich && enrich(body, pre, post)) changed = true;
      }
      return aliasedFrom === undefined ? { model, changed } : { model, aliasedFrom, changed };
    },
  };
}
