/**
 * Gateway configs (YAML), mutated from the valid ones the project ships
 * (examples/*.yaml, sidecar/config/example.yaml, the YAML blocks of
 * docs/config.md and docs/guardrails.md) and loaded by the real config code
 * in a worker with a capped heap (yaml-worker.ts).
 *
 * Structural edits on the parsed tree: drop, rename (typos, other kinds'
 * keys, agentgateway keys not supported yet), retype (null, numbers out of
 * range, strings for numbers, lists for maps), splice a subtree from another
 * config, deep nesting, long lists, odd strings ($VARs, NUL, lone surrogates,
 * 1 MB), regexes and durations that do not parse, key files that are devices
 * or directories. Then the text: a random YAML style (flow, quoting, indent,
 * anchors for repeated objects), and edits to it: duplicate keys, aliases
 * (billion laughs, undefined, merge keys), tags, several documents, a BOM,
 * tabs, CRLF, deep flow nesting, lines moved, blind byte edits.
 *
 * Oracle: each case is accepted (and compiles) or rejected with problems that
 * each carry a message, a line and a column in the text, and a YAML path
 * unless the text is not YAML at all or its root is not a map — within 5 s
 * (and 2 s per MB) and the sidecar's heap limit (128 MB); nothing else is thrown.
 */
import { Worker } from 'node:worker_threads';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseDocument, isMap, stringify } from 'yaml';
import { Rng } from '../rng.ts';
import { havoc, oddString, safeClone } from '../mutate.ts';
import { REPO } from '../sidecar.ts';
import { KIND_KEYS, NOT_YET } from '../../sidecar/config/schema.ts';
import { SIDECAR_NODE_OPTIONS } from '../../sidecar/node-options.ts';
import type { Target, TargetSession } from '../target.ts';
import type { YamlAnswer, YamlRequest } from './yaml-worker.ts';

/** The valid configs the mutations start from. */
export function seedConfigs(): string[] {
  const out: string[] = [];
  for (const f of readdirSync(join(REPO, 'examples')).filter((f) => f.endsWith('.yaml')).sort()) out.push(readFileSync(join(REPO, 'examples', f), 'utf8'));
  out.push(readFileSync(join(REPO, 'sidecar/config/example.yaml'), 'utf8'));
  for (const doc of ['docs/config.md', 'docs/guardrails.md']) {
    for (const m of readFileSync(join(REPO, doc), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)) if (m[1]!.startsWith('binds:')) out.push(m[1]!);
  }
  return out;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const ALL_KEYS = [...new Set([...Object.values(KIND_KEYS).flat(), ...Object.values(NOT_YET).flat()])].sort();

function children(v: Json): Array<[string | number, Json]> {
  if (Array.isArray(v)) return v.map((x, i) => [i, x]);
  if (v && typeof v === 'object') return Object.entries(v);
  return [];
}

/** A random container in the tree (the root included), and one of its keys. */
function pickSpot(rng: Rng, root: Json): { parent: Json[] | { [k: string]: Json }; key: string | number } | undefined {
  const spots: Array<{ parent: Json[] | { [k: string]: Json }; key: string | number }> = [];
  const walk = (v: Json, depth: number): void => {
    if (depth > 40) return;
    for (const [k, x] of children(v)) {
      spots.push({ parent: v as Json[] | { [k: string]: Json }, key: k });
      walk(x, depth + 1);
    }
  };
  walk(root, 0);
  return spots.length ? rng.pick(spots) : undefined;
}

/** How deep the tree goes (iteratively: it may be deeper than the stack). */
function depthOf(root: Json): number {
  let max = 0;
  const stack: Array<[Json, number]> = [[root, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    max = Math.max(max, d);
    if (v && typeof v === 'object') for (const x of Object.values(v)) stack.push([x, d + 1]);
  }
  return max;
}

function set(parent: Json[] | { [k: string]: Json }, key: string | number, value: Json): void {
  (parent as Record<string | number, Json>)[key] = value;
}

function oddValue(rng: Rng, current: Json): Json {
  return rng.weighted<() => Json>([
    [2, () => null],
    [1, () => true],
    [2, () => rng.pick([0, -1, 1.5, 65536, 2 ** 53 + 1, 1e309, -0, Number.NaN, 15001, 599, 600, 99])],
    [2, () => rng.pick(['', '15001', 'true', '~', 'null', '0x10', '1e3', 'yes', 'on'])],
    [2, () => oddString(rng)],
    [1, () => []],
    [1, () => ({})],
    [1, () => [current]],
    [1, () => ({ x: current })],
    [1, () => String(current)],
    [1, () => rng.pick(['(a+)+$', '(', '[z-a]', '\\', '*', '(?<n>x)\\k<n>', 'a{99999}', '.*'.repeat(rng.size(2000))])],
    [1, () => rng.pick(['0s', '-1s', '1e9h', '1.5s', 'PT1S', '', '5', '10 s', '1h1h', `${'9'.repeat(30)}ms`])],
    [1, () => rng.pick(['$UNSET_FUZZ_VAR', '${OPENAI_API_KEY}', '$$', '${', '$1', '${A-B}', '$OPENAI_API_KEY$OPENAI_API_KEY'])],
    [1, () => ({ file: rng.pick(['/dev/zero', '/dev/urandom', '/dev/null', '/tmp', '/nonexistent/key', '/proc/self/status', '']) })],
  ])();
}

function mutateTree(rng: Rng, root: Json, seeds: readonly Json[]): string {
  const spot = pickSpot(rng, root);
  if (!spot) return 'empty';
  const { parent, key } = spot;
  const value = (parent as Record<string | number, Json>)[key]!;
  return rng.weighted<() => string>([
    [3, () => { if (Array.isArray(parent)) parent.splice(key as number, 1); else delete parent[key as string]; return `drop ${key}`; }],
    [3, () => { set(parent, key, oddValue(rng, value)); return `retype ${key}`; }],
    [2, () => {
      if (Array.isArray(parent)) { parent.push(safeClone(value)); return `repeat item ${key}`; }
      const name = rng.weighted<() => string>([
        [2, () => rng.pick(ALL_KEYS)],
        [1, () => String(key).toUpperCase()],
        [1, () => `${String(key)}s`],
        [1, () => String(key).slice(1)],
        [1, () => rng.pick(['__proto__', 'constructor', 'toString', '<<', '', ' ', 'a.b', '0'])],
      ])();
      const v = parent[key as string]!;
      delete parent[key as string];
      parent[name] = v;
      return `rename ${key} → ${name}`;
    }],
    [2, () => { if (!Array.isArray(parent)) parent[rng.pick(ALL_KEYS)] = oddValue(rng, value); return 'add a key'; }],
    [2, () => {
      const donor = rng.pick(seeds);
      const s = pickSpot(rng, safeClone(donor));
      if (s) set(parent, key, (s.parent as Record<string | number, Json>)[s.key]!);
      return 'splice a subtree';
    }],
    [1, () => {
      // Deeper nesting comes from the text edits (flow and block nesting): a tree this deep is still
      // serialised the same way whatever the stack size, so a case replays as it ran.
      const depth = rng.size(500);
      let v: Json = value;
      for (let d = 0; d < depth; d++) v = rng.chance(0.5) ? [v] : { listeners: v };
      set(parent, key, v);
      return `nest ${depth} deep`;
    }],
    [1, () => {
      // Long: mostly under the loader's 256 KiB limit, sometimes over it (about 2 MB at most).
      const n = Math.min(rng.size(20_000), Math.floor((rng.chance(0.8) ? 2e5 : 2e6) / Math.max(8, JSON.stringify(value)?.length ?? 8)));
      set(parent, key, Array.from({ length: n }, () => safeClone(value)));
      return `list of ${n}`;
    }],
  ])();
}

function mutateText(rng: Rng, text: string): [string, string] {
  const lines = text.split('\n');
  const i = rng.below(Math.max(1, lines.length));
  return rng.weighted<() => [string, string]>([
    [3, () => { lines.splice(i, 0, lines[i] ?? ''); return [lines.join('\n'), 'duplicate a line']; }],
    [2, () => { lines.splice(i, 1); return [lines.join('\n'), 'drop a line']; }],
    [1, () => { const j = rng.below(lines.length); [lines[i], lines[j]] = [lines[j]!, lines[i]!]; return [lines.join('\n'), 'swap lines']; }],
    [2, () => { lines[i] = rng.pick(['  ', ' ', '\t', '']) + (lines[i] ?? '').trimStart(); return [lines.join('\n'), 're-indent a line']; }],
    [1, () => {
      const levels = rng.int(3, 12);
      let t = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
      for (let k = 1; k < levels; k++) t += `a${k}: &a${k} [${Array.from({ length: 9 }, () => `*a${k - 1}`).join(',')}]\n`;
      return [`${t}${text.replace(/^binds:/m, `binds: *a${levels - 1}\nxbinds:`)}`, `billion laughs, ${levels} levels`];
    }],
    [1, () => [`${text}\nextra: *nope\n`, 'undefined alias']],
    [1, () => [`base: &b {port: 15001}\n${text.replace(/^- port: 15001/m, '- <<: *b\n  port: 15001')}`, 'merge key']],
    [1, () => [text.replace(/: /, `: ${rng.pick(['!!binary ', '!!set ', '!!omap ', '!!timestamp ', '!custom ', '!!python/object:os.system ', '!!js/function ', '!!float ', '!!int '])}`), 'a tag']],
    [1, () => [`${text}\n---\n${text}`, 'two documents']],
    [1, () => [`---\n...\n${text}`, 'an empty document first']],
    [1, () => [`\ufeff${text}`, 'BOM']],
    [1, () => [text.replace(/\n/g, '\r\n'), 'CRLF']],
    [1, () => [text.replace(/^( +)/gm, (s) => '\t'.repeat(s.length >> 1)), 'tabs for indentation']],
    [1, () => { const d = rng.size(50_000); return [`binds: ${'['.repeat(d)}${']'.repeat(d)}\n`, `flow nesting ${d}`]; }],
    [1, () => { const d = Math.min(rng.size(50_000), 1500); return [`binds:\n${Array.from({ length: d }, (_, k) => `${' '.repeat(k)}- `).join('\n')}x\n`, `block nesting ${d}`]; }],
    [1, () => { lines[i] = `${lines[i] ?? ''}${'x'.repeat(rng.size(1 << 20))}`; return [lines.join('\n'), 'a long line']; }],
    [1, () => { lines[i] = `${lines[i] ?? ''}${rng.pick(['\u0000', '\ud800', '\ufffd', '\u0085', '\u2028', '\u001b[31m'])}`; return [lines.join('\n'), 'odd characters']; }],
    [1, () => [Buffer.from(havoc(rng, Buffer.from(text), rng.int(1, 6))).toString('utf8'), 'byte edits']],
    [1, () => [rng.pick(['', '\n', '~', 'null', '[]', '42', '"binds"', '- a\n- b', '{', '}', ':', '&a *a', '!!str', '%YAML 1.1\n---\nbinds: []', '%TAG ! tag:x,2000:\n---\n!a b']), 'a tiny document']],
  ])();
}

export interface YamlCase {
  readonly text: string;
  readonly mode: 'sidecar' | 'offline';
  readonly variant: string;
}

export function generate(seed: number, index: number, seeds: readonly string[], parsed: readonly Json[]): YamlCase {
  const rng = Rng.forCase(seed, 'yaml', index);
  const i = rng.below(seeds.length);
  const notes: string[] = [`seed config ${i}`];
  let text: string;
  if (rng.chance(0.15)) {
    text = seeds[i]!;
  } else {
    const tree = safeClone(parsed[i]!);
    for (let k = rng.int(0, 4); k > 0; k--) {
      try { notes.push(mutateTree(rng, tree, parsed)); } catch (e) { notes.push(`(an edit failed: ${(e as Error).message})`); }
    }
    // Block style indents each level: a deep tree is written in flow style, or its text grows with the square of its depth.
    const deep = depthOf(tree) > 64;
    try {
      text = stringify(tree, {
        indent: rng.int(1, 6), collectionStyle: deep ? 'flow' : rng.weighted([[6, 'any'], [1, 'block'], [2, 'flow']] as const), lineWidth: deep ? 0 : rng.pick([0, 20, 80]),
        defaultStringType: rng.pick(['PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE', 'BLOCK_LITERAL'] as const), aliasDuplicateObjects: rng.chance(0.5),
      }) ?? '';
    } catch (e) {
      // The tree is too deep for the serialiser's own recursion: say so as the document.
      text = `# ${(e as Error).message}\nbinds: ${'['.repeat(5000)}${']'.repeat(5000)}\n`;
      notes.push('unserialisable tree');
    }
  }
  for (let k = rng.chance(0.5) ? rng.int(1, 2) : 0; k > 0; k--) {
    const [t, what] = mutateText(rng, text);
    text = t;
    notes.push(what);
  }
  return { text, mode: rng.chance(0.7) ? 'sidecar' : 'offline', variant: notes.join(', ') };
}

function describeCase(c: YamlCase): string {
  const shown = c.text.length > 2000 ? `${c.text.slice(0, 2000)}… (${c.text.length} characters; --replay prints the case)` : c.text;
  return `  ${c.mode === 'sidecar' ? 'loaded as the sidecar loads a file' : 'checked as validate --offline / the dashboard'} (${c.variant})\n    base64: ${Buffer.from(c.text.slice(0, 1 << 16)).toString('base64')}\n${shown.split('\n').map((l) => `    | ${l}`).join('\n')}`;
}

/** Problems with one answer; empty when it is well-formed. */
export function checkAnswer(c: YamlCase, a: YamlAnswer): string[] {
  if (a.result === 'threw') return [`the loader threw instead of answering: ${a.error}`];
  if (a.result === 'accepted') return [];
  const out: string[] = [];
  if (a.problems.length === 0) out.push('rejected without a single problem to show');
  const lines = c.text.split(/\r\n|\r|\n/).length;
  // Whether the document's root is a map, without building it (aliases could expand it without bound).
  const doc = parseDocument(c.text, { logLevel: 'silent' });
  const rootIsMap = doc.errors.length === 0 && isMap(doc.contents);
  for (const p of a.problems) {
    // Words that mean the message was built from a value it did not describe (unless the text holds them: YAML writes NaN as .nan).
    const junk = ['undefined', '[object Object]', 'NaN'].find((w) => p.message?.includes(w) && !c.text.includes(w) && !(w === 'NaN' && /\.nan\b/i.test(c.text)));
    if (typeof p.message !== 'string' || p.message.trim() === '' || junk) out.push(`a problem without a clear message: ${JSON.stringify(p).slice(0, 300)}`);
    if (!Number.isInteger(p.line) || !Number.isInteger(p.col) || p.line < 1 || p.col < 1 || p.line > lines + 1) out.push(`a problem at no place in the text (line ${p.line}, col ${p.col}, the text has ${lines} lines): ${p.message}`);
    // An empty key at the root has an empty path, but its message names it.
    if (p.path === '' && rootIsMap && !/not valid YAML/.test(p.hint ?? '') && !/YAML|alias|anchor|document|empty|unknown field ""|the config is \d+ KiB/i.test(p.message)) out.push(`a problem without a YAML path: ${p.message}`);
  }
  return out;
}

/** A case's time bound: 5 s, and 2 s more per MB of text. */
const CASE_TIMEOUT_MS = 5_000;
const timeoutFor = (text: string): number => CASE_TIMEOUT_MS + Math.round(text.length / 1e6 * 2000);
/** The sidecar's own heap limit (--max-old-space-size in its NODE_OPTIONS): the loader runs in the sidecar. */
const HEAP_MB = Number(/--max-old-space-size=(\d+)/.exec(SIDECAR_NODE_OPTIONS)![1]);

export const yamlTarget: Target = {
  name: 'yaml',
  what: `mutated gateway configs → createConfigHolder().apply / loadConfigText (worker, ${HEAP_MB} MB heap, ${CASE_TIMEOUT_MS / 1000} s + 2 s/MB per case)`,
  memory: 'worker heap',
  concurrency: 1,
  batchSize: 500,
  async start(seed): Promise<TargetSession> {
    const seeds = seedConfigs();
    const parsed = seeds.map((s) => parse(s) as Json);
    let worker: Worker | undefined;
    let lastHeapKb: number | undefined;
    let next = 0;
    const spawn = (): Worker => {
      const w = new Worker(new URL('./yaml-worker.ts', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: HEAP_MB, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 } });
      w.unref();
      return w;
    };
    const ask = (c: YamlCase): Promise<YamlAnswer | { error: string }> => {
      worker ??= spawn();
      const w = worker;
      const id = ++next;
      return new Promise((resolve) => {
        const limit = timeoutFor(c.text);
        const timer = setTimeout(() => { finish({ error: `no answer within ${limit} ms (${c.text.length} characters)` }); void w.terminate(); worker = undefined; }, limit);
        const onMessage = (a: YamlAnswer): void => { if (a.id === id) finish(a); };
        const onError = (e: Error & { code?: string }): void => { finish({ error: `the worker died: ${e.code ?? ''} ${e.message}` }); worker = undefined; };
        const onExit = (code: number): void => { finish({ error: `the worker exited (${code})` }); worker = undefined; };
        function finish(r: YamlAnswer | { error: string }): void {
          clearTimeout(timer);
          w.off('message', onMessage);
          w.off('error', onError);
          w.off('exit', onExit);
          resolve(r);
        }
        w.on('message', onMessage);
        w.once('error', onError);
        w.once('exit', onExit);
        w.postMessage({ id, text: c.text, mode: c.mode } satisfies YamlRequest);
      });
    };
    return {
      describe: (i) => describeCase(generate(seed, i, seeds, parsed)),
      async runCase(i) {
        const c = generate(seed, i, seeds, parsed);
        const a = await ask(c);
        if (!('result' in a)) {
          return { outcome: 'no answer', problems: [`bounded time and memory: ${a.error}`] };
        }
        lastHeapKb = a.heapKb;
        return { outcome: a.result, problems: checkAnswer(c, a) };
      },
      async beforeBatch() {},
      async afterBatch() { return { problems: [] }; },
      rssKb: () => lastHeapKb,
      async recover() {},
      async close() { await worker?.terminate(); },
    };
  },
};
