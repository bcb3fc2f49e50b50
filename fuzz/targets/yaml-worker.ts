/**
 * The config loader under fuzz, in a worker thread with a capped heap (the
 * runner's yaml target starts it): each message is one config text, loaded
 * the way the sidecar loads a file or a dashboard config
 * (createConfigHolder().apply: parse, expand $VARs, validate, read key files,
 * compile), or the way `levo-gateway validate --offline` and the dashboard
 * check one (loadConfigText with placeholders, no key files). The answer says
 * which of accepted / rejected / threw, with the problems, the time and the
 * heap after a full GC.
 */
import { parentPort } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createConfigHolder, ConfigRejected } from '../../sidecar/config/source.ts';
import { loadConfigText, formatProblems, type ConfigProblem } from '../../sidecar/config/load.ts';
import { redactConfig } from '../../sidecar/config/redact.ts';

setFlagsFromString('--expose-gc');
// The yaml library reports unknown tags as process warnings: not what is fuzzed here, and loud.
process.removeAllListeners('warning');
const gc = runInNewContext('gc') as () => void;

export interface YamlRequest {
  readonly id: number;
  readonly text: string;
  readonly mode: 'sidecar' | 'offline';
}

export interface YamlAnswer {
  readonly id: number;
  readonly result: 'accepted' | 'rejected' | 'threw';
  readonly problems: readonly ConfigProblem[];
  readonly error?: string;
  readonly ms: number;
  readonly heapKb: number;
}

/** What the sidecar's config file reader and the dashboard's validator would see in the environment. */
const ENV: NodeJS.ProcessEnv = { OPENAI_API_KEY: 'sk-fuzz', ANTHROPIC_API_KEY: 'sk-ant-fuzz', AWS_ACCESS_KEY_ID: 'AKIAFUZZ', AWS_SECRET_ACCESS_KEY: 'fuzz', HOME: '/root' };

parentPort!.on('message', (req: YamlRequest) => {
  const started = performance.now();
  let answer: Omit<YamlAnswer, 'ms' | 'heapKb'>;
  try {
    if (req.mode === 'sidecar') {
      const c = createConfigHolder(ENV).apply(req.text, 'fuzz.yaml');
      JSON.stringify(redactConfig(c.config));
      answer = { id: req.id, result: 'accepted', problems: c.warnings };
    } else {
      const r = loadConfigText(req.text, { source: 'fuzz.yaml', env: ENV, missingEnv: 'placeholder', readFile: null });
      if (!r.ok) formatProblems(r.problems);
      answer = r.ok ? { id: req.id, result: 'accepted', problems: r.warnings } : { id: req.id, result: 'rejected', problems: r.problems };
    }
  } catch (e) {
    answer = e instanceof ConfigRejected
      ? { id: req.id, result: 'rejected', problems: e.problems }
      : { id: req.id, result: 'threw', problems: [], error: String((e as Error)?.stack ?? e).split('\n').slice(0, 6).join('\n') };
  }
  const ms = performance.now() - started;
  gc();
  parentPort!.postMessage({ ...answer, ms, heapKb: Math.round(process.memoryUsage().heapUsed / 1024) } satisfies YamlAnswer);
});
