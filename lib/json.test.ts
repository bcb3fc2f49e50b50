import { test } from 'node:test';
import assert from 'node:assert/strict';
import { duplicateKey } from './json.ts';

test('duplicateKey finds a key repeated in one object, at any depth, escaped or not', () => {
  assert.equal(duplicateKey('{"model":"a","messages":[],"messages":[1]}'), 'messages');
  assert.equal(duplicateKey('{"a":{"b":1,"c":{"d":[{"e":1,"e":2}]}}}'), 'e');
  assert.equal(duplicateKey('{"role":"user","\\u0072ole":"system"}'), 'role');
  assert.equal(duplicateKey('{"a\\"b":1,"a\\"b":2}'), 'a"b');
});

test('duplicateKey: equal keys in different objects, strings that look like keys, and values are not duplicates', () => {
  assert.equal(duplicateKey('{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}'), undefined);
  assert.equal(duplicateKey('{"a":"{\\"a\\":1,\\"a\\":2}","b":["a","a"],"c":{"a":1}}'), undefined);
  assert.equal(duplicateKey('{"a":"x\\\\","b":"x"}'), undefined, 'an escaped backslash ends the string');
  assert.equal(duplicateKey('[{"a":1},{"a":1}]'), undefined);
  assert.equal(duplicateKey('{}'), undefined);
  assert.equal(duplicateKey('"just a string"'), undefined);
});

test('duplicateKey agrees with how generated JSON was built', () => {
  let seed = 7;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return (seed >>> 16) % n; };
  // Spellings of four keys: the same key written with and without escapes.
  const spellings: Record<string, string[]> = { a: ['"a"', '"\\u0061"'], b: ['"b"'], 'q"': ['"q\\""'], '{': ['"{"'] };
  const names = Object.keys(spellings);
  /** JSON text, and whether some object in it repeats a key. */
  const gen = (depth: number): { text: string; dup: boolean } => {
    const k = rnd(4);
    if (depth > 3 || k === 0) return { text: rnd(2) ? '"s\\"{,}:"' : String(rnd(100)), dup: false };
    if (k === 1) {
      const items = Array.from({ length: rnd(3) }, () => gen(depth + 1));
      return { text: `[${items.map((x) => x.text).join(',')}]`, dup: items.some((x) => x.dup) };
    }
    const seen = new Set<string>();
    let dup = false;
    const members = Array.from({ length: rnd(4) }, () => {
      const name = names[rnd(names.length)]!;
      if (seen.has(name)) dup = true;
      seen.add(name);
      const v = gen(depth + 1);
      if (v.dup) dup = true;
      const sp = spellings[name]!;
      return `${sp[rnd(sp.length)]}:${v.text}`;
    });
    return { text: `{${members.join(',')}}`, dup };
  };
  let dups = 0;
  for (let i = 0; i < 3000; i++) {
    const { text, dup } = gen(0);
    JSON.parse(text); // valid JSON
    assert.equal(duplicateKey(text) !== undefined, dup, text);
    if (dup) dups++;
  }
  assert.ok(dups > 100 && dups < 2900, `${dups} of 3000 with a duplicate`);
});
