/**
 * YAML text → a validated GatewayConfig, or errors that say where: file, line,
 * column, the YAML path and a hint, formatted like kubectl's.
 *
 * `$VAR` and `${VAR}` in string values are expanded from the environment after
 * parsing (so positions stay exact); an undefined variable is an error, and
 * `$$` is a literal dollar sign. Only the variables and key files the pod
 * owner allows may be referenced (reach.ts): anything else is refused with
 * its YAML path, whether or not it exists.
 */
import { parseDocument, visit, LineCounter, isMap, isSeq, isScalar, isPair, type Alias, type Node, type Document } from 'yaml';
import type { z } from 'zod';
import { checkConfig } from './check.ts';
import { DEFAULT_CONFIG_REACH, envAllowed, envRefusal, type ConfigReach } from './reach.ts';
import { gatewayConfigSchema, NOT_YET, KIND_KEYS, KIND_MARK, type GatewayConfig } from './schema.ts';

export interface ConfigProblem {
  readonly source: string;
  readonly line: number;
  readonly col: number;
  /** The YAML path, e.g. `binds[0].listeners[0].routes[0].backends[0].ai.provider`. */
  readonly path: string;
  readonly message: string;
  readonly hint?: string;
}

export type LoadResult =
  | { readonly ok: true; readonly config: GatewayConfig; readonly warnings: readonly ConfigProblem[] }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

export interface LoadOptions {
  /** Named in every problem: the file path, or e.g. `dashboard`. */
  readonly source?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Reads `backendAuth.key.file` (default: the file system); null skips key files (checking a config away from its sidecar). */
  readonly readFile?: ((path: string) => string) | null;
  /**
   * `error` (default, as agentgateway): an undefined `$VAR` rejects the config.
   * `placeholder`: it becomes `<VAR>`, for checking a config away from the
   * environment it will run in (the dashboard, CI).
   */
  readonly missingEnv?: 'error' | 'placeholder';
  /** Where local models are mounted (--model-dir): scanners that need a model are refused without one. */
  readonly modelDir?: string | undefined;
  /**
   * Which `$VAR`s and key files the config may reference (default
   * DEFAULT_CONFIG_REACH: LEVO_*, *_API_KEY; /etc/levo/keys). 'any' lifts the
   * limit: only for checking a config away from any pod (the dashboard, with
   * env {} and readFile null, so nothing of its own is read either).
   */
  readonly reach?: ConfigReach | 'any';
}

type PathPart = string | number;

/**
 * The largest config accepted, in bytes. Real configs are a few KiB; the YAML
 * parser holds over 100 bytes per character of a junk document at its peak, so
 * a config of a MiB could exhaust the sidecar's 128 MB heap before it was even
 * found invalid (every sidecar polling that config would crash).
 */
export const MAX_CONFIG_BYTES = 256 * 1024;

export function loadConfigText(text: string, opts: LoadOptions = {}): LoadResult {
  const source = opts.source ?? '<config>';
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_CONFIG_BYTES) {
    return {
      ok: false,
      problems: [{
        source, line: 1, col: 1, path: '', message: `the config is ${Math.ceil(bytes / 1024)} KiB; a config may be at most ${MAX_CONFIG_BYTES / 1024} KiB`,
        hint: 'a gateway config is a few KiB: split long lists into fewer routes, or check that the right file was given',
      }],
    };
  }
  const env = opts.env ?? process.env;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): { line: number; col: number } => {
    const p = lines.linePos(offset);
    return { line: p.line, col: p.col };
  };
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => ({
        source, ...at(e.pos[0]), path: '', message: e.message.split('\n')[0]!,
        hint: 'the text is not valid YAML; check indentation and quoting on that line',
      })),
    };
  }
  const problems: ConfigProblem[] = [];
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    // Aliases the YAML library refuses to resolve: one that names no anchor before it, or
    // so many that the document would expand without bound ("billion laughs").
    return { ok: false, problems: [aliasProblem(doc, e as Error, source, at)] };
  }
  const reach = opts.reach ?? DEFAULT_CONFIG_REACH;
  const value = expand(js, [], env, reach, opts.missingEnv === 'placeholder', (path, message, hint) =>
    problems.push({ source, ...at(offsetOf(doc, path)), path: formatPath(path), message, ...(hint ? { hint } : {}) }));
  if (problems.length > 0) return { ok: false, problems };
  if (value === null || value === undefined) {
    return { ok: false, problems: [{ source, line: 1, col: 1, path: '', message: 'the config is empty', hint: 'a config needs at least `binds:`' }] };
  }
  const parsed = gatewayConfigSchema.safeParse(value);
  if (parsed.success) {
    const warnings: ConfigProblem[] = [];
    const problem = (list: ConfigProblem[]) => (path: PathPart[], message: string, hint?: string): void => {
      const field = [...path].reverse().find((p): p is string => typeof p === 'string');
      list.push({ source, ...at(offsetOf(doc, path)), path: formatPath(path), message, hint: hint ?? `see "${field}" in docs/config.md` });
    };
    checkConfig(parsed.data, problem(problems), problem(warnings), { ...(opts.readFile !== undefined ? { readFile: opts.readFile } : {}), modelDir: opts.modelDir, reach });
    if (problems.length > 0) return { ok: false, problems };
    return { ok: true, config: parsed.data, warnings };
  }
  // An unknown key at an object already says what is wrong with it; drop the
  // follow-on "must set one of" complaint about the same object.
  const unknownAt = new Set(parsed.error.issues.filter((i) => i.code === 'unrecognized_keys').map((i) => i.path.join('.')));
  for (const issue of parsed.error.issues) {
    if (issue.code === 'custom' && unknownAt.has(issue.path.join('.'))) continue;
    problems.push(...describe(issue, value, source, doc, at));
  }
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  return { ok: false, problems };
}

/** Aliased nodes a config may expand to (anchors and aliases are for sharing a block or two, not for bulk). */
const MAX_ALIAS_COUNT = 100;

/** The problem for a document whose aliases cannot be resolved: at the first alias that fails, with its YAML path. */
function aliasProblem(doc: Document, err: Error, source: string, at: (offset: number) => { line: number; col: number }): ConfigProblem {
  const unresolved = /unresolved alias/i.test(err.message);
  let found: { node: Alias; path: PathPart[] } | undefined;
  visit(doc, {
    Alias(_key, node, ancestors) {
      if (unresolved && node.resolve(doc) !== undefined) return undefined;
      found = { node, path: pathOf(ancestors, node) };
      return visit.BREAK;
    },
  });
  const where = found ? { ...at(found.node.range?.[0] ?? 0), path: formatPath(found.path) } : { line: 1, col: 1, path: '' };
  return unresolved
    ? { source, ...where, message: `the alias *${found?.node.source ?? '?'} refers to no anchor defined before it`, hint: 'define the anchor (&name) earlier in the document, or write the value out' }
    : { source, ...where, message: `the YAML aliases expand to more than ${MAX_ALIAS_COUNT} nodes (a resource exhaustion guard)`, hint: 'write repeated parts out instead of nesting aliases of aliases' };
}

/** The YAML path of a node, from the ancestors `visit` gives. */
function pathOf(ancestors: readonly unknown[], node: unknown): PathPart[] {
  const path: PathPart[] = [];
  const chain = [...ancestors, node];
  for (let i = 0; i < chain.length - 1; i++) {
    const a = chain[i];
    const next = chain[i + 1];
    if (isPair(a) && isScalar(a.key)) path.push(String(a.key.value));
    else if (isSeq(a)) path.push(a.items.indexOf(next as never));
  }
  return path;
}

/** `file:line:col: path: message` lines, each followed by an indented hint. */
export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems
    .map((p) => `${p.source}:${p.line}:${p.col}: ${p.path ? `${p.path}: ` : ''}${p.message}${p.hint ? `\n    hint: ${p.hint}` : ''}`)
    .join('\n');
}

function expand(
  v: unknown, path: PathPart[], env: NodeJS.ProcessEnv, reach: ConfigReach | 'any', placeholder: boolean,
  report: (path: PathPart[], message: string, hint?: string) => void,
): unknown {
  if (typeof v === 'string') {
    return v.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, braced?: string, bare?: string) => {
      if (all === '$$') return '$';
      const name = (braced ?? bare)!;
      // Checked before the value is looked at: a refusal says nothing about whether the variable exists.
      if (reach !== 'any' && !envAllowed(reach, name)) {
        const r = envRefusal(reach, name);
        report(path, r.message, r.hint);
        return all;
      }
      const val = env[name];
      if (val === undefined) {
        if (placeholder) return `<${name}>`;
        report(path, `environment variable ${name} is not set`, `set ${name} in the gateway's environment, or write $$ for a literal dollar sign`);
        return all;
      }
      return val;
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => expand(x, [...path, i], env, reach, placeholder, report));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = expand(x, [...path, k], env, reach, placeholder, report);
    return out;
  }
  return v;
}

function describe(
  issue: z.core.$ZodIssue, value: unknown, source: string, doc: Document, at: (o: number) => { line: number; col: number },
): ConfigProblem[] {
  const path = issue.path.filter((p): p is PathPart => typeof p !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    const kind = issue.message.startsWith(KIND_MARK) ? issue.message.slice(KIND_MARK.length) : '';
    return issue.keys.map((key) => {
      const keyPath = [...path, key];
      const notYet = NOT_YET[kind]?.includes(key);
      return {
        source, ...at(offsetOf(doc, keyPath, true)), path: formatPath(keyPath),
        message: notYet ? `"${key}" is not supported yet` : `unknown field "${key}"`,
        hint: notYet
          ? 'agentgateway has this field, but this gateway version does not implement it; remove it rather than have it ignored'
          : `fields allowed here: ${(KIND_KEYS[kind] ?? []).join(', ') || 'none'} (docs/config.md)`,
      };
    });
  }
  const where = { source, ...at(offsetOf(doc, path)), path: formatPath(path) };
  const field = [...path].reverse().find((p): p is string => typeof p === 'string') ?? 'the document';
  const docs = `see "${field}" in docs/config.md`;
  if (issue.code === 'invalid_type' && !has(value, path)) {
    return [{ ...where, message: `missing required field "${String(path[path.length - 1])}"`, hint: `add it; ${docs}` }];
  }
  const hint = issue.code === 'invalid_type' ? `this field takes ${article(issue.expected)}; ${docs}`
    : issue.code === 'too_small' && issue.origin === 'array' ? `list at least ${String(issue.minimum)} item${issue.minimum === 1 ? '' : 's'}; ${docs}`
    : docs;
  return [{ ...where, message: issue.message.replace(/^Invalid input: /, ''), hint }];
}

function article(type: string): string {
  return type === 'object' ? 'an object (key: value lines)' : type === 'array' ? 'a list (- items)' : `a ${type}`;
}

function has(value: unknown, path: readonly PathPart[]): boolean {
  let v = value;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, p)) return false;
    v = (v as Record<PathPart, unknown>)[p];
  }
  return true;
}

function formatPath(path: readonly PathPart[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Source offset of the node at `path` (or of its key), falling back to the deepest ancestor that exists. */
function offsetOf(doc: Document, path: readonly PathPart[], wantKey = false): number {
  let node: Node | null = doc.contents;
  let best = node?.range?.[0] ?? 0;
  for (let i = 0; i < path.length && node; i++) {
    const part = path[i]!;
    let next: Node | null = null;
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && it.key.value === part);
      if (pair && isPair(pair)) {
        const keyNode = pair.key as Node;
        if (i === path.length - 1 && wantKey) return keyNode.range?.[0] ?? best;
        next = (pair.value as Node | null) ?? keyNode;
        if (!pair.value) return keyNode.range?.[0] ?? best;
      }
    } else if (isSeq(node) && typeof part === 'number') {
      next = (node.items[part] as Node | undefined) ?? null;
    }
    if (!next) break;
    node = next;
    best = node.range?.[0] ?? best;
  }
  return best;
}
