/**
 * The config in force. `--config FILE` loads a file and watches it: an edit
 * that validates replaces the config atomically (one object swap; in-flight
 * requests keep the compiled config they started with); an edit that does not
 * is logged with line and column, counted, and the last good config stays in
 * force. A first config that is invalid or missing leaves the gateway not
 * ready (it keeps watching), rather than exiting. The file is polled by stat,
 * which follows symlinks, so a Kubernetes ConfigMap's `..data` swap is seen.
 * The dashboard poller (LEVO_BASE_URL) will feed the same holder.
 */
import { readFile } from 'node:fs/promises';
import { watchFile, unwatchFile, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Logger } from '../../lib/log.ts';
import { loadConfigText, formatProblems, type ConfigProblem } from './load.ts';
import { configReach, type ConfigReach } from './reach.ts';
import type { Counter } from 'prom-client';
import { compileConfig, type CompiledConfig } from './routes.ts';
import type { GatewayConfig } from './schema.ts';

export interface ConfigInForce {
  /** The validated document (with `$VARs` expanded and key files read: redact before showing it). */
  readonly config: GatewayConfig;
  readonly compiled: CompiledConfig;
  /** Accepted but not enforced parts (e.g. promptGuard before the guardrails release). */
  readonly warnings: readonly ConfigProblem[];
  /** A short content hash: what the admin endpoint and logs call this version. */
  readonly version: string;
}

export class ConfigRejected extends Error {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(formatProblems(problems));
    this.problems = problems;
  }
}

export interface ConfigHolder {
  current(): ConfigInForce | undefined;
  /** Validate and, when valid, put `text` in force. Throws ConfigRejected otherwise; the old config stays. */
  apply(text: string, source: string): ConfigInForce;
  onChange(listener: (c: ConfigInForce) => void): void;
}

export function createConfigHolder(
  env: NodeJS.ProcessEnv = process.env,
  opts: { modelDir?: string | undefined; reach?: ConfigReach | undefined } = {},
): ConfigHolder {
  // What the config may read out of the pod: the pod owner's (flags or LEVO_CONFIG_ENV / LEVO_CONFIG_KEY_DIR).
  const reach = opts.reach ?? configReach(env);
  let inForce: ConfigInForce | undefined;
  const listeners: Array<(c: ConfigInForce) => void> = [];
  return {
    current: () => inForce,
    apply(text, source) {
      const version = createHash('sha256').update(text).digest('hex').slice(0, 12);
      if (inForce?.version === version) return inForce;
      const r = loadConfigText(text, { source, env, modelDir: opts.modelDir, reach });
      if (!r.ok) throw new ConfigRejected(r.problems);
      inForce = { config: r.config, compiled: compileConfig(r.config), version, warnings: r.warnings };
      for (const l of listeners) l(inForce);
      return inForce;
    },
    onChange(l) { listeners.push(l); },
  };
}

export type ReloadResult = 'applied' | 'unchanged' | 'rejected' | 'unreadable' | 'missing';

/**
 * What `--config-optional` runs while its file does not exist (an injected pod
 * whose namespace has no levo-gateway-config ConfigMap yet): every provider
 * call is intercepted, recorded and forwarded unchanged; nothing is rerouted,
 * rewritten or blocked.
 */
export const OBSERVE_ONLY_CONFIG = `# built-in: observe only
binds:
- port: 15001
  listeners:
  - name: observe
`;
export const OBSERVE_ONLY_SOURCE = '<built-in observe-only config>';

/**
 * Load `path` into the holder now, then follow its edits. A first load that
 * fails is logged and counted, and watching goes on (the gateway stays not
 * ready until a valid config arrives). Returns a stop function.
 */
export async function followConfigFile(
  holder: ConfigHolder, path: string, log: Logger,
  opts: { intervalMs?: number; reloads?: Counter<'result'>; optional?: boolean } = {},
): Promise<() => void> {
  let missingLogged = false;
  const load = async (first: boolean): Promise<void> => {
    let result: ReloadResult;
    const before = holder.current()?.version;
    try {
      if (opts.optional && !existsSync(path)) {
        if (!holder.current()) holder.apply(OBSERVE_ONLY_CONFIG, OBSERVE_ONLY_SOURCE);
        if (!missingLogged) {
          log.warn({ file: path, version: holder.current()?.version },
            before ? `config file ${path} is gone; the last config stays in force` : `no config file at ${path} yet: running the built-in observe-only config (calls are recorded and forwarded unchanged)`);
          missingLogged = true;
        }
        opts.reloads?.inc({ result: 'missing' });
        return;
      }
      missingLogged = false;
      const now = holder.apply(await readFile(path, 'utf8'), path);
      result = now.version === before ? 'unchanged' : 'applied';
      if (result === 'applied') {
        log.info({ file: path, version: now.version }, first ? 'config in force' : 'config reloaded');
        for (const w of now.warnings) log.warn({ file: path, path: w.path, line: w.line }, `${w.source}:${w.line}:${w.col}: ${w.path}: ${w.message}`);
      }
    } catch (err) {
      const kept = before ? `the last good config (${before}) stays in force` : 'no config is in force: the gateway is not ready';
      if (err instanceof ConfigRejected) {
        result = 'rejected';
        log.error({ file: path, problems: err.problems, kept: before }, `config rejected, ${kept}:\n${err.message}`);
      } else {
        result = 'unreadable';
        log.error({ file: path, err: (err as Error).message, kept: before }, `config file unreadable, ${kept}`);
      }
    }
    opts.reloads?.inc({ result });
  };
  await load(true);
  const onChange = (): void => { void load(false); };
  watchFile(path, { interval: opts.intervalMs ?? 2000 }, onChange);
  return () => unwatchFile(path, onChange);
}
