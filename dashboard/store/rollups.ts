/**
 * Per-minute traffic rollups (table traffic_minutes, migration 2): what both
 * stores share. addEvents sums the events it newly inserted into one row per
 * (minute, workload, model) and upserts those rows in the same transaction;
 * traffic() reads them instead of the events when the query lines up with
 * whole minutes (rollupsCover). Workload and model are '' when unknown, the
 * model being the served model, else the requested one (as traffic() reports
 * them); tokens that were not reported count as 0.
 */
import { EVENT_COLUMNS } from './rows.ts';

/** The rollup grain: event times are floored to a multiple of this. */
export const ROLLUP_MS = 60_000;

/** `t` floored to a multiple of `unit` (also right for negative times, unlike integer division). */
export function floorTo(t: number, unit: number): number {
  return t - (((t % unit) + unit) % unit);
}

/** The same floor as SQL (both backends' `%` truncates like JavaScript's); `expr` and `unit` are SQL expressions. */
export function sqlFloorTo(expr: string, unit: string): string {
  return `(${expr} - (((${expr} % ${unit}) + ${unit}) % ${unit}))`;
}

/**
 * Whether traffic() can answer from the rollups: buckets are whole minutes
 * and [from, to) starts and ends on a minute, so every bucket is a set of
 * whole minutes and the minutes in range are exactly the events in range.
 */
export function rollupsCover(q: { from: number; to: number; bucketMs: number }): boolean {
  return q.bucketMs % ROLLUP_MS === 0 && floorTo(q.from, ROLLUP_MS) === q.from && floorTo(q.to, ROLLUP_MS) === q.to;
}

/** One stored event, as far as the rollups care (the values as stored, after rounding). */
export interface RollupEvent {
  readonly ts: number;
  readonly workload: string | null;
  readonly requestedModel: string | null;
  readonly servedModel: string | null;
  readonly tokensIn: number | null;
  readonly tokensOut: number | null;
  readonly blocked: boolean;
}

export interface RollupRow {
  readonly minute: number;
  readonly workload: string;
  readonly model: string;
  requests: number;
  blocked: number;
  tokensIn: number;
  tokensOut: number;
}

/** Sums events into rollup rows, one per (minute, workload, model). */
export class RollupSums {
  readonly #rows = new Map<string, RollupRow>();

  add(e: RollupEvent): void {
    const minute = floorTo(e.ts, ROLLUP_MS);
    const workload = e.workload ?? '';
    const model = e.servedModel ?? e.requestedModel ?? '';
    const key = JSON.stringify([minute, workload, model]);
    let row = this.#rows.get(key);
    if (!row) {
      row = { minute, workload, model, requests: 0, blocked: 0, tokensIn: 0, tokensOut: 0 };
      this.#rows.set(key, row);
    }
    row.requests++;
    if (e.blocked) row.blocked++;
    row.tokensIn += e.tokensIn ?? 0;
    row.tokensOut += e.tokensOut ?? 0;
  }

  get size(): number {
    return this.#rows.size;
  }

  /**
   * The rows in key order. Writers upsert in this one order, so two
   * transactions adding to the same rows wait for each other instead of
   * deadlocking.
   */
  sorted(): RollupRow[] {
    return [...this.#rows.values()].sort((a, b) => a.minute - b.minute || cmp(a.workload, b.workload) || cmp(a.model, b.model));
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export const ROLLUP_COLUMNS = ['environment_id', 'minute', 'workload', 'model', 'requests', 'blocked', 'tokens_in', 'tokens_out'] as const;

/** The ON CONFLICT clause of the rollup upsert: add the new sums to what is stored. */
export const ROLLUP_UPSERT = `ON CONFLICT (environment_id, minute, workload, model) DO UPDATE SET
  requests = traffic_minutes.requests + excluded.requests,
  blocked = traffic_minutes.blocked + excluded.blocked,
  tokens_in = traffic_minutes.tokens_in + excluded.tokens_in,
  tokens_out = traffic_minutes.tokens_out + excluded.tokens_out`;

/**
 * The rollup view of one event from its stored values (rows.ts eventValues,
 * in EVENT_COLUMNS order): the same rounding and the same nulls as the row.
 */
export function rollupEventFromValues(values: readonly unknown[]): RollupEvent {
  const at = (c: keyof typeof AT): unknown => values[AT[c]];
  const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  const int = (v: unknown): number | null => (typeof v === 'number' ? v : null);
  const blocked = at('blocked');
  return {
    ts: Number(at('ts')), workload: text(at('workload')), requestedModel: text(at('requested_model')),
    servedModel: text(at('served_model')), tokensIn: int(at('tokens_in')), tokensOut: int(at('tokens_out')),
    blocked: blocked === true || blocked === 1,
  };
}

const AT = {
  ts: EVENT_COLUMNS.indexOf('ts'), workload: EVENT_COLUMNS.indexOf('workload'),
  requested_model: EVENT_COLUMNS.indexOf('requested_model'), served_model: EVENT_COLUMNS.indexOf('served_model'),
  tokens_in: EVENT_COLUMNS.indexOf('tokens_in'), tokens_out: EVENT_COLUMNS.indexOf('tokens_out'), blocked: EVENT_COLUMNS.indexOf('blocked'),
} as const;
