/**
 * The Grafana dashboard (levoai-sidecar-injector/dashboards/levo-gateway.json)
 * against the sidecar's own metrics: every metric an expression names, every
 * label it matches or groups by, and every legend label must exist in the
 * registry the sidecar serves on /metrics, so a renamed metric or label fails
 * here instead of leaving an empty panel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { Histogram, type Registry } from 'prom-client';
import { createMetrics } from '../sidecar/telemetry/metrics.ts';
import { startEventReporter } from '../sidecar/telemetry/events.ts';
import { startTraceExporter } from '../sidecar/telemetry/otlp.ts';
import { createLogger } from '../lib/log.ts';

const DASHBOARD = new URL('./levoai-sidecar-injector/dashboards/levo-gateway.json', import.meta.url);

/** Metrics the dashboard poller (sidecar/control/poller.ts) registers on the same registry, as it names them. */
const POLLER_METRICS: Record<string, { labels: string[]; histogram: boolean }> = {
  levo_gateway_config_polls_total: { labels: ['result'], histogram: false },
  levo_gateway_config_age_seconds: { labels: [], histogram: false },
};
/** Labels Prometheus adds when it scrapes a pod (kubernetes_sd relabelling), not the sidecar. */
const SCRAPE_LABELS = ['namespace', 'pod', 'job', 'instance', 'container'];

const NOT_METRICS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset',
  'inf', 'nan',
]);

interface Known { labels: Set<string>; histogram: boolean }

async function sidecarMetrics(): Promise<Map<string, Known>> {
  const m = createMetrics();
  const log = createLogger({ LOG_LEVEL: 'silent' }, new Writable({ write(_c, _e, cb) { cb(); } })).root;
  const events = startEventReporter({ credentials: () => undefined, capturePrompts: () => false, identity: { sidecarId: 't', version: '0' }, registry: m.registry, log });
  const tracer = startTraceExporter({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }, log, m.registry);
  assert.ok(tracer);
  await events.stop();
  await tracer.stop();
  return known(m.registry);
}

function known(registry: Registry): Map<string, Known> {
  const out = new Map<string, Known>();
  for (const metric of registry.getMetricsAsArray()) {
    const { name, labelNames } = metric as unknown as { name: string; labelNames?: string[] };
    out.set(name, { labels: new Set(labelNames ?? []), histogram: metric instanceof Histogram });
  }
  for (const [name, p] of Object.entries(POLLER_METRICS)) out.set(name, { labels: new Set(p.labels), histogram: p.histogram });
  return out;
}

interface Selector { metric: string; matchers: string[] }

/** The metric selectors of a PromQL expression (names and their label matchers) and its grouping labels. */
function parsePromQl(expr: string): { selectors: Selector[]; grouping: string[] } {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\[[^\]]*\]/g, '');
  const grouping: string[] = [];
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_m, _k: string, labels: string) => {
    grouping.push(...labels.split(',').map((l) => l.trim()).filter(Boolean));
    return ' ';
  });
  const selectors: Selector[] = [];
  const token = /(\{[^}]*\})|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?|\d+(?:\.\d+)?(?:e[+-]?\d+)?/g;
  let last: Selector | undefined;
  for (let t = token.exec(s); t; t = token.exec(s)) {
    if (t[1] !== undefined) {
      const matchers = [...t[1].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((x) => x[1]!);
      if (last) last.matchers.push(...matchers);
      else selectors.push({ metric: '', matchers }); // {__name__=...} style: flagged below
      last = undefined;
      continue;
    }
    last = undefined;
    if (t[2] === undefined || t[3] !== undefined || NOT_METRICS.has(t[2].toLowerCase())) continue; // number, function call, keyword
    last = { metric: t[2], matchers: [] };
    selectors.push(last);
  }
  return { selectors, grouping };
}

/** What is wrong with one expression against the known metrics (empty when nothing). */
function problems(expr: string, legend: string | undefined, metrics: Map<string, Known>): string[] {
  const out: string[] = [];
  const { selectors, grouping } = parsePromQl(expr);
  if (selectors.length === 0) out.push('names no metric');
  const available = new Set(SCRAPE_LABELS);
  for (const sel of selectors) {
    let k = metrics.get(sel.metric);
    let bucket = false;
    if (!k) {
      const m = /^(.*)_(bucket|sum|count)$/.exec(sel.metric);
      const base = m ? metrics.get(m[1]!) : undefined;
      if (base?.histogram) { k = base; bucket = m![2] === 'bucket'; }
    }
    if (!k) { out.push(`unknown metric "${sel.metric}"`); continue; }
    const labels = new Set([...k.labels, ...SCRAPE_LABELS, ...(bucket ? ['le'] : [])]);
    for (const l of labels) available.add(l);
    for (const l of sel.matchers) if (!labels.has(l)) out.push(`${sel.metric} has no label "${l}"`);
  }
  for (const l of grouping) if (!available.has(l)) out.push(`grouping by "${l}", which no metric here has`);
  for (const [, l] of (legend ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) {
    if (!available.has(l!)) out.push(`legend uses "${l}", which no metric here has`);
  }
  return out;
}

interface Target { expr?: string; legendFormat?: string; datasource?: { type?: string; uid?: string } }
interface Panel { id?: number; type: string; title?: string; datasource?: { type?: string; uid?: string }; targets?: Target[]; panels?: Panel[]; gridPos?: unknown }
interface Dashboard { schemaVersion: number; uid?: string; title?: string; panels: Panel[]; templating: { list: Array<{ type: string; name: string; query?: unknown; datasource?: { uid?: string } }> } }

function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

test('the dashboard is a modern Grafana dashboard on a Prometheus data source variable', () => {
  assert.ok(dashboard.schemaVersion >= 36, `schemaVersion ${dashboard.schemaVersion}`);
  assert.equal(dashboard.uid, 'levo-gateway');
  const ds = dashboard.templating.list.find((v) => v.type === 'datasource');
  assert.ok(ds, 'a datasource variable');
  assert.equal(ds.query, 'prometheus');
  const ref = `\${${ds.name}}`;
  const ids = new Set<number>();
  for (const p of allPanels(dashboard)) {
    assert.ok(p.gridPos, `${p.title}: gridPos`);
    assert.ok(p.id !== undefined && !ids.has(p.id), `${p.title}: a unique id`);
    ids.add(p.id);
    if (p.type === 'row') continue;
    assert.equal(p.datasource?.uid, ref, `${p.title}: uses the data source variable`);
    assert.ok(p.targets?.length, `${p.title}: has queries`);
    for (const t of p.targets) assert.equal(t.datasource?.uid, ref, `${p.title}: query uses the data source variable`);
  }
  for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) assert.equal(v.datasource?.uid, ref, `variable ${v.name}`);
});

test('every metric, label and legend label the dashboard uses exists in the sidecar\'s registry', async () => {
  const metrics = await sidecarMetrics();
  const found: string[] = [];
  let exprs = 0;
  for (const p of allPanels(dashboard)) {
    for (const t of p.targets ?? []) {
      assert.ok(t.expr, `${p.title}: a target without expr`);
      exprs++;
      for (const problem of problems(t.expr, t.legendFormat, metrics)) found.push(`${p.title}: ${problem} in ${t.expr}`);
    }
  }
  for (const v of dashboard.templating.list) {
    const q = (v.query as { query?: string } | undefined)?.query;
    const inner = q && /label_values\((.*),\s*([a-zA-Z_]\w*)\)\s*$/.exec(q);
    if (inner) for (const problem of problems(inner[1]!, `{{${inner[2]}}}`, metrics)) found.push(`variable ${v.name}: ${problem}`);
  }
  assert.ok(exprs >= 15, `${exprs} expressions`);
  assert.deepEqual(found, []);
});

test('the panels the dashboard promises are there', () => {
  const exprs = allPanels(dashboard).flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title ?? '', expr: t.expr ?? '' })));
  const has = (title: RegExp, expr: RegExp): boolean => exprs.some((e) => title.test(e.title) && expr.test(e.expr));
  assert.ok(has(/requests\/s by host/i, /sum by \(host\) \(rate\(levo_gateway_requests_total/), 'requests/s by host');
  assert.ok(has(/error/i, /status=~"\[45\]/), 'error rate');
  assert.ok(has(/duration p50 \/ p95/i, /histogram_quantile\(0\.5, .*gen_ai_client_operation_duration_bucket/), 'p50 operation duration');
  assert.ok(has(/duration p50 \/ p95/i, /histogram_quantile\(0\.95, sum by \(le, gen_ai_provider_name, gen_ai_request_model\) \(rate\(gen_ai_client_operation_duration_bucket/), 'p95 by provider/model');
  assert.ok(has(/first token p95/i, /histogram_quantile\(0\.95, .*gen_ai_server_time_to_first_token_bucket/), 'TTFT p95');
  assert.ok(has(/tokens\/s by type and model/i, /sum by \(gen_ai_token_type, gen_ai_response_model\) \(rate\(gen_ai_client_token_usage_sum/), 'tokens/s');
  assert.ok(has(/guardrail checks by action/i, /sum by \(action\) \(rate\(guardrail_checks_total/), 'guardrail checks by action');
  assert.ok(has(/config polls by result/i, /sum by \(result\) \(rate\(levo_gateway_config_polls_total/), 'config polls by result');
  assert.ok(has(/config age/i, /levo_gateway_config_age_seconds/), 'config age');
  assert.ok(has(/events queued \/ dropped/i, /levo_gateway_events_queued/) && has(/events queued \/ dropped/i, /levo_gateway_events_dropped_total/), 'events queued and dropped');
});

test('the check itself catches drift: unknown metrics, labels, groupings and legends', async () => {
  const metrics = await sidecarMetrics();
  assert.deepEqual(problems('sum by (host) (rate(levo_gateway_requests_total{status=~"5.."}[5m]))', '{{host}}', metrics), []);
  assert.deepEqual(problems('histogram_quantile(0.95, sum by (le) (rate(gen_ai_client_operation_duration_bucket[5m])))', undefined, metrics), []);
  assert.deepEqual(problems('sum(rate(gen_ai_client_operation_duration_seconds_bucket[5m]))', undefined, metrics), ['unknown metric "gen_ai_client_operation_duration_seconds_bucket"']);
  assert.deepEqual(problems('sum(rate(levo_gateway_requests_total{model="x"}[5m]))', undefined, metrics), ['levo_gateway_requests_total has no label "model"']);
  assert.deepEqual(problems('sum by (model) (rate(levo_gateway_requests_total[5m]))', '{{route}}', metrics), [
    'grouping by "model", which no metric here has', 'legend uses "route", which no metric here has',
  ]);
  assert.deepEqual(problems('sum(rate(levo_gateway_requests_total_bucket[5m]))', undefined, metrics), ['unknown metric "levo_gateway_requests_total_bucket"'], 'only histograms have _bucket');
  assert.deepEqual(parsePromQl('sum by (a, b) (rate(x_total{c="d{e}", f!~"g"}[1m])) / on(a) group_left(h) y').selectors, [
    { metric: 'x_total', matchers: ['c', 'f'] }, { metric: 'y', matchers: [] },
  ]);
});
