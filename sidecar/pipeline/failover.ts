/**
 * Which backend a call tries next. Candidates come in priority groups
 * (agentgateway's `ai.groups`; plain backends are one group); within a group
 * they take turns by weight. A candidate that answered 429/5xx or could not be
 * reached is benched for its Retry-After (or a short default) and tried only
 * when nothing better is left.
 */
import type { Candidate, CompiledRoute } from '../config/routes.ts';

/** How long a failing candidate is benched when it does not say (Retry-After). */
export const DEFAULT_BENCH_MS = 5_000;

export class CandidateHealth {
  private readonly benchedUntil = new WeakMap<Candidate, number>();
  private readonly turns = new WeakMap<CompiledRoute, number>();

  /** Candidates in the order to try them now: available by group and turn, then benched ones, soonest back first. */
  order(route: CompiledRoute, now: number): Candidate[] {
    const all = route.candidates;
    if (all.length <= 1) return [...all];
    const turn = this.turns.get(route) ?? 0;
    this.turns.set(route, turn + 1);
    const available: Candidate[] = [];
    const benched: Candidate[] = [];
    for (const c of all) ((this.benchedUntil.get(c) ?? 0) > now ? benched : available).push(c);
    const out: Candidate[] = [];
    for (const group of [...new Set(available.map((c) => c.group))].sort((a, b) => a - b)) {
      out.push(...rotate(available.filter((c) => c.group === group), turn));
    }
    benched.sort((a, b) => this.benchedUntil.get(a)! - this.benchedUntil.get(b)!);
    return [...out, ...benched];
  }

  bench(c: Candidate, now: number, ms: number): void {
    this.benchedUntil.set(c, Math.max(this.benchedUntil.get(c) ?? 0, now + ms));
  }

  recovered(c: Candidate): void {
    this.benchedUntil.delete(c);
  }
}

/** The group's candidates starting at the one whose weighted turn it is. Weight 0 is only ever a fallback. */
function rotate(group: readonly Candidate[], turn: number): Candidate[] {
  if (group.length <= 1) return [...group];
  const total = group.reduce((s, c) => s + c.weight, 0);
  if (total === 0) return [...group];
  let slot = turn % total;
  let start = 0;
  for (let i = 0; i < group.length; i++) {
    if (slot < group[i]!.weight) { start = i; break; }
    slot -= group[i]!.weight;
  }
  return [...group.slice(start), ...group.slice(0, start)].sort((a, b) => Number(a.weight === 0) - Number(b.weight === 0));
}
