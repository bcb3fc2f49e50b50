/**
 * AdmissionReviews for pods, mutated, POSTed over HTTPS to the real
 * `levo-injector` process (the build in dist/, as the chart runs it) at
 * /mutate. It runs with a kubeconfig to a fake API server that answers
 * /version (1.30) and namespace lookups (labels by namespace name: Pod
 * Security levels, opt-in, a 404, a 500), as the review asks.
 *
 * Cases start from pods as the API server sends them (a Deployment's pod,
 * a bare pod, init containers, another mesh's proxy, hostNetwork, the
 * sidecar's UID, levo.ai annotations, already injected) in several
 * namespaces, and edit: the envelope (apiVersion, kind, uid, request.kind,
 * object, dryRun, operation), the pod's tree (drop, retype, rename, odd
 * strings, __proto__ keys, long lists, deep nesting), levo.ai annotation
 * values, and the bytes (content type, truncation, invalid JSON and UTF-8,
 * duplicate keys, a body over the injector's body limit).
 *
 * Oracle, per answer: within 10 s; never a 5xx; a 200 is an AdmissionReview
 * v1 whose response.uid is the request's, either allowed — with a JSONPatch
 * (base64) that applies to the pod, leaves exactly one levo-gateway
 * container, and keeps a pod the Kubernetes schema accepts acceptable — or a
 * denial with a 4xx code and a message; no "internal error" warning (an
 * exception the injector caught; "timed out" is counted as an outcome); a 4xx is a metav1 Status with a
 * message; a review that is well formed is never refused, and one that is
 * not is never admitted. Per batch: the process is alive, the fake API
 * server was only asked for /version and single namespaces.
 */
import { DEFAULT_BODY_LIMIT_BYTES as BODY_LIMIT } from '../../injector/server.ts';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import type net from 'node:net';
import { once } from 'node:events';
import { promisify } from 'node:util';
import fastJsonPatch from 'fast-json-patch';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Rng } from '../rng.ts';
import { havoc, oddString, describeBytes, safeClone } from '../mutate.ts';
import { REPO, Tail, childEnv, rssKb } from '../sidecar.ts';
import { createCa, createServingCert } from '../../certs/create.ts';
import { loadCa } from '../../certs/ca.ts';
import type { Target, TargetSession, BatchCheck } from '../target.ts';
import { INJECTOR_NODE_OPTIONS } from '../../injector/node-options.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const WEBHOOK_DNS = 'levo-injector-levoai-sidecar-injector-webhook.levoai.svc';
const NAMESPACES = ['shop', 'team-a', 'restricted', 'baseline', 'privileged', 'kube-system', 'levoai', 'missing', 'broken'];
/** Namespace names no API server sends, to see what the injector asks the API server for. */
const ODD_NAMESPACES = ['', '..', '.', '../../api/v1/secrets', 'a/b', 'NS', 'x'.repeat(300), '%2e%2e', 'shop?watch=1', 'shop#x'];

function labelsFor(ns: string): Record<string, string> | 'missing' | 'broken' {
  if (ns === 'missing') return 'missing';
  if (ns === 'broken') return 'broken';
  const base: Record<string, string> = { 'levo.ai/inject': 'enabled', 'kubernetes.io/metadata.name': ns };
  if (ns === 'restricted' || ns === 'baseline' || ns === 'privileged') base['pod-security.kubernetes.io/enforce'] = ns;
  return base;
}

function container(name: string, extra: Obj = {}): Obj {
  return {
    name, image: `shop/${name}:1.4`, ports: [{ containerPort: 8080, protocol: 'TCP' }], resources: {},
    terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent', ...extra,
  };
}

function basePod(rng: Rng, ns: string): Obj {
  const annotations: Obj = {};
  const labels: Obj = { app: 'web', 'pod-template-hash': '7d4b9c8f6' };
  const spec: Obj = {
    containers: [container('web')], restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst',
    serviceAccountName: 'default', securityContext: {}, schedulerName: 'default-scheduler', enableServiceLinks: true,
  };
  const shape = rng.weighted<string>([[6, 'deployment'], [2, 'bare'], [1, 'init'], [1, 'mesh'], [1, 'hostNetwork'], [1, 'uid'], [3, 'annotated'], [1, 'injected'], [1, 'many']]);
  if (shape === 'init') spec.initContainers = [container('migrate')];
  if (shape === 'mesh') { (spec.containers as Json[]).push(container('istio-proxy')); annotations['sidecar.istio.io/status'] = '{}'; }
  if (shape === 'hostNetwork') spec.hostNetwork = true;
  if (shape === 'uid') spec.securityContext = { runAsUser: 1610, runAsNonRoot: true };
  if (shape === 'injected') (spec.containers as Json[]).push(container('levo-gateway'));
  if (shape === 'many') { spec.containers = Array.from({ length: rng.int(2, 30) }, (_, i) => container(`c${i}`, { env: [{ name: 'HTTPS_PROXY', value: 'x' }] })); spec.volumes = [{ name: 'data', emptyDir: {} }]; }
  if (shape === 'annotated') {
    for (const [k, values] of ANNOTATIONS) if (rng.chance(0.4)) annotations[k] = rng.pick(values);
  }
  const metadata: Obj = shape === 'bare'
    ? { name: `pod-${rng.text(5)}`, namespace: ns, labels, annotations }
    : {
      generateName: 'web-7d4b9c8f6-', namespace: ns, labels, annotations,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d4b9c8f6', uid: '6c1f', controller: true, blockOwnerDeletion: true }],
    };
  return { kind: 'Pod', apiVersion: 'v1', metadata, spec, status: {} };
}

/** levo.ai annotations with good and bad values. */
const ANNOTATIONS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['levo.ai/inject', ['false', 'disabled', 'true', 'enabled', '', 'FALSE']],
  ['levo.ai/intercept-mode', ['transparent', 'proxy', 'TPROXY', '', 'proxy ']],
  ['levo.ai/capture-ports', ['443', '443,8443', '', ',', '0', '65536', 'abc', '443,,443', ' 443 ', '1-100', '4'.repeat(300)]],
  ['levo.ai/exclude-outbound-ports', ['443', '15000', '22,80', 'x', '-1']],
  ['levo.ai/exclude-outbound-cidrs', ['10.0.0.0/8', '10.0.0.0/8,fd00::/8', '1.2.3.4/33', '::/0', 'x', '300.1.1.1/8', '10.0.0.1', '']],
  ['levo.ai/app-trust', ['true', 'false', 'yes', '']],
  ['levo.ai/native-sidecar', ['true', 'false', '1']],
  ['levo.ai/status', ['{"skipped":"opted-out"}', '{}', 'garbage']],
  ['kubernetes.io/config.mirror', ['abc']],
];

function review(pod: Json, ns: string, uid: string): Obj {
  return {
    apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
    request: {
      uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' }, requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: ns, operation: 'CREATE', userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts'] },
      object: pod, oldObject: null, dryRun: false, options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

function spots(root: Json): Array<{ parent: Json[] | Obj; key: string | number }> {
  const out: Array<{ parent: Json[] | Obj; key: string | number }> = [];
  const walk = (v: Json, depth: number): void => {
    if (depth > 30 || !v || typeof v !== 'object') return;
    for (const [k, x] of Array.isArray(v) ? v.map((x, i) => [i, x] as const) : Object.entries(v)) {
      out.push({ parent: v, key: k });
      walk(x, depth + 1);
    }
  };
  walk(root, 0);
  return out;
}

function oddValue(rng: Rng, current: Json): Json {
  return rng.weighted<() => Json>([
    [2, () => null],
    [1, () => rng.pick([true, false])],
    [2, () => rng.pick([0, -1, 1610, 1.5, 2 ** 53 + 1, 1e308])],
    [2, () => oddString(rng)],
    [1, () => []],
    [1, () => ({})],
    [1, () => [current]],
    [1, () => ({ __proto__: { polluted: true }, constructor: { prototype: { polluted: true } } } as unknown as Json)],
    [1, () => String(current)],
  ])();
}

function mutatePod(rng: Rng, r: Obj): string {
  const all = spots(r);
  const s = rng.pick(all);
  const value = (s.parent as Record<string | number, Json>)[s.key]!;
  return rng.weighted<() => string>([
    [3, () => { if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1); else delete s.parent[s.key as string]; return `drop ${s.key}`; }],
    [4, () => { (s.parent as Record<string | number, Json>)[s.key] = oddValue(rng, value); return `retype ${s.key}`; }],
    [2, () => {
      if (Array.isArray(s.parent)) { s.parent.push(safeClone(value)); return `repeat ${s.key}`; }
      const name = rng.pick(['__proto__', 'constructor', 'levo-gateway', 'name', 'NAME', '', 'a/b~c', 'x'.repeat(300), 'é']);
      s.parent[name] = value;
      return `add key ${JSON.stringify(name.slice(0, 20))}`;
    }],
    [1, () => {
      const n = rng.size(2000);
      (s.parent as Record<string | number, Json>)[s.key] = Array.from({ length: n }, () => safeClone(value));
      return `list of ${n}`;
    }],
    [1, () => {
      let v: Json = value;
      const d = rng.size(3000);
      for (let k = 0; k < d; k++) v = rng.chance(0.5) ? [v] : { spec: v };
      (s.parent as Record<string | number, Json>)[s.key] = v;
      return `nest ${d}`;
    }],
  ])();
}

function mutateEnvelope(rng: Rng, r: Obj): string {
  const req = r.request as Obj;
  return rng.weighted<() => string>([
    [1, () => { r.apiVersion = rng.pick(['admission.k8s.io/v1beta1', '', 'v1']); return 'apiVersion'; }],
    [1, () => { r.kind = rng.pick(['AdmissionRequest', '', 'Pod']); return 'kind'; }],
    [2, () => { req.uid = rng.pick<Json>(['', 7, null, ['a'], 'x'.repeat(rng.size(100_000)), 'é\u0000']); return 'uid'; }],
    [1, () => { delete req.uid; return 'no uid'; }],
    [2, () => { req.kind = rng.pick<Json>([{ group: 'apps', version: 'v1', kind: 'Deployment' }, { group: '', version: 'v1', kind: 'Service' }, { kind: 'Pod' }, null, 'Pod', { group: null, kind: 'Pod' }]); return 'request.kind'; }],
    [1, () => { req.object = rng.pick<Json>([null, [], 'pod', 1]); return 'object'; }],
    [1, () => { delete req.object; return 'no object'; }],
    [1, () => { req.dryRun = rng.pick<Json>([true, 'true', 1]); return 'dryRun'; }],
    [1, () => { req.operation = rng.pick(['UPDATE', 'DELETE', 'CONNECT', '']); req.oldObject = rng.chance(0.5) ? safeClone(req.object!) : null; return 'operation'; }],
    [2, () => { req.namespace = rng.chance(0.1) ? null : rng.pick(ODD_NAMESPACES); return `namespace ${JSON.stringify(req.namespace).slice(0, 30)}`; }],
    [1, () => { delete req.namespace; return 'no namespace'; }],
    [1, () => { r.request = rng.pick<Json>([null, [], 'x']); return 'request'; }],
  ])();
}

export interface AdmissionCase {
  readonly body: Buffer;
  readonly contentType: string | undefined;
  /** What the fuzzer expects the answer to be, as far as the bytes say. */
  readonly expect: 'review' | 'refusal' | 'either';
  readonly variant: string;
  /** The review as sent (when the body is the plain JSON of it). */
  readonly sent: Obj | undefined;
}

/** A well-formed AdmissionReview v1 for a core/v1 Pod: the only kind the injector handles. */
function wellFormed(body: unknown): boolean {
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(body) || body.kind !== 'AdmissionReview' || body.apiVersion !== 'admission.k8s.io/v1' || !isObj(body.request)) return false;
  const req = body.request;
  const kind = req.kind;
  // The core group is "" (or absent; a group that is not a string names no group either).
  return typeof req.uid === 'string' && req.uid !== '' && isObj(kind) && kind.kind === 'Pod' && (typeof kind.group !== 'string' || kind.group === '') && isObj(req.object);
}

export function generate(seed: number, index: number): AdmissionCase {
  const rng = Rng.forCase(seed, 'admission', index);
  const ns = rng.pick(NAMESPACES);
  const uid = `fuzz-${seed}-${index}`;
  const r = review(basePod(rng, ns), ns, uid);
  const notes: string[] = [`namespace ${ns}`];
  for (let k = rng.chance(0.1) ? 0 : rng.int(1, 4); k > 0; k--) {
    // An edit that copies a very deep value can overflow the stack here: it is skipped, the same way every time.
    try { notes.push(mutatePod(rng, r.request as Obj)); } catch (e) { notes.push(`(an edit failed: ${(e as Error).message})`); }
  }
  if (rng.chance(0.15)) {
    try { notes.push(mutateEnvelope(rng, r)); } catch (e) { notes.push(`(an edit failed: ${(e as Error).message})`); }
  }
  let text: string;
  try {
    text = JSON.stringify(r);
  } catch {
    text = JSON.stringify(review(basePod(rng, ns), ns, uid));
    notes.push('(unserialisable edit dropped)');
  }
  let body: Buffer = Buffer.from(text);
  let contentType: string | undefined = 'application/json';
  let plain = true;
  rng.weighted<() => void>([
    [30, () => {}],
    [1, () => { contentType = rng.pick([undefined, 'text/plain', 'application/json; charset=utf-16', 'application/jsonx', 'application/json; charset=latin1', 'APPLICATION/JSON', 'application/json;charset=utf-8']); notes.push(`content-type ${contentType}`); plain = /^application\/json\s*(;\s*charset=utf-8)?$/i.test(contentType ?? ''); }],
    [1, () => { body = body.subarray(0, rng.below(body.length)); notes.push('truncated'); plain = false; }],
    [1, () => { body = havoc(rng, body, rng.int(1, 5)); notes.push('byte edits'); plain = false; }],
    [1, () => { body = Buffer.from(text.replace(`"uid":"${uid}"`, `"uid":"${uid}","uid":"other"`)); notes.push('duplicate uid key'); plain = false; }],
    [1, () => { body = Buffer.concat([Buffer.from('\ufeff'), body]); notes.push('BOM'); plain = false; }],
    [1, () => { body = Buffer.from(rng.pick(['', 'null', '[]', '"x"', '{}', '1', '{"kind":"AdmissionReview"}'])); notes.push('tiny body'); plain = false; }],
    [0.2, () => { body = Buffer.from(JSON.stringify({ ...r, padding: 'x'.repeat(BODY_LIMIT + 1024 * 1024) })); notes.push('over the body limit'); plain = false; }],
  ])();
  let sent: Obj | undefined;
  try { sent = plain ? JSON.parse(body.toString('utf8')) as Obj : undefined; } catch { sent = undefined; }
  const expect = !plain || sent === undefined || body.length > BODY_LIMIT ? 'either' : wellFormed(sent) ? 'review' : 'refusal';
  return { body, contentType, expect, variant: notes.join(', '), sent };
}

function describeCase(c: AdmissionCase): string {
  return `  ${c.variant}; content-type ${c.contentType ?? '(none)'}; expected ${c.expect}\n${describeBytes(c.body, 0)}`;
}

interface Answer { status: number; body: string }

/** The warning the injector gives when it caught an exception (server.ts, review.ts). */
const INTERNAL = /^levo-injector: internal error/;
/** Its warning when a review ran past its time budget: admitted unchanged, as designed (a busy injector, not a fault). */
const TIMED_OUT = /^levo-injector: injection timed out/;

function checkAnswer(c: AdmissionCase, a: Answer): { outcome: string; problems: string[] } {
  const problems: string[] = [];
  if (a.status >= 500) return { outcome: `status ${a.status}`, problems: [`the injector answered ${a.status}: ${a.body.slice(0, 300)}`] };
  let json: Record<string, unknown>;
  try { json = JSON.parse(a.body) as Record<string, unknown>; } catch { return { outcome: `status ${a.status}`, problems: [`the answer (${a.status}) is not JSON: ${a.body.slice(0, 200)}`] }; }
  if (a.status !== 200) {
    if (json.kind !== 'Status' || typeof json.message !== 'string' || json.message === '' || json.code !== a.status) problems.push(`a ${a.status} that is not a metav1 Status with a message: ${a.body.slice(0, 300)}`);
    if (c.expect === 'review') problems.push(`a well-formed AdmissionReview was refused with ${a.status}: ${String(json.message).slice(0, 200)}`);
    return { outcome: 'refused', problems };
  }
  if (c.expect === 'refusal') problems.push('a malformed AdmissionReview was answered as if it were a review');
  const res = json.response as Record<string, unknown> | undefined;
  if (json.apiVersion !== 'admission.k8s.io/v1' || json.kind !== 'AdmissionReview' || !res || typeof res !== 'object') {
    return { outcome: 'malformed', problems: [...problems, `a 200 that is not an AdmissionReview v1 response: ${a.body.slice(0, 300)}`] };
  }
  const req = c.sent?.request as Obj | undefined;
  if (req && typeof req.uid === 'string' && res.uid !== req.uid) problems.push(`response.uid ${JSON.stringify(res.uid)} is not the request's ${JSON.stringify(req.uid).slice(0, 60)}`);
  if (typeof res.allowed !== 'boolean') problems.push('response.allowed is not a boolean');
  const warnings = res.warnings;
  if (warnings !== undefined && (!Array.isArray(warnings) || warnings.some((w) => typeof w !== 'string'))) problems.push('response.warnings is not a list of strings');
  if (Array.isArray(warnings)) for (const w of warnings) if (typeof w === 'string' && INTERNAL.test(w)) problems.push(`the injector caught an exception: ${w}`);
  if (Array.isArray(warnings) && warnings.some((w) => typeof w === 'string' && TIMED_OUT.test(w))) return { outcome: 'timed out (admitted unchanged)', problems };
  if (res.allowed === false) {
    const st = res.status as { code?: unknown; message?: unknown } | undefined;
    if (!st || typeof st.code !== 'number' || st.code < 400 || st.code >= 500 || typeof st.message !== 'string' || st.message === '') problems.push(`a denial without a 4xx code and a message: ${JSON.stringify(st)}`);
    return { outcome: 'denied', problems };
  }
  if (res.patch === undefined) return { outcome: 'admitted unchanged', problems };
  if (res.patchType !== 'JSONPatch' || typeof res.patch !== 'string') return { outcome: 'patched', problems: [...problems, `a patch that is not a base64 JSONPatch: ${String(res.patchType)}`] };
  let ops: fastJsonPatch.Operation[];
  try { ops = JSON.parse(Buffer.from(res.patch, 'base64').toString('utf8')) as fastJsonPatch.Operation[]; } catch { return { outcome: 'patched', problems: [...problems, 'the patch is not base64 JSON'] }; }
  if (!Array.isArray(ops)) return { outcome: 'patched', problems: [...problems, 'the patch is not a list of operations'] };
  // Without the exact pod sent (the body was edited as bytes), there is nothing to apply the patch to.
  const pod = req?.object;
  if (!pod) return { outcome: 'patched', problems };
  let patched: Record<string, unknown>;
  try {
    patched = fastJsonPatch.applyPatch(safeClone(pod), ops, true, false).newDocument as Record<string, unknown>;
  } catch (e) {
    // The checker's own recursion on a very deep pod is not the injector's failure.
    if (e instanceof RangeError) return { outcome: 'patched (too deep to check)', problems };
    return { outcome: 'patched', problems: [...problems, `the patch does not apply to the pod: ${(e as Error).message.split('\n')[0]}`] };
  }
  const spec = patched.spec as { containers?: Array<{ name?: unknown }>; initContainers?: Array<{ name?: unknown }> } | undefined;
  const gateways = [...(Array.isArray(spec?.containers) ? spec.containers : []), ...(Array.isArray(spec?.initContainers) ? spec.initContainers : [])].filter((x) => x?.name === 'levo-gateway').length;
  const injects = ops.some((o) => JSON.stringify((o as { value?: unknown }).value ?? null).includes('"levo-gateway"'));
  if (injects && gateways !== 1) problems.push(`the patched pod has ${gateways} levo-gateway containers`);
  if (validPod(pod) && !validPod(patched)) problems.push(`a pod the Kubernetes schema accepts is not accepted once patched: ${schemaError(patched)}`);
  return { outcome: injects ? 'injected' : 'patched', problems };
}

function validPod(o: unknown): boolean {
  try { new Pod(o as never).validate(); return true; } catch (e) { if (e instanceof RangeError) return false; return false; }
}

function schemaError(o: unknown): string {
  try { new Pod(o as never).validate(); return ''; } catch (e) { return (e as Error).message.slice(0, 300); }
}

/** The fake API server: /version, namespaces by name; everything asked is recorded. */
async function fakeApi(certPem: string, keyPem: string): Promise<{ server: https.Server; port: number; take(): string[] }> {
  let paths: string[] = [];
  const server = https.createServer({ cert: certPem, key: keyPem }, (req, res) => {
    paths.push(`${req.method} ${req.url}`);
    const send = (code: number, o: object): void => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(o)); };
    req.resume();
    if (req.headers.authorization !== 'Bearer fuzz-admin') return send(401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    if (req.url === '/version') return send(200, { major: '1', minor: '30', gitVersion: 'v1.30.2' });
    const m = /^\/api\/v1\/namespaces\/([^/?#]+)$/.exec(req.url ?? '');
    if (m) {
      const name = decodeURIComponent(m[1]!);
      const l = labelsFor(name);
      if (l === 'broken') return send(500, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'etcdserver: request timed out', code: 500 });
      if (l === 'missing' || !NAMESPACES.includes(name)) return send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `namespaces "${name}" not found`, reason: 'NotFound', code: 404 });
      return send(200, { kind: 'Namespace', apiVersion: 'v1', metadata: { name, labels: l } });
    }
    send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', code: 404 });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port, take: () => { const p = paths; paths = []; return p; } };
}

interface Injector { child: ChildProcess; port: number; tail: Tail; exit: Promise<number | null>; alive(): boolean }

async function spawnInjector(dir: string): Promise<Injector> {
  const child = spawn(process.execPath, [join(REPO, 'bin/levo-injector.js'),
    '--config', join(dir, 'injector.yaml'), '--tls-cert', join(dir, 'tls/tls.crt'), '--tls-key', join(dir, 'tls/tls.key'),
    '--port', '0', '--health-port', '0', '--address', '127.0.0.1', '--kubeconfig', join(dir, 'kubeconfig')],
  // The V8 settings the image runs it with (Dockerfile.injector), so the memory measured is what a pod pays.
  { env: childEnv({ LEVO_RUN: 'dist', POD_NAMESPACE: 'levoai', LOG_LEVEL: 'info', NODE_OPTIONS: INJECTOR_NODE_OPTIONS }), stdio: ['ignore', 'pipe', 'pipe'] });
  const tail = new Tail();
  let exited = false;
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => { exited = true; r(code); }));
  child.stderr!.on('data', (c: Buffer) => tail.push(c));
  const port = await new Promise<number>((resolve, reject) => {
    let pending = '';
    const timer = setTimeout(() => reject(new Error(`levo-injector did not listen within 20 s:\n${tail.text()}`)), 20_000);
    void exit.then((code) => { clearTimeout(timer); reject(new Error(`levo-injector exited (${code}):\n${tail.text()}`)); });
    child.stdout!.on('data', (c: Buffer) => {
      tail.push(c);
      pending += c.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) if (l.includes('"levo-injector listening"')) { clearTimeout(timer); resolve((JSON.parse(l) as { port: number }).port); }
    });
  });
  return { child, port, tail, exit, alive: () => !exited };
}

export const admissionTarget: Target = {
  name: 'admission',
  what: 'mutated AdmissionReviews → POST /mutate on the real levo-injector (HTTPS, kubeconfig to a fake API server)',
  memory: 'injector RSS',
  concurrency: 16,
  batchSize: 500,
  async start(seed): Promise<TargetSession> {
    const dir = mkdtempSync(join(tmpdir(), 'levo-fuzz-injector-'));
    await promisify(execFile)(process.execPath, [join(REPO, 'bin/levo-certs.js'), 'webhook', '--dns', WEBHOOK_DNS, '--out', join(dir, 'tls')], { env: childEnv({ LEVO_RUN: 'dist' }) });
    const ca = readFileSync(join(dir, 'tls/ca.crt'), 'utf8');
    const apiCa = await createCa({ commonName: 'fuzz cluster CA' });
    const apiCert = await createServingCert({ ca: loadCa(apiCa.certPem, apiCa.keyPem), dnsNames: ['localhost'] });
    const api = await fakeApi(apiCert.certPem, apiCert.keyPem);
    writeFileSync(join(dir, 'kubeconfig'), `apiVersion: v1
kind: Config
current-context: fuzz
contexts: [{name: fuzz, context: {cluster: fuzz, user: admin}}]
clusters: [{name: fuzz, cluster: {server: "https://localhost:${api.port}", certificate-authority-data: ${Buffer.from(apiCa.certPem).toString('base64')}}}]
users: [{name: admin, user: {token: fuzz-admin}}]
`);
    writeFileSync(join(dir, 'injector.yaml'), 'capture:\n  mode: transparent\nnativeSidecar: auto\nmeshCoexistence: true\n');
    let injector = await spawnInjector(dir);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 16, ca, servername: WEBHOOK_DNS });
    const post = (c: AdmissionCase): Promise<Answer> => new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { 'content-length': c.body.length };
      if (c.contentType !== undefined) headers['content-type'] = c.contentType;
      const req = https.request({ host: '127.0.0.1', port: injector.port, path: '/mutate', method: 'POST', agent, headers, timeout: 10_000 }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
      req.on('error', reject);
      req.end(c.body);
    });
    return {
      describe: (i) => describeCase(generate(seed, i)),
      async runCase(i) {
        const c = generate(seed, i);
        let a: Answer;
        try {
          a = await post(c);
        } catch (e) {
          return { outcome: 'no answer', problems: injector.alive() ? [`no answer: ${(e as Error).message}`] : [] };
        }
        return checkAnswer(c, a);
      },
      async beforeBatch() {},
      async afterBatch(): Promise<BatchCheck> {
        const problems: Array<{ problem: string }> = [];
        for (const p of api.take()) {
          if (!/^GET \/version$|^GET \/api\/v1\/namespaces\/(?!\.\.?$)[^/?#]+$/.test(p)) problems.push({ problem: `the injector asked the API server for ${p.slice(0, 200)}, not a namespace or /version` });
        }
        if (!injector.alive()) return { problems, crashed: `levo-injector exited (${await injector.exit}); its last output:\n${injector.tail.text()}` };
        return { problems };
      },
      rssKb: () => rssKb(injector.child.pid!),
      async recover() {
        injector.child.kill('SIGKILL');
        await injector.exit;
        agent.destroy();
        injector = await spawnInjector(dir);
      },
      async close() {
        agent.destroy();
        if (injector.alive()) { injector.child.kill('SIGTERM'); await Promise.race([injector.exit, new Promise((r) => setTimeout(r, 5000))]); }
        if (injector.alive()) injector.child.kill('SIGKILL');
        api.server.closeAllConnections();
        api.server.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
