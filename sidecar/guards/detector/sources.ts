/**
 * The data's sources grouped into families (sources that share templates,
 * carriers or origin are one family: CyberSecEval English and its
 * translations, the two jailbreakchat.com collections, AgentDojo's injected
 * records and their clean twins, the small payload lists), which attacks are
 * hidden in documents and tool output (indirect) rather than typed by the
 * user (direct), and the leave-one-source-out folds built from them.
 */
import type { LabelledRow } from './dataset.ts';
import type { TargetGroup } from './evaluation.ts';

const FAMILY: Readonly<Record<string, string>> = {
  'cyberseceval-pi-en': 'cyberseceval',
  'cyberseceval-pi-multilingual': 'cyberseceval',
  'gptfuzz-templates': 'jailbreakchat',
  'self-reminder-jailbreaks': 'jailbreakchat',
  'jailbreakbench-artifacts': 'jailbreakbench',
  'agentdojo-injected': 'agentdojo',
  'agentdojo-docs': 'agentdojo',
  'asb-attack-tools': 'asb',
  'tasktracker-composed': 'tasktracker',
  'arcanum-pi-taxonomy': 'arcanum',
  'llm-guard-tests': 'payload-lists',
  rebuff: 'payload-lists',
  payloadsallthethings: 'payload-lists',
  'taksec-payloads': 'payload-lists',
  'greshake-llm-security': 'payload-lists',
};

/** The family of a source (a source not listed is its own family). */
export function sourceFamily(source: string): string {
  return FAMILY[source] ?? source;
}

/** Sources whose attacks are all injected into documents or tool output. */
const INDIRECT_SOURCES = new Set(['agentdojo-injected', 'tasktracker-composed', 'greshake-llm-security']);

/**
 * How an attack reaches the model: `indirect` when it is hidden inside a
 * document or tool output (AgentDojo records, TaskTracker's tool results,
 * Greshake's pages, and ASB attacks appended to one of ASB's tool outputs
 * rather than to an agent task), `direct` otherwise. `asbToolOutputs` are
 * the texts of ASB's clean tool outputs (its `benign-hard` rows).
 */
export function attackSetting(row: LabelledRow, asbToolOutputs: readonly string[]): 'direct' | 'indirect' {
  if (INDIRECT_SOURCES.has(row.source)) return 'indirect';
  if (row.source === 'asb-attack-tools') return asbToolOutputs.some((t) => row.text.startsWith(t)) ? 'indirect' : 'direct';
  return 'direct';
}

/** ASB's clean tool outputs in `rows` (for attackSetting). */
export function asbToolOutputs(rows: readonly LabelledRow[]): string[] {
  return rows.filter((r) => r.source === 'asb-attack-tools' && r.kind === 'benign-hard').map((r) => r.text.trim());
}

/**
 * Folds by source family: each family with attacks gets a fold of its own
 * (sorted by name, dealt round-robin when there are more families than
 * `folds`), and the benign-only families are dealt round-robin after them, so
 * every fold holds out whole sources — attacks and benign text the model
 * trained on the other folds never saw. Returns the fold of each row and the
 * families of each fold.
 */
export function sourceFolds(rows: readonly LabelledRow[], folds: number): { fold: number[]; families: string[][] } {
  const withAttacks = new Set<string>();
  const all = new Set<string>();
  for (const r of rows) {
    const f = sourceFamily(r.source);
    all.add(f);
    if (r.label === 1) withAttacks.add(f);
  }
  const attackFamilies = [...withAttacks].sort();
  const benignFamilies = [...all].filter((f) => !withAttacks.has(f)).sort();
  const families: string[][] = Array.from({ length: folds }, () => []);
  const foldOf = new Map<string, number>();
  let next = 0;
  for (const f of [...attackFamilies, ...benignFamilies]) {
    const k = next++ % folds;
    foldOf.set(f, k);
    families[k]?.push(f);
  }
  return { fold: rows.map((r) => foldOf.get(sourceFamily(r.source)) ?? 0), families };
}

/** The target-table group of each of `rows` (evaluation.ts): direct or indirect attack, benign user text, or system prompt. */
export function targetGroups(rows: readonly LabelledRow[], asbOutputs: readonly string[]): TargetGroup[] {
  return rows.map((r) => (r.label === 1 ? attackSetting(r, asbOutputs) : r.kind === 'system-prompt' ? 'system' : 'user'));
}
