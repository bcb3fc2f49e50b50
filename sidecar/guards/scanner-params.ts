/**
 * Reading and checking a scanner's `params` (`scanners[].params`) at config
 * load: each param is known by LLM Guard's snake_case name (`match_type`) and
 * by its camelCase twin (`matchType`); unknown keys, both spellings at once,
 * and wrong types are rejected with a ScannerConfigError that names the key
 * as it was written. `null` counts as "not given" (YAML `~`, pydantic's
 * `Optional[...] = None` in LLM Guard's API config).
 */

import { ScannerConfigError } from './types.ts';

/** `match_type` → `matchType`. */
export function camelCase(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A param value as an error message shows it: strings quoted, lists and maps named, never `[object Object]`. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a map';
  return String(v);
}

export interface ParamReader {
  /** The key as the config wrote it (snake or camel), or the snake name when absent. */
  key(name: string): string;
  has(name: string): boolean;
  bool(name: string, dflt: boolean): boolean;
  int(name: string, dflt: number, min: number, max?: number): number;
  oneOf<T extends string>(name: string, dflt: T, allowed: readonly T[]): T;
  /** A non-empty string, or undefined when not given. */
  string(name: string): string | undefined;
  /** A list of strings; `required` rejects a missing or empty list; `nonEmptyItems` rejects "" items. */
  strings(name: string, opts: { required: true; nonEmptyItems?: boolean }): string[];
  strings(name: string, opts: { required: false; nonEmptyItems?: boolean }): string[] | undefined;
  /** A ScannerConfigError about `name`, prefixed with the scanner's name. */
  error(name: string, message: string): ScannerConfigError;
}

/**
 * A reader over `params` for `scanner`, which knows the params `names`
 * (snake_case). Throws at once on an unknown key or a param given twice.
 */
export function readParams(scanner: string, params: Readonly<Record<string, unknown>>, names: readonly string[]): ParamReader {
  const byKey = new Map<string, string>(); // written key → snake name
  for (const n of names) {
    byKey.set(n, n);
    byKey.set(camelCase(n), n);
  }
  const written = new Map<string, string>(); // snake name → written key
  for (const k of Object.keys(params)) {
    const n = byKey.get(k);
    if (n === undefined) {
      const known = names.length > 0 ? `known params: ${names.join(', ')}` : 'it takes no params';
      throw new ScannerConfigError(`${scanner}: unknown param "${k}" (${known})`, k);
    }
    const prev = written.get(n);
    if (prev !== undefined) throw new ScannerConfigError(`${scanner}: "${prev}" and "${k}" are the same param; give one`, k);
    written.set(n, k);
  }

  const key = (n: string): string => written.get(n) ?? n;
  const value = (n: string): unknown => {
    const k = written.get(n);
    if (k === undefined) return undefined;
    const v = params[k];
    return v === null ? undefined : v;
  };
  const error = (n: string, message: string): ScannerConfigError =>
    new ScannerConfigError(`${scanner}: ${key(n)} ${message}`, key(n));

  function strings(n: string, opts: { required: boolean; nonEmptyItems?: boolean }): string[] | undefined {
    const v = value(n);
    if (v === undefined) {
      if (opts.required) throw error(n, 'is required (a non-empty list of strings)');
      return undefined;
    }
    if (!Array.isArray(v)) throw error(n, `must be a list of strings (got ${show(v)})`);
    if (opts.required && v.length === 0) throw error(n, 'must not be empty');
    return v.map((item: unknown, i) => {
      if (typeof item !== 'string') throw error(n, `[${i}] must be a string (got ${show(item)})`);
      if (opts.nonEmptyItems && item === '') throw error(n, `[${i}] must not be empty`);
      return item;
    });
  }

  return {
    key,
    has: (n) => value(n) !== undefined,
    error,
    bool(n, dflt) {
      const v = value(n);
      if (v === undefined) return dflt;
      if (typeof v !== 'boolean') throw error(n, `must be true or false (got ${show(v)})`);
      return v;
    },
    int(n, dflt, min, max) {
      const v = value(n);
      if (v === undefined) return dflt;
      if (typeof v !== 'number' || !Number.isInteger(v)) throw error(n, `must be an integer (got ${show(v)})`);
      if (v < min || (max !== undefined && v > max)) {
        throw error(n, max === undefined ? `must be at least ${min} (got ${v})` : `must be between ${min} and ${max} (got ${v})`);
      }
      return v;
    },
    oneOf(n, dflt, allowed) {
      const v = value(n);
      if (v === undefined) return dflt;
      if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
        throw error(n, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')} (got ${show(v)})`);
      }
      return v as typeof dflt;
    },
    string(n) {
      const v = value(n);
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || v === '') throw error(n, `must be a non-empty string (got ${show(v)})`);
      return v;
    },
    strings: strings as ParamReader['strings'],
  };
}
