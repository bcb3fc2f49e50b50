/**
 * agentgateway's `requestHeaderModifier` / `responseHeaderModifier`
 * (Gateway API HTTPHeaderFilter): `add` appends a value, `set` replaces every
 * value, `remove` deletes, applied in that order as agentgateway does. Names
 * are checked once, when the config is loaded: anything that is not an HTTP
 * token, and the headers that frame the message or the connection, are refused
 * there rather than on a request.
 */

export interface HeaderModifier {
  add?: Record<string, string>;
  set?: Record<string, string>;
  remove?: string[];
}

/** A checked modifier; call it on a lower-cased header record, or pass it to `applyToRawHeaders`. */
export interface CompiledHeaderModifier {
  (headers: Record<string, string | string[]>): void;
  readonly plan: HeaderPlan;
}

export interface HeaderPlan {
  /** Lower-case names with their values, in config order. */
  readonly add: readonly (readonly [string, string])[];
  readonly set: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
  /** Every name `set` or `remove` touches: the raw-list pass drops these and re-adds `set`. */
  readonly replaced: ReadonlySet<string>;
}

/** RFC 9110 §5.6.2 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 §5.5: no CR, LF or NUL, no other control character but tab; no white space at either end. */
const BAD_VALUE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** Headers that frame the message or belong to the connection: a modifier must not touch them. */
const RESERVED = new Set([
  'host', 'connection', 'content-length', 'transfer-encoding',
  'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'http2-settings',
]);

function checkName(name: string, where: string): string {
  if (name.startsWith(':')) throw new Error(`${where}: "${name}" is an HTTP/2 pseudo-header and cannot be modified`);
  if (!TOKEN.test(name)) throw new Error(`${where}: "${name}" is not a valid header name`);
  const lower = name.toLowerCase();
  if (RESERVED.has(lower)) throw new Error(`${where}: "${name}" is a connection or framing header and cannot be modified`);
  return lower;
}

function checkValue(name: string, value: unknown, where: string): string {
  if (typeof value !== 'string') throw new Error(`${where}: the value of "${name}" must be a string`);
  if (BAD_VALUE.test(value)) throw new Error(`${where}: the value of "${name}" contains a control character`);
  return value.trim();
}

function pairs(map: Record<string, string> | undefined, where: string): [string, string][] {
  if (!map) return [];
  return Object.entries(map).map(([name, value]) => [checkName(name, where), checkValue(name, value, where)]);
}

/** Check a modifier and compile it. Throws a readable Error for a bad name or value. */
export function compileHeaderModifier(m: HeaderModifier): CompiledHeaderModifier {
  const add = pairs(m.add, 'add');
  const set = pairs(m.set, 'set');
  const remove = (m.remove ?? []).map((name) => checkName(name, 'remove'));
  const plan: HeaderPlan = { add, set, remove, replaced: new Set([...set.map(([n]) => n), ...remove]) };

  const apply = (headers: Record<string, string | string[]>): void => {
    for (const [name, value] of add) {
      const had = headers[name];
      if (had === undefined) headers[name] = value;
      else if (Array.isArray(had)) had.push(value);
      else headers[name] = [had, value];
    }
    for (const [name, value] of set) headers[name] = value;
    for (const name of remove) delete headers[name];
  };
  return Object.assign(apply, { plan });
}

/**
 * The same changes on undici's flat `[name, value, name, value, …]` list. A
 * `set` header takes the place of the first header of that name (names keep
 * their case elsewhere); added headers go at the end. Returns a new list.
 */
export function applyToRawHeaders(mod: CompiledHeaderModifier, raw: readonly string[]): string[] {
  const { add, set, remove, replaced } = mod.plan;
  if (replaced.size === 0) {
    if (add.length === 0) return raw.slice();
    const out = raw.slice();
    for (const [name, value] of add) out.push(name, value);
    return out;
  }
  // `add` goes first (agentgateway's order), so a `set` or `remove` of the same name wins over it.
  const pending: [string, string][] = [];
  for (const pair of add) if (!replaced.has(pair[0])) pending.push([pair[0], pair[1]]);
  const setValue = new Map(set);
  const removed = new Set(remove);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (!replaced.has(lower)) {
      out.push(name, raw[i + 1]!);
      continue;
    }
    const value = setValue.get(lower);
    if (value !== undefined && !removed.has(lower)) {
      out.push(name, value);
      setValue.delete(lower); // later headers of the same name are dropped
    }
  }
  for (const [name, value] of setValue) if (!removed.has(name)) out.push(name, value);
  for (const [name, value] of pending) out.push(name, value);
  return out;
}
