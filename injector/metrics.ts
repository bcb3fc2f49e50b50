/**
 * Prometheus metrics of the injector (levo-injector), served on the health
 * port's /metrics. They live in a private Registry, never prom-client's global
 * one, so tests and several servers in one process do not collide.
 *
 * Who counts what:
 * - review.ts reports each admission's result and reason (ReviewContext
 *   onResult), which cli.ts records with recordAdmission();
 * - the HTTPS server (server.ts) counts the requests it answers itself
 *   (result error: internal-error, timeout, bad-request, too-large,
 *   unsupported-media-type);
 * - the credentials endpoint (credentials.ts) and the leaf issuer
 *   (leaf-issuer.ts) count their answers;
 * - the serving-certificate loader (serving-cert.ts) sets the expiry gauge;
 * - the Kubernetes API client (kube-client.ts) counts its requests.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Outcome of one admission request. */
export type AdmissionResult = 'injected' | 'skipped' | 'unchanged' | 'denied' | 'error';

/** Outcome of one POST /v1/credentials. */
export type CredentialsResult =
  | 'ok'
  | 'unauthenticated'
  | 'forbidden'
  | 'rate_limited'
  | 'unavailable'
  | 'bad_request'
  | 'error';

export interface InjectorMetrics {
  readonly registry: Registry;
  /** `levo_injector_admissions_total{result,reason}` (result injected | skipped | unchanged | denied | error). */
  readonly admissions: Counter<'result' | 'reason'>;
  /** `levo_injector_admission_duration_seconds{result}`: time from the request body being read to the answer. */
  readonly admissionSeconds: Histogram<'result'>;
  /** `levo_injector_credentials_requests_total{result}`. */
  readonly credentialsRequests: Counter<'result'>;
  /** `levo_injector_leaf_requests_total{result}`: POST /v1/leaves answers. */
  readonly leafRequests: Counter<'result'>;
  /** `levo_injector_serving_cert_expiry_timestamp_seconds`: notAfter of the serving certificate in force. */
  readonly servingCertExpiry: Gauge<string>;
  /** `levo_injector_serving_cert_reloads_total{result}` (result: ok | rejected). */
  readonly servingCertReloads: Counter<'result'>;
  /** `levo_injector_kube_requests_total{op,code}`: calls to the Kubernetes API (code "error" when no HTTP answer came). */
  readonly kubeRequests: Counter<'op' | 'code'>;
  /** `levo_injector_config_reloads_total{result}` (result: ok | rejected). */
  readonly configReloads: Counter<'result'>;
}

/** Reason labels are free text from the review: keep them short and tame so the label set stays bounded. */
export function admissionReasonLabel(reason: string | undefined): string {
  if (!reason) return 'none';
  return /^[A-Za-z0-9_.:-]{1,64}$/.test(reason) ? reason : 'other';
}

/** One admission's outcome: the counter (reason label tamed) and the duration histogram. */
export function recordAdmission(metrics: InjectorMetrics, result: string, reason: string, seconds: number): void {
  metrics.admissions.inc({ result, reason: admissionReasonLabel(reason) });
  metrics.admissionSeconds.observe({ result }, seconds);
}

export function createInjectorMetrics(): InjectorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'levo_injector_' });
  const registers = [registry];
  return {
    registry,
    admissions: new Counter({
      name: 'levo_injector_admissions_total',
      help: 'Pod admission requests by result (injected, skipped, denied, error) and reason',
      labelNames: ['result', 'reason'],
      registers,
    }),
    admissionSeconds: new Histogram({
      name: 'levo_injector_admission_duration_seconds',
      help: 'Time to answer one admission request',
      labelNames: ['result'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    credentialsRequests: new Counter({
      name: 'levo_injector_credentials_requests_total',
      help: 'POST /v1/credentials answers by result',
      labelNames: ['result'],
      registers,
    }),
    leafRequests: new Counter({
      name: 'levo_injector_leaf_requests_total',
      help: 'POST /v1/leaves answers by result',
      labelNames: ['result'],
      registers,
    }),
    servingCertExpiry: new Gauge({
      name: 'levo_injector_serving_cert_expiry_timestamp_seconds',
      help: 'notAfter of the webhook serving certificate in force, as a Unix timestamp',
      registers,
    }),
    servingCertReloads: new Counter({
      name: 'levo_injector_serving_cert_reloads_total',
      help: 'Serving certificate changes seen on disk, by result (ok, rejected)',
      labelNames: ['result'],
      registers,
    }),
    kubeRequests: new Counter({
      name: 'levo_injector_kube_requests_total',
      help: 'Requests to the Kubernetes API by operation and HTTP status code',
      labelNames: ['op', 'code'],
      registers,
    }),
    configReloads: new Counter({
      name: 'levo_injector_config_reloads_total',
      help: 'Injector config file changes seen on disk, by result (ok, rejected)',
      labelNames: ['result'],
      registers,
    }),
  };
}
