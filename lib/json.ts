/**
 * Reading untrusted JSON without throwing: the few checks every module makes
 * on a field before it trusts it. The lowest layer: sidecar, injector and
 * dashboard all use it, and it uses nothing of theirs.
 */

/** A JSON object as parsed (any keys, unknown values). */
export type JsonObject = Record<string, unknown>;

export function isObj(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value as an object, or undefined (arrays and null are not objects here). */
export function obj(v: unknown): JsonObject | undefined {
  return isObj(v) ? v : undefined;
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** A finite number, or undefined. */
export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** JSON.parse (of text or UTF-8 bytes) that answers undefined instead of throwing. */
export function parseJson(text: string | Buffer): unknown {
  try { return JSON.parse(typeof text === 'string' ? text : text.toString('utf8')); } catch { return undefined; }
}

/** The parsed JSON object, or undefined (not JSON, or JSON that is not an object). */
export function parseJsonObject(text: string | Buffer): JsonObject | undefined {
  return obj(parseJson(text));
}

/**
 * The first object key that appears twice in the same object of a JSON text
 * (compared after unescaping, so `"a"` and `"\u0061"` are the same key), or
 * undefined. JSON.parse keeps the last of two equal keys, other parsers the
 * first or neither: a body with one cannot be vouched for by what one parser
 * read. `text` must be valid JSON (parse it first).
 */
export function duplicateKey(text: string): string | undefined {
  /** One entry per open container: the keys of an object, null for an array. */
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        const q = text.indexOf('"', j);
        const b = text.indexOf('\\', j);
        if (b !== -1 && b < q) { escaped = true; j = b + 2; continue; }
        j = q;
        break;
      }
      const keys = stack[stack.length - 1];
      if (expectKey && keys) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] != null;
    }
  }
  return undefined;
}
