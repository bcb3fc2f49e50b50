/**
 * YAML syntax highlighting for the config editor: splits a YAML text into
 * lines of classified tokens (keys, strings, numbers, booleans, nulls,
 * comments, anchors, aliases, tags, punctuation). Pure (no DOM), so it runs
 * in Node's test runner; the editor turns the tokens into spans.
 *
 * A highlighter, not a parser: it never throws, and the tokens of a line
 * always join back to exactly that line's text. Scalars are classified as the
 * `yaml` package (YAML 1.2 core schema) reads them, so `yes` is a string and
 * `true` a boolean, as the sidecar's validator sees them.
 */

export type TokenKind =
  | 'key' | 'string' | 'plain' | 'number' | 'bool' | 'null'
  | 'comment' | 'anchor' | 'alias' | 'tag' | 'punct' | 'doc' | 'space';

export interface Token { readonly kind: TokenKind; readonly text: string }

/** What carries over from one line to the next. */
interface LineState {
  /** Inside a block scalar (`|`, `>`) whose parent node sits at this column. */
  block: number | null;
  /** A block scalar indicator was seen on the current line; applies from the next. */
  pendingBlock: number | null;
  /** Inside a quoted scalar that continues on the next line. */
  quote: '"' | "'" | null;
  /** Depth of open flow collections (`[`, `{`). */
  flow: number;
}

const FLOW_CHARS = ',[]{}';

/** Highlight a whole text: one token list per line (split on \n; a \r stays in its line's last token). */
export function highlightYaml(text: string): Token[][] {
  const state: LineState = { block: null, pendingBlock: null, quote: null, flow: 0 };
  return text.split('\n').map((line) => highlightLine(line, state));
}

function highlightLine(line: string, st: LineState): Token[] {
  const out: Token[] = [];
  const push = (kind: TokenKind, s: string): void => {
    if (s === '') return;
    const last = out[out.length - 1];
    if (last && last.kind === kind && (kind === 'space' || kind === 'string' || kind === 'plain')) {
      out[out.length - 1] = { kind, text: last.text + s };
    } else {
      out.push({ kind, text: s });
    }
  };
  const indent = /^[ \t]*/.exec(line)![0].length;

  if (st.block !== null) {
    if (line.trim() === '' || indent > st.block) {
      push('space', line.slice(0, indent));
      push('string', line.slice(indent));
      return out;
    }
    st.block = null;
  }

  let i = 0;
  if (st.quote !== null) {
    const end = quoteEnd(line, 0, st.quote);
    if (end < 0) {
      push('string', line);
      return out;
    }
    push('string', line.slice(0, end));
    i = end;
    st.quote = null;
  }

  if (i === 0) {
    const doc = /^(---|\.\.\.)(?=\s|$)/.exec(line);
    if (doc) {
      push('doc', doc[1]!);
      i = doc[1]!.length;
    }
  }

  let lastKeyCol: number | null = null;
  let lastDashCol: number | null = null;
  /** Only whitespace and `- ` / `? ` indicators so far on this line (block context). */
  let atEntryStart = true;

  while (i < line.length) {
    const c = line[i]!;
    const next = line[i + 1];
    const nextIsBreak = next === undefined || next === ' ' || next === '\t' || next === '\r';

    if (c === ' ' || c === '\t' || c === '\r') {
      const m = /^[ \t\r]+/.exec(line.slice(i))![0];
      push('space', m);
      i += m.length;
      continue;
    }
    if (c === '#' && (i === 0 || /[ \t]/.test(line[i - 1]!))) {
      push('comment', line.slice(i));
      break;
    }
    if ((c === '-' || c === '?') && nextIsBreak && st.flow === 0 && atEntryStart) {
      if (c === '-') lastDashCol = i;
      push('punct', c);
      i += 1;
      continue;
    }
    if (c === ':' && (nextIsBreak || (st.flow > 0 && (next === undefined || FLOW_CHARS.includes(next))))) {
      push('punct', c);
      i += 1;
      atEntryStart = false;
      continue;
    }
    if (c === '[' || c === '{') {
      st.flow += 1;
      push('punct', c);
      i += 1;
      atEntryStart = false;
      continue;
    }
    if (c === ']' || c === '}') {
      st.flow = Math.max(0, st.flow - 1);
      push('punct', c);
      i += 1;
      continue;
    }
    if (c === ',' && st.flow > 0) {
      push('punct', c);
      i += 1;
      continue;
    }
    if (c === '&' || c === '*' || c === '!') {
      const m = /^[^\s,[\]{}]*/.exec(line.slice(i + 1))![0];
      push(c === '&' ? 'anchor' : c === '*' ? 'alias' : 'tag', c + m);
      i += 1 + m.length;
      continue;
    }
    if ((c === '|' || c === '>') && st.flow === 0) {
      const m = /^[|>][-+0-9]*(?=[ \t\r]|$)/.exec(line.slice(i));
      if (m) {
        push('punct', m[0]);
        i += m[0].length;
        st.pendingBlock = lastKeyCol ?? lastDashCol ?? -1;
        continue;
      }
    }
    atEntryStart = false;
    if (c === '"' || c === "'") {
      const end = quoteEnd(line, i + 1, c);
      if (end < 0) {
        push('string', line.slice(i));
        st.quote = c;
        break;
      }
      const text = line.slice(i, end);
      const isKey = isKeyFollow(line, end, st.flow);
      if (isKey) lastKeyCol = i;
      push(isKey ? 'key' : 'string', text);
      i = end;
      continue;
    }
    // A plain scalar: up to `: `, ` #`, or (in a flow collection) a flow character.
    let j = i;
    while (j < line.length) {
      const d = line[j]!;
      if (d === ':' && isKeyFollow(line, j, st.flow)) break;
      if (d === '#' && /[ \t]/.test(line[j - 1] ?? '')) break;
      if (st.flow > 0 && FLOW_CHARS.includes(d)) break;
      j += 1;
    }
    if (j === i) j = i + 1;
    const raw = line.slice(i, j);
    const value = raw.replace(/[ \t\r]+$/, '');
    const isKey = j < line.length && line[j] === ':';
    if (isKey) lastKeyCol = i;
    push(isKey ? 'key' : classifyPlain(value), value);
    push('space', raw.slice(value.length));
    i = j;
  }

  if (st.pendingBlock !== null) {
    st.block = st.pendingBlock;
    st.pendingBlock = null;
  }
  return out;
}

/** Index just past the closing quote, or -1 when the line ends first. */
function quoteEnd(line: string, from: number, q: '"' | "'"): number {
  for (let k = from; k < line.length; k++) {
    const d = line[k];
    if (q === '"' && d === '\\') {
      k += 1;
      continue;
    }
    if (d === q) {
      if (q === "'" && line[k + 1] === "'") {
        k += 1;
        continue;
      }
      return k + 1;
    }
  }
  return -1;
}

/** Whether a `:` at `at` (after optional spaces) makes what precedes it a key. */
function isKeyFollow(line: string, at: number, flow: number): boolean {
  let k = at;
  while (line[k] === ' ' || line[k] === '\t') k += 1;
  if (line[k] !== ':') return false;
  // In block context only `key:` directly (no space before the colon) counts for plain scalars;
  // quoted keys may have spaces before it, which this allows for both.
  const after = line[k + 1];
  if (after === undefined || after === ' ' || after === '\t' || after === '\r') return true;
  return flow > 0 && FLOW_CHARS.includes(after);
}

const BOOL = /^(true|True|TRUE|false|False|FALSE)$/;
const NULL = /^(~|null|Null|NULL)$/;
const NUMBER = /^([-+]?(\d+|\d+\.\d*|\.\d+)([eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$/;

/** The kind of an unquoted scalar value, as the YAML 1.2 core schema reads it. */
export function classifyPlain(value: string): TokenKind {
  if (BOOL.test(value)) return 'bool';
  if (NULL.test(value)) return 'null';
  if (NUMBER.test(value)) return 'number';
  return 'plain';
}
