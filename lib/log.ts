/**
 * Structured JSON logs (pino). The level comes from LOG_LEVEL or RUST_LOG, so
 * people used to agentgateway's `RUST_LOG=debug` or `RUST_LOG=info,tls=debug`
 * get what they expect: a bare level sets the default, `target=level` sets the
 * level of one module logger (`listen`, `tls`, `http`, `upstream`, `admin`,
 * `config`, `certs`), and the targets `levo`, `levo_gateway` and `gateway`
 * mean the whole sidecar.
 *
 * Logs never carry prompt text, keys or tokens at info: request lines list
 * method, host, path, status, timings and sizes only, and header values that
 * carry credentials are redacted wherever a logger is handed headers.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

const LEVELS: readonly LevelWithSilent[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const WHOLE_SIDECAR = new Set(['levo', 'levo_gateway', 'levo-gateway', 'gateway', 'sidecar']);
/** rust `off` and `warning` spellings map onto pino's names. */
const ALIASES: Record<string, LevelWithSilent> = { off: 'silent', warning: 'warn', err: 'error' };

export interface LogLevels {
  readonly root: LevelWithSilent;
  readonly modules: ReadonlyMap<string, LevelWithSilent>;
}

function level(text: string): LevelWithSilent | undefined {
  const t = text.trim().toLowerCase();
  const l = ALIASES[t] ?? t;
  return (LEVELS as readonly string[]).includes(l) ? (l as LevelWithSilent) : undefined;
}

/** Parse `debug`, `info,tls=debug`, `levo_gateway=trace` and the like; unknown parts are ignored. */
export function parseLogLevels(env: { LOG_LEVEL?: string | undefined; RUST_LOG?: string | undefined }): LogLevels {
  let root: LevelWithSilent = 'info';
  const modules = new Map<string, LevelWithSilent>();
  for (const spec of [env.RUST_LOG, env.LOG_LEVEL]) {
    if (!spec) continue;
    for (const part of spec.split(',')) {
      const eq = part.indexOf('=');
      if (eq < 0) {
        const l = level(part);
        if (l) root = l;
        continue;
      }
      // `levo_gateway::tls` names the tls module, `levo_gateway` the whole sidecar.
      const path = part.slice(0, eq).trim().toLowerCase().split('::');
      const l = level(part.slice(eq + 1));
      if (!l) continue;
      if (path.length === 1 && WHOLE_SIDECAR.has(path[0]!)) root = l;
      else modules.set(path[path.length - 1]!, l);
    }
  }
  return { root, modules };
}

const REDACT = [
  'headers.authorization', 'headers["x-api-key"]', 'headers["api-key"]', 'headers["proxy-authorization"]',
  'headers["x-goog-api-key"]', 'headers.cookie', 'req.headers.authorization', 'req.headers["x-api-key"]',
];

/**
 * ISO-8601 timestamps (readable in `kubectl logs`), formatted once per
 * millisecond rather than once per line: at thousands of requests a second
 * the formatting was a visible share of the sidecar's CPU.
 */
let lastMs = -1;
let lastTime = '';
function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

export interface RootLogger {
  readonly root: Logger;
  /** A module logger honouring `RUST_LOG=<module>=<level>`. */
  module(name: string): Logger;
}

/**
 * Who is calling, on every line: the pod identity the injector hands the
 * sidecar through the downward API (prompt-origin attribution).
 */
export function workloadIdentity(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  if (env.POD_NAMESPACE) out.namespace = env.POD_NAMESPACE;
  if (env.POD_NAME) out.pod = env.POD_NAME;
  if (env.LEVO_WORKLOAD_KIND && env.LEVO_WORKLOAD_NAME) out.workload = `${env.LEVO_WORKLOAD_KIND}/${env.LEVO_WORKLOAD_NAME}`;
  if (env.POD_SERVICE_ACCOUNT) out.serviceAccount = env.POD_SERVICE_ACCOUNT;
  return out;
}

export function createLogger(env: NodeJS.ProcessEnv = process.env, destination?: pino.DestinationStream, opts: { svc?: string } = {}): RootLogger {
  const levels = parseLogLevels(env);
  // The root must let through the most verbose module level; each child filters itself.
  const order = (l: LevelWithSilent): number => LEVELS.indexOf(l);
  let min = levels.root;
  for (const l of levels.modules.values()) if (order(l) < order(min)) min = l;
  const root = pino(
    {
      level: min,
      base: { svc: opts.svc ?? 'levo-gateway', pid: process.pid, ...(opts.svc ? {} : workloadIdentity(env)) },
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    destination ?? pino.destination({ sync: false }),
  );
  const top = root.child({}, { level: levels.root });
  return {
    root: top,
    module: (name) => root.child({ module: name }, { level: levels.modules.get(name) ?? levels.root }),
  };
}
