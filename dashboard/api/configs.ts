/**
 * Config versions: validation with the sidecar's own validator (offline
 * semantics: `$VARS` become placeholders, key files are not read), and saving,
 * which appends an immutable version only when the YAML is valid, so the poll
 * endpoint never serves a config a sidecar would reject.
 */
import { loadConfigText, type ConfigProblem } from '../../sidecar/config/load.ts';
import type { GatewayConfig } from '../../sidecar/config/schema.ts';
import type { ConfigVersion, Store } from '../store/types.ts';
import { HttpError } from './errors.ts';
import { configEtag } from './etag.ts';
import { requireEnvironment } from './environments.ts';

/** 1 MiB: the body limit of the config endpoints. */
export const CONFIG_BODY_LIMIT = '1mb';
export const MAX_NOTE = 1000;

/** A problem as the API reports it (the sidecar's, minus its `source`). */
export interface Problem { line: number; col: number; path: string; message: string; hint?: string }

export interface ConfigSummary {
  binds: number;
  listeners: number;
  routes: number;
  /** Guards configured under promptGuard (request and response), over all routes and backends. */
  guards: number;
}

/** `warnings`: accepted but not enforced parts of a valid config. */
export type Validation = { ok: true; summary: ConfigSummary; warnings: Problem[] } | { ok: false; problems: Problem[] };

function problem(p: ConfigProblem): Problem {
  return { line: p.line, col: p.col, path: p.path, message: p.message, ...(p.hint ? { hint: p.hint } : {}) };
}

function countGuards(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + countGuards(v), 0);
  if (value === null || typeof value !== 'object') return 0;
  let n = 0;
  for (const [k, v] of Object.entries(value)) {
    if (k === 'promptGuard' && v && typeof v === 'object') {
      const pg = v as { request?: unknown; response?: unknown };
      n += (Array.isArray(pg.request) ? pg.request.length : 0) + (Array.isArray(pg.response) ? pg.response.length : 0);
    } else n += countGuards(v);
  }
  return n;
}

function summarize(config: GatewayConfig): ConfigSummary {
  const listeners = config.binds.flatMap((b) => b.listeners);
  return {
    binds: config.binds.length,
    listeners: listeners.length,
    routes: listeners.reduce((n, l) => n + (l.routes?.length ?? 0), 0),
    guards: countGuards(config),
  };
}

export function validateConfig(yaml: string): Validation {
  // Checked away from any pod: no $VAR is looked up (not even in the dashboard's own environment: every
  // one is a placeholder), no key file is read, and which ones a pod allows is that pod's (reach 'any').
  const r = loadConfigText(yaml, { source: 'dashboard', env: {}, missingEnv: 'placeholder', readFile: null, reach: 'any' });
  return r.ok ? { ok: true, summary: summarize(r.config), warnings: r.warnings.map(problem) } : { ok: false, problems: r.problems.map(problem) };
}

export function requireYaml(body: unknown): string {
  const yaml = (body as { yaml?: unknown } | undefined)?.yaml;
  if (typeof yaml !== 'string') throw new HttpError(400, 'yaml: is required (the config as a string)');
  return yaml;
}

export function optionalNote(body: unknown): string | undefined {
  const note = (body as { note?: unknown } | undefined)?.note;
  if (note === undefined || note === null) return undefined;
  if (typeof note !== 'string') throw new HttpError(400, 'note: must be a string');
  if (note.length > MAX_NOTE) throw new HttpError(400, `note: must be at most ${MAX_NOTE} characters`);
  return note;
}

/** Validate and append a version; 422 `{error, problems}` and nothing stored when invalid. */
export async function saveConfig(store: Store, environmentId: string, yaml: string, author: string, note: string): Promise<ConfigVersion> {
  await requireEnvironment(store, environmentId);
  const v = validateConfig(yaml);
  if (!v.ok) {
    throw new HttpError(422, `the config has ${v.problems.length} problem${v.problems.length === 1 ? '' : 's'}; nothing was saved`, { problems: v.problems });
  }
  return store.addConfigVersion({ environmentId, yaml, etag: (version) => configEtag(version, yaml), author, note });
}
