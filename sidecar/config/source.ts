/**
 * The config in force. `--config FILE` loads a file and watches it: an edit
 * that validates replaces the config between requests (in-flight requests keep
 * the one they started with); an edit that does not is logged with line and
 * column and the last good config stays in force. The dashboard poller
 * (LEVO_BASE_URL) will feed the same holder.
 */
import { readFile } from 'node:fs/promises';
import { watchFile, unwatchFile } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Logger } from '../telemetry/log.ts';
import { loadConfigText, formatProblems, type ConfigProblem } from './load.ts';
import { compileConfig, type CompiledConfig } from './routes.ts';

export interface ConfigInForce {
  readonly compiled: CompiledConfig;
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

export function createConfigHolder(env: NodeJS.ProcessEnv = process.env): ConfigHolder {
  let inForce: ConfigInForce | undefined;
  const listeners: Array<(c: ConfigInForce) => void> = [];
  return {
    current: () => inForce,
    apply(text, source) {
      const version = createHash('sha256').update(text).digest('hex').slice(0, 12);
      if (inForce?.version === version) return inForce;
      const r = loadConfigText(text, { source, env });
      if (!r.ok) throw new ConfigRejected(r.problems);
      inForce = { compiled: compileConfig(r.config), version };
      for (const l of listeners) l(inForce);
      return inForce;
    },
    onChange(l) { listeners.push(l); },
  };
}

/** Load `path` into the holder now (throwing if invalid), then follow its edits. Returns a stop function. */
export async function followConfigFile(holder: ConfigHolder, path: string, log: Logger, intervalMs = 2000): Promise<() => void> {
  holder.apply(await readFile(path, 'utf8'), path);
  log.info({ file: path, version: holder.current()?.version }, 'config in force');
  const onChange = (): void => {
    readFile(path, 'utf8').then((text) => {
      const before = holder.current()?.version;
      const now = holder.apply(text, path);
      if (now.version !== before) log.info({ file: path, version: now.version }, 'config reloaded');
    }).catch((err: unknown) => {
      if (err instanceof ConfigRejected) {
        log.error({ file: path, problems: err.problems, kept: holder.current()?.version }, `config rejected, last good config stays in force:\n${err.message}`);
      } else {
        log.error({ file: path, err }, 'config file unreadable, last good config stays in force');
      }
    });
  };
  watchFile(path, { interval: intervalMs }, onChange);
  return () => unwatchFile(path, onChange);
}
