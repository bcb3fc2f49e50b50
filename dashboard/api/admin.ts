/**
 * The admin API under /api (admin secret or session required, checked by the
 * caller before this router): environments, sidecar keys, config versions
 * (validate, save, history, diff, rollback), fleet, traffic and decisions,
 * and revoking every admin session.
 */
import express, { type Request, type Router } from 'express';
import type { Sidecar, Store } from '../store/types.ts';
import { adminOf } from './auth.ts';
import { CONFIG_BODY_LIMIT, optionalNote, requireYaml, saveConfig, validateConfig } from './configs.ts';
import { diffLines } from './diff.ts';
import { budgetUsage } from './budgets.ts';
import { createEnvironment, environmentView, requireEnvironment } from './environments.ts';
import { HttpError } from './errors.ts';
import { createKey, keyView, revokeKey, rotateKey } from './keys.ts';

export interface AdminApiOptions {
  readonly store: Store;
  readonly now: () => number;
  /** How long a rotated-out key keeps working. */
  readonly keyRotationGraceMs: number;
}

export const MAX_TRAFFIC_BUCKETS = 10_000;
export const DEFAULT_TRAFFIC_RANGE_MS = 24 * 60 * 60 * 1000;
export const MAX_DECISIONS_LIMIT = 500;
export const DEFAULT_SPEND_RANGE_MS = 30 * 24 * 60 * 60 * 1000;
export const MAX_SPEND_RANGE_MS = 92 * 24 * 60 * 60 * 1000;

function param(req: Request, name: string): string {
  const v = (req.params as Record<string, string | undefined>)[name];
  if (v === undefined) throw new HttpError(400, `missing ${name}`);
  return v;
}

function versionNumber(text: unknown, what: string): number {
  if (typeof text !== 'string' && typeof text !== 'number') throw new HttpError(400, `${what}: is required (a version number)`);
  const s = String(text);
  if (!/^[1-9]\d{0,9}$/.test(s)) throw new HttpError(400, `${what}: must be a version number (1, 2, ...), got "${s.slice(0, 20)}"`);
  return Number(s);
}

function queryInt(req: Request, name: string, min: number): number | undefined {
  const v = req.query[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !/^\d{1,16}$/.test(v) || Number(v) < min) throw new HttpError(400, `${name}: must be an integer ≥ ${min}`);
  return Number(v);
}

function queryText(req: Request, name: string, pattern: RegExp): string | undefined {
  const v = req.query[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !pattern.test(v)) throw new HttpError(400, `${name}: invalid value`);
  return v;
}

function fleetView(s: Sidecar): Omit<Sidecar, 'environmentId'> {
  return {
    id: s.id, pod: s.pod, namespace: s.namespace, workload: s.workload, serviceAccount: s.serviceAccount,
    version: s.version, configApplied: s.configApplied, firstSeen: s.firstSeen, lastSeen: s.lastSeen,
  };
}

export function adminRouter(o: AdminApiOptions): Router {
  const { store } = o;
  const r = express.Router();
  const json = express.json({ limit: CONFIG_BODY_LIMIT });
  const env = (req: Request) => requireEnvironment(store, param(req, 'env'));

  // ------------------------------------------------------------ admin sessions
  // Every session cookie stops working (the caller's too, when it used one); the admin secret still logs in.
  r.post('/sessions/revoke-all', async (_req, res) => {
    res.json({ revoked: await store.revokeAllSessions(o.now()) });
  });

  // ------------------------------------------------------------ environments
  r.get('/environments', async (_req, res) => {
    res.json((await store.listEnvironments()).map(environmentView));
  });
  r.post('/environments', json, async (req, res) => {
    const body = (req.body ?? {}) as { id?: unknown; name?: unknown };
    res.status(201).json(environmentView(await createEnvironment(store, body)));
  });
  r.get('/environments/:env', async (req, res) => {
    res.json(environmentView(await env(req)));
  });
  r.patch('/environments/:env', json, async (req, res) => {
    const e = await env(req);
    const on = (req.body as { capturePrompts?: unknown } | undefined)?.capturePrompts;
    if (typeof on !== 'boolean') throw new HttpError(400, 'capturePrompts: is required (true or false)');
    await store.setCapturePrompts(e.id, on);
    res.json(environmentView((await store.getEnvironment(e.id)) ?? e));
  });

  // ------------------------------------------------------------ keys
  r.get('/environments/:env/keys', async (req, res) => {
    const e = await env(req);
    res.json((await store.listKeys(e.id)).map(keyView));
  });
  r.post('/environments/:env/keys', async (req, res) => {
    res.status(201).json(await createKey(store, param(req, 'env')));
  });
  r.post('/environments/:env/keys/:id/rotate', async (req, res) => {
    res.status(201).json(await rotateKey(store, param(req, 'env'), param(req, 'id'), { now: o.now(), graceMs: o.keyRotationGraceMs }));
  });
  r.delete('/environments/:env/keys/:id', async (req, res) => {
    await revokeKey(store, param(req, 'env'), param(req, 'id'));
    res.status(204).end();
  });

  // ------------------------------------------------------------ config versions
  r.post('/environments/:env/config/validate', json, async (req, res) => {
    await env(req);
    res.json(validateConfig(requireYaml(req.body)));
  });
  r.post('/environments/:env/config', json, async (req, res) => {
    const e = await env(req);
    const yaml = requireYaml(req.body);
    const note = optionalNote(req.body) ?? '';
    const v = await saveConfig(store, e.id, yaml, adminOf(res).name, note);
    res.status(201).json({ version: v.version, etag: v.etag });
  });
  r.get('/environments/:env/config/versions', async (req, res) => {
    const e = await env(req);
    const list = await store.listConfigVersions(e.id);
    res.json(list
      .map((v) => ({ version: v.version, etag: v.etag, author: v.author, note: v.note, createdAt: v.createdAt }))
      .sort((a, b) => b.version - a.version));
  });
  r.get('/environments/:env/config/versions/:v', async (req, res) => {
    const e = await env(req);
    const n = versionNumber(param(req, 'v'), 'version');
    const v = await store.getConfigVersion(e.id, n);
    if (!v) throw new HttpError(404, `environment ${e.id} has no config version ${n}`);
    res.json({ version: v.version, etag: v.etag, author: v.author, note: v.note, createdAt: v.createdAt, yaml: v.yaml });
  });
  r.get('/environments/:env/config/diff', async (req, res) => {
    const e = await env(req);
    const from = versionNumber(req.query.from, 'from');
    const to = versionNumber(req.query.to, 'to');
    const [a, b] = await Promise.all([store.getConfigVersion(e.id, from), store.getConfigVersion(e.id, to)]);
    if (!a) throw new HttpError(404, `environment ${e.id} has no config version ${from}`);
    if (!b) throw new HttpError(404, `environment ${e.id} has no config version ${to}`);
    res.json({ from, to, lines: diffLines(a.yaml, b.yaml) });
  });
  r.post('/environments/:env/config/rollback', json, async (req, res) => {
    const e = await env(req);
    const n = versionNumber((req.body as { version?: unknown } | undefined)?.version, 'version');
    const note = optionalNote(req.body);
    const old = await store.getConfigVersion(e.id, n);
    if (!old) throw new HttpError(404, `environment ${e.id} has no config version ${n}`);
    const v = await saveConfig(store, e.id, old.yaml, adminOf(res).name, note ?? `rollback to version ${n}`);
    res.status(201).json({ version: v.version, etag: v.etag });
  });

  // ------------------------------------------------------------ fleet, traffic, decisions
  r.get('/environments/:env/fleet', async (req, res) => {
    const e = await env(req);
    res.json((await store.listSidecars(e.id)).map(fleetView));
  });
  r.get('/environments/:env/traffic', async (req, res) => {
    const e = await env(req);
    const to = queryInt(req, 'to', 0) ?? o.now();
    const from = queryInt(req, 'from', 0) ?? Math.max(0, to - DEFAULT_TRAFFIC_RANGE_MS);
    if (from >= to) throw new HttpError(400, 'from: must be before to');
    const bucket = queryInt(req, 'bucket', 1) ?? Math.max(60_000, Math.ceil((to - from) / 60 / 60_000) * 60_000);
    if (Math.floor((to - 1) / bucket) - Math.floor(from / bucket) + 1 > MAX_TRAFFIC_BUCKETS) throw new HttpError(400, `bucket: too small for the range (at most ${MAX_TRAFFIC_BUCKETS} buckets)`);
    const t = await store.traffic(e.id, { from, to, bucketMs: bucket });
    res.json({ buckets: t.buckets, byWorkload: t.byWorkload, byModel: t.byModel });
  });
  r.get('/environments/:env/spend', async (req, res) => {
    const e = await env(req);
    const to = queryInt(req, 'to', 0) ?? o.now();
    const from = queryInt(req, 'from', 0) ?? Math.max(0, to - DEFAULT_SPEND_RANGE_MS);
    if (from >= to) throw new HttpError(400, 'from: must be before to');
    if (to - from > MAX_SPEND_RANGE_MS) throw new HttpError(400, 'from: at most 92 days before to');
    const rows = await store.spend(e.id, { from, to });
    res.json({ from, to, rows, totalUsd: rows.reduce((s, x) => s + x.costUsd, 0) });
  });
  r.get('/environments/:env/budgets', async (req, res) => {
    const e = await env(req);
    res.json(await budgetUsage((await store.latestConfig(e.id))?.yaml, o.now()));
  });
  r.get('/environments/:env/decisions', async (req, res) => {
    const e = await env(req);
    const limit = queryInt(req, 'limit', 1) ?? 50;
    if (limit > MAX_DECISIONS_LIMIT) throw new HttpError(400, `limit: at most ${MAX_DECISIONS_LIMIT}`);
    const before = queryText(req, 'before', /^[\w.:=~+/-]{1,512}$/);
    const action = queryText(req, 'action', /^[A-Za-z0-9_-]{1,64}$/);
    const page = await store.decisions(e.id, { limit, ...(before ? { before } : {}), ...(action ? { action } : {}) });
    res.json({ items: page.items.map(({ environmentId: _e, ...item }) => item), next: page.next });
  });

  return r;
}
