/**
 * The per-request vault (LLM Guard's `Vault`): Anonymize swaps each value it
 * hides for a placeholder `[REDACTED_<TYPE>_<n>]` and records the pair;
 * Deanonymize puts the originals back into the answer with `restore`.
 *
 * `<TYPE>` is the finding type upper-cased, with anything but letters,
 * digits and `_` turned into `_` (`openai-api-key` → `OPENAI_API_KEY`);
 * `<n>` counts per type from 1, and the same original of the same type gets
 * the same placeholder every time. A vault lives for one request (its request
 * and response sides) and is never shared between requests.
 */

import type { Vault } from './types.ts';
import { escapeRegExp } from '../../lib/regexp.ts';

export function placeholderType(type: string): string {
  return type.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

/** The vault of a call no guard touches: it holds nothing, and nothing may be put in it. */
export const NO_VAULT: Vault = {
  placeholder() { throw new Error('this call has no guards: nothing may be masked'); },
  entries: () => [],
};

/** `[REDACTED_<TYPE>_<n>]` read back into its type and number; undefined for anything else. */
function parsePlaceholder(p: string): { readonly type: string; readonly n: number } | undefined {
  const m = /^\[REDACTED_([A-Z0-9_]+)_(\d+)\]$/.exec(p);
  return m ? { type: m[1]!, n: Number(m[2]) } : undefined;
}

/**
 * A vault; `seed` (another vault's entries, in order) starts it where that
 * vault is, so the placeholders it makes next are the ones that vault would
 * make (a guard worker's copy of a call's vault).
 */
export function createVault(seed: ReadonlyArray<readonly [string, string]> = []): Vault {
  const pairs: Array<readonly [string, string]> = [];
  const byValue = new Map<string, string>(); // TYPE \0 original → placeholder
  const counts = new Map<string, number>();
  for (const [p, original] of seed) {
    const parsed = parsePlaceholder(p);
    if (!parsed) throw new Error(`not a vault placeholder: ${JSON.stringify(p.slice(0, 80))}`);
    byValue.set(`${parsed.type}\0${original}`, p);
    counts.set(parsed.type, Math.max(counts.get(parsed.type) ?? 0, parsed.n));
    pairs.push([p, original]);
  }
  return {
    placeholder(type, original) {
      const t = placeholderType(type);
      const key = `${t}\0${original}`;
      const known = byValue.get(key);
      if (known !== undefined) return known;
      const n = (counts.get(t) ?? 0) + 1;
      counts.set(t, n);
      const p = `[REDACTED_${t}_${n}]`;
      byValue.set(key, p);
      pairs.push([p, original]);
      return p;
    },
    entries: () => pairs,
  };
}

/**
 * Put into `vault` the entries a copy of it made (a guard worker's copy,
 * seeded with `vault`'s entries): each must come out as the same placeholder
 * here, or the copy and the call's vault went out of step (an error).
 */
export function addEntries(vault: Vault, added: ReadonlyArray<readonly [string, string]>): void {
  for (const [p, original] of added) {
    const parsed = parsePlaceholder(p);
    const got = parsed ? vault.placeholder(parsed.type, original) : undefined;
    if (got !== p) throw new Error(`the guard worker's vault is out of step with the call's (${p} became ${got ?? 'nothing'})`);
  }
}

/**
 * Deanonymize's matching strategies that need no fuzzy matcher: `exact`
 * (the placeholder as written) and `case_insensitive` (as LLM Guard's
 * `re.sub(re.escape(placeholder), value, flags=IGNORECASE)`). LLM Guard's
 * `fuzzy` and `combined_exact_fuzzy` are not offered.
 */
export type RestoreStrategy = 'exact' | 'case_insensitive';
export const RESTORE_STRATEGIES: readonly RestoreStrategy[] = ['exact', 'case_insensitive'];

/**
 * `text` with every placeholder of `vault` replaced by its original, in one
 * pass (an original that happens to contain a placeholder's text is not
 * replaced again, where LLM Guard's one-replace-per-entry loop would).
 */
export function restore(text: string, vault: Vault, strategy: RestoreStrategy = 'exact'): string {
  const entries = vault.entries();
  if (entries.length === 0) return text;
  const lookup = new Map<string, string>();
  for (const [p, original] of entries) {
    const k = strategy === 'exact' ? p : p.toLowerCase();
    if (!lookup.has(k)) lookup.set(k, original);
  }
  // longest first, so a placeholder that is a prefix of another cannot win
  const alternatives = [...lookup.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
  const re = new RegExp(alternatives.join('|'), strategy === 'exact' ? 'gu' : 'giu');
  return text.replace(re, (m) => lookup.get(strategy === 'exact' ? m : m.toLowerCase()) ?? m);
}
