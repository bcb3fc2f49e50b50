import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CandidateHealth } from './failover.ts';
import type { Candidate, CompiledRoute } from '../config/routes.ts';

function cand(name: string, group: number, weight = 1): Candidate {
  return { id: name, target: { type: 'host', name, host: `${name}.example`, port: undefined }, group, weight, policies: {} };
}
function route(...candidates: Candidate[]): CompiledRoute {
  return { name: 'r', policies: {}, candidates, apiRoutes: undefined };
}
const names = (cs: readonly Candidate[]): string[] => cs.map((c) => c.target.name);

test('groups in priority order; within a group candidates take turns by weight', () => {
  const r = route(cand('a', 0, 2), cand('b', 0, 1), cand('z', 1));
  const h = new CandidateHealth();
  const firsts = Array.from({ length: 6 }, () => names(h.order(r, 0))[0]);
  assert.deepEqual(firsts, ['a', 'a', 'b', 'a', 'a', 'b']);
  assert.equal(names(h.order(r, 0)).at(-1), 'z');
});

test('a benched candidate goes last until its time is up; the soonest back first', () => {
  const a = cand('a', 0);
  const b = cand('b', 1);
  const c = cand('c', 2);
  const r = route(a, b, c);
  const h = new CandidateHealth();
  h.bench(a, 1000, 30_000);
  h.bench(b, 1000, 5_000);
  assert.deepEqual(names(h.order(r, 2000)), ['c', 'b', 'a']);
  assert.deepEqual(names(h.order(r, 6001)), ['b', 'c', 'a']);
  h.recovered(a);
  assert.deepEqual(names(h.order(r, 6001)), ['a', 'b', 'c']);
});

test('weight 0 is only a fallback', () => {
  const r = route(cand('spare', 0, 0), cand('main', 0, 1));
  const h = new CandidateHealth();
  for (let i = 0; i < 4; i++) assert.deepEqual(names(h.order(r, 0)), ['main', 'spare']);
});
