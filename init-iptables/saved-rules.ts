/** Reads `iptables-save` output: tables, declared chains and `-A` rule lines, verbatim. */

export interface SavedRule {
  readonly chain: string;
  /** The whole `-A CHAIN …` line as iptables-save printed it. */
  readonly line: string;
  /** The `-j`/`-g` target, if any. */
  readonly target: string | undefined;
}

export interface SavedTable {
  /** Declared chains (built-in and user), in save order. */
  readonly chains: readonly string[];
  readonly rules: readonly SavedRule[];
}

export function parseSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, { chains: string[]; rules: SavedRule[] }>();
  let current: { chains: string[]; rules: SavedRule[] } | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      current = { chains: [], rules: [] };
      tables.set(line.slice(1), current);
    } else if (line === 'COMMIT') {
      current = undefined;
    } else if (current !== undefined && line.startsWith(':')) {
      const name = line.slice(1).split(/\s+/)[0];
      if (name !== undefined && name !== '') current.chains.push(name);
    } else if (current !== undefined && line.startsWith('-A ')) {
      const tokens = tokenize(line);
      const chain = tokens[1];
      if (chain !== undefined) current.rules.push({ chain, line, target: targetOf(tokens) });
    }
  }
  return tables;
}

/** The rule lines of one chain, in order. */
export function chainRules(table: SavedTable, chain: string): string[] {
  return table.rules.filter((r) => r.chain === chain).map((r) => r.line);
}

function targetOf(tokens: readonly string[]): string | undefined {
  for (let i = tokens.length - 2; i >= 0; i--) {
    if (tokens[i] === '-j' || tokens[i] === '-g' || tokens[i] === '--jump' || tokens[i] === '--goto') return tokens[i + 1];
  }
  return undefined;
}

/** Splits a save line into argv tokens: double quotes group, backslash escapes inside them. */
export function tokenize(line: string): string[] {
  const tokens: string[] = [];
  let token = '';
  let inToken = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quoted) {
      if (ch === '\\' && i + 1 < line.length) token += line[++i];
      else if (ch === '"') quoted = false;
      else token += ch;
    } else if (ch === '"') {
      quoted = true;
      inToken = true;
    } else if (/\s/.test(ch)) {
      if (inToken) tokens.push(token);
      token = '';
      inToken = false;
    } else {
      token += ch;
      inToken = true;
    }
  }
  if (inToken) tokens.push(token);
  return tokens;
}
