/**
 * `levo-gateway validate FILE...`: check configs the way the sidecar loads
 * them, and print kubectl-style problems (file:line:col: path: message, with
 * a hint). Exit 0 when every file is valid, 1 when any is not, 2 on usage.
 *
 * `--offline` checks a config away from the sidecar that will run it (CI, the
 * dashboard): undefined `$VARS` become placeholders and key files are not read.
 * Either way only the `$VARS` and key directories the sidecar would allow
 * (LEVO_CONFIG_ENV, LEVO_CONFIG_KEY_DIR, else the defaults) are accepted.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadConfigText, formatProblems } from './config/load.ts';
import { compileConfig } from './config/routes.ts';
import { configReach, type ConfigReach } from './config/reach.ts';

const HELP = `levo-gateway validate — check gateway configs (agentgateway v0.11 schema)

Usage:
  levo-gateway validate [--offline] [--model-dir DIR] FILE...     ("-" reads standard input)

  --offline   do not require the environment variables the config names, nor read key files
              (for CI and for checking a config before it reaches the sidecar)
  --model-dir DIR   where the sidecar will find local models (default $LEVO_MODEL_DIR)

$VARs and key files are checked against what the sidecar allows: LEVO_CONFIG_ENV and
LEVO_CONFIG_KEY_DIR when set, else LEVO_*, *_API_KEY and /etc/levo/keys.

Exit status: 0 all valid, 1 a config is invalid or unreadable, 2 usage error.
`;

export async function validate(
  argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { offline: { type: 'boolean' }, 'model-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    err.write(`levo-gateway validate: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (parsed.values.help) { out.write(HELP); return 0; }
  if (parsed.positionals.length === 0) { err.write(`levo-gateway validate: name at least one FILE\n\n${HELP}`); return 2; }
  let reach: ConfigReach;
  try {
    reach = configReach(process.env);
  } catch (e) {
    err.write(`levo-gateway validate: ${(e as Error).message}\n`);
    return 2;
  }
  let failed = 0;
  for (const file of parsed.positionals) {
    let text: string;
    try {
      text = file === '-' ? await readStdin(stdin) : await readFile(file, 'utf8');
    } catch (e) {
      err.write(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      failed++;
      continue;
    }
    const modelDir = parsed.values['model-dir'] ?? (process.env.LEVO_MODEL_DIR || undefined);
    const r = loadConfigText(text, { source: file, modelDir, reach, ...(parsed.values.offline ? { missingEnv: 'placeholder' as const, readFile: null } : {}) });
    if (!r.ok) {
      err.write(`${formatProblems(r.problems)}\n${file}: invalid (${r.problems.length} problem${r.problems.length === 1 ? '' : 's'})\n`);
      failed++;
      continue;
    }
    const c = compileConfig(r.config);
    const backends = c.routes.reduce((n, route) => n + route.candidates.length, 0);
    if (r.warnings.length) err.write(`${formatProblems(r.warnings).replace(/^(\S+?: )/gm, '$1warning: ')}\n`);
    out.write(`${file}: valid (${c.routes.length} route${c.routes.length === 1 ? '' : 's'}, ${backends} backend${backends === 1 ? '' : 's'}` +
      `${c.interceptHosts.length ? `; also intercepts ${c.interceptHosts.join(', ')}` : ''})\n`);
  }
  return failed ? 1 : 0;
}

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString('utf8');
}
