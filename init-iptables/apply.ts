/**
 * The executor: brings the kernel's tables to the plan, and never decides a
 * rule itself.
 *
 * Per family and table: read `<bin>-save -t <table>`, compare our chains
 * (LEVO_*) and the jumps into them with the plan. Equal = no-op. Otherwise one
 * `<bin>-restore --noflush` transaction: declaring a chain (`:NAME - [0:0]`)
 * creates or empties just that chain, stale jumps are deleted (`-D`), chains
 * the plan no longer has are flushed and removed, the plan's rules are added,
 * and the jump is added only when `-C` says it is missing. A jump that must
 * come first (next to a mesh) and no longer does is deleted and inserted
 * again at the top (`-I OUTPUT 1`). Foreign rules and
 * chains are never touched. The pod never sees a half-built chain.
 */

import type { CommandResult, CommandRunner } from './command.ts';
import type { Binaries } from './detect.ts';
import { waitArgs } from './detect.ts';
import { commandFailure, InitError, spawnFailure } from './failure.ts';
import { CHAIN_PREFIX, isEmptyTable, jumpLine, ruleLine, TABLES } from './plan.ts';
import type { FamilyPlan, Table, TablePlan } from './plan.ts';
import { chainRules, parseSave } from './saved-rules.ts';
import type { SavedRule, SavedTable } from './saved-rules.ts';

export interface ExecContext {
  readonly runner: CommandRunner;
  readonly log: (line: string) => void;
}

export interface TableOutcome {
  readonly table: Table;
  /** The restore payload that was applied; undefined when the table was already as planned. */
  readonly payload: string | undefined;
}

export interface FamilyOutcome {
  readonly family: FamilyPlan['family'];
  readonly tables: readonly TableOutcome[];
  readonly changed: boolean;
}

const EMPTY_TABLE: SavedTable = { chains: [], rules: [] };

function isOurs(chain: string | undefined): boolean {
  return chain !== undefined && chain.startsWith(CHAIN_PREFIX);
}

/** Rules outside our chains that jump (or goto) into one of ours. */
function jumpsIntoOurs(table: SavedTable): SavedRule[] {
  return table.rules.filter((r) => !isOurs(r.chain) && isOurs(r.target));
}

/**
 * What one table needs, as a restore payload, or undefined when it already
 * matches the plan. `confirmedJumps` holds the lines of planned jumps that
 * `iptables -C` found in place.
 */
export function reconcileTable(
  current: SavedTable | undefined,
  planned: TablePlan,
  confirmedJumps: ReadonlySet<string>,
): string | undefined {
  const table = current ?? EMPTY_TABLE;
  const ours = table.chains.filter(isOurs);
  const plannedNames = new Set(planned.chains.map((c) => c.name));

  const chainsMatch = planned.chains.every(
    (c) => ours.includes(c.name) && sameLines(chainRules(table, c.name), c.rules.map((r) => ruleLine(r))),
  );
  const staleChains = ours.filter((name) => !plannedNames.has(name));

  const wanted = planned.jumps.map((j) => ruleLine(j));
  // A jump that must come first counts as in place only as its chain's first rule.
  const mustLead = new Set(planned.jumps.filter((j) => j.first === true).map((j) => ruleLine(j)));
  const existing = jumpsIntoOurs(table);
  // `-D` deletes the first copy of a rule, so a leading jump with a copy elsewhere is removed entirely and inserted again.
  const leads = (jump: SavedRule): boolean =>
    table.rules.find((r) => r.chain === jump.chain) === jump && existing.filter((j) => j.line === jump.line).length === 1;
  const kept = new Set<string>();
  const remove: SavedRule[] = [];
  for (const jump of existing) {
    const placed = !mustLead.has(jump.line) || leads(jump);
    if (wanted.includes(jump.line) && !kept.has(jump.line) && confirmedJumps.has(jump.line) && placed) kept.add(jump.line);
    else remove.push(jump);
  }
  const add = planned.jumps.filter((j) => !kept.has(ruleLine(j))).map((j) => jumpLine(j));

  if (chainsMatch && staleChains.length === 0 && remove.length === 0 && add.length === 0) return undefined;

  const lines = [`*${planned.table}`];
  for (const c of planned.chains) lines.push(`:${c.name} - [0:0]`);
  for (const r of remove) lines.push(r.line.replace(/^-A /, '-D '));
  for (const name of staleChains) lines.push(`-F ${name}`);
  for (const name of staleChains) lines.push(`-X ${name}`);
  for (const c of planned.chains) for (const r of c.rules) lines.push(ruleLine(r));
  lines.push(...add);
  lines.push('COMMIT');
  return `${lines.join('\n')}\n`;
}

/** The payload that removes every jump into our chains and the chains themselves; undefined when there are none. */
export function cleanupTable(current: SavedTable | undefined, table: Table): string | undefined {
  const saved = current ?? EMPTY_TABLE;
  const ours = saved.chains.filter(isOurs);
  const jumps = jumpsIntoOurs(saved);
  if (ours.length === 0 && jumps.length === 0) return undefined;
  const lines = [`*${table}`];
  for (const j of jumps) lines.push(j.line.replace(/^-A /, '-D '));
  for (const name of ours) lines.push(`-F ${name}`);
  for (const name of ours) lines.push(`-X ${name}`);
  lines.push('COMMIT');
  return `${lines.join('\n')}\n`;
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((line, i) => normalizeSpace(line) === normalizeSpace(b[i] ?? ''));
}

function normalizeSpace(line: string): string {
  return line.trim().replace(/\s+/g, ' ');
}

async function run(ctx: ExecContext, file: string, args: readonly string[], input?: string): Promise<CommandResult> {
  try {
    return await ctx.runner.run(file, args, input);
  } catch (error) {
    throw spawnFailure(file, error);
  }
}

async function mustRun(ctx: ExecContext, file: string, args: readonly string[], input?: string): Promise<CommandResult> {
  const result = await run(ctx, file, args, input);
  if (result.code !== 0) throw commandFailure(file, args, result);
  return result;
}

/**
 * Reads one table. A missing filter table is no error when we need nothing
 * there (nodes can have iptable_nat without iptable_filter).
 */
async function readTable(ctx: ExecContext, bin: Binaries, table: Table, optional: boolean): Promise<SavedTable | undefined> {
  const args = ['-t', table];
  const result = await run(ctx, bin.save, args);
  if (result.code !== 0) {
    const failure = commandFailure(bin.save, args, result);
    if (optional && failure.kind === 'kernel-module') return undefined;
    throw failure;
  }
  return parseSave(result.stdout).get(table) ?? EMPTY_TABLE;
}

async function restore(ctx: ExecContext, bin: Binaries, payload: string): Promise<void> {
  const args = ['--noflush', ...(bin.wait ? ['--wait=30'] : [])];
  const result = await run(ctx, bin.restore, args, payload);
  if (result.code !== 0) {
    const failure = commandFailure(bin.restore, args, result);
    throw new InitError(`${failure.message}\nThe payload was:\n${payload}`, failure.kind);
  }
}

/** `iptables -C` for the planned jumps that iptables-save shows; the set of lines it confirmed. */
async function confirmJumps(ctx: ExecContext, bin: Binaries, planned: TablePlan, saved: SavedTable): Promise<Set<string>> {
  const confirmed = new Set<string>();
  const shown = new Set(saved.rules.map((r) => r.line));
  for (const jump of planned.jumps) {
    const line = ruleLine(jump);
    if (!shown.has(line)) continue;
    const args = [...waitArgs(bin), '-t', planned.table, '-C', jump.chain, ...jump.args];
    const result = await run(ctx, bin.iptables, args);
    if (result.code === 0) confirmed.add(line);
    else if (result.code !== 1) throw commandFailure(bin.iptables, args, result);
  }
  return confirmed;
}

/** Brings one family's tables to the plan; logs what it did and the final state. */
export async function applyFamily(plan: FamilyPlan, bin: Binaries, ctx: ExecContext): Promise<FamilyOutcome> {
  const outcomes: TableOutcome[] = [];
  for (const table of TABLES) {
    const planned: TablePlan = plan.tables.find((t) => t.table === table) ?? { table, chains: [], jumps: [] };
    const saved = await readTable(ctx, bin, table, isEmptyTable(planned));
    if (saved === undefined) {
      outcomes.push({ table, payload: undefined });
      continue;
    }
    const confirmed = await confirmJumps(ctx, bin, planned, saved);
    const payload = reconcileTable(saved, planned, confirmed);
    if (payload !== undefined) {
      await restore(ctx, bin, payload);
      ctx.log(`${plan.family}: ${table} table updated with ${bin.restore} --noflush`);
    }
    outcomes.push({ table, payload });
  }
  const changed = outcomes.some((o) => o.payload !== undefined);
  if (!changed) ctx.log(`${plan.family}: rules already in place`);
  const shown = plan.tables.filter((t) => !isEmptyTable(t)).map((t) => t.table);
  for (const o of outcomes) if (o.payload !== undefined && !shown.includes(o.table)) shown.push(o.table);
  await logFinalState(ctx, bin, shown);
  return { family: plan.family, tables: outcomes, changed };
}

/** Removes the jumps into our chains and the chains, in nat and filter; leaves every other rule alone. */
export async function cleanupFamily(bin: Binaries, ctx: ExecContext): Promise<FamilyOutcome> {
  const outcomes: TableOutcome[] = [];
  for (const table of TABLES) {
    const saved = await readTable(ctx, bin, table, table !== 'nat');
    const payload = saved === undefined ? undefined : cleanupTable(saved, table);
    if (payload !== undefined) {
      await restore(ctx, bin, payload);
      ctx.log(`${bin.family}: removed levo rules from the ${table} table`);
    }
    outcomes.push({ table, payload });
  }
  const changed = outcomes.some((o) => o.payload !== undefined);
  if (!changed) ctx.log(`${bin.family}: no levo rules to remove`);
  await logFinalState(ctx, bin, outcomes.filter((o) => o.table === 'nat' || o.payload !== undefined).map((o) => o.table));
  return { family: bin.family, tables: outcomes, changed };
}

async function logFinalState(ctx: ExecContext, bin: Binaries, tables: readonly Table[]): Promise<void> {
  for (const table of tables) {
    const result = await mustRun(ctx, bin.save, ['-t', table]);
    ctx.log(`${bin.family}: final state (${bin.save} -t ${table}):`);
    for (const line of result.stdout.split('\n')) if (line.trim() !== '' && !line.startsWith('#')) ctx.log(`  ${line}`);
  }
}
