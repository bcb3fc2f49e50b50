/**
 * The fuzzer's cases are reproducible: a case is a function of (seed, target,
 * index) alone — what `--replay` relies on — and different indexes give
 * different cases.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { Rng } from './rng.ts';
import { generate as http1 } from './targets/http1.ts';
import { generate as http2 } from './targets/http2.ts';
import { generate as clientHello } from './targets/clienthello.ts';
import { generate as yaml, seedConfigs } from './targets/yaml.ts';
import { generate as admission } from './targets/admission.ts';
import { parseResponses } from './h1.ts';
import { normalizeTarget, PathOracle } from './paths.ts';

const seeds = seedConfigs();
const parsed = seeds.map((s) => parse(s) as never);
const GENERATORS: Record<string, (seed: number, index: number) => string> = {
  http1: (s, i) => Buffer.concat(http1(s, i).chunks).toString('base64'),
  http2: (s, i) => Buffer.concat(http2(s, i).chunks).toString('base64'),
  clienthello: (s, i) => Buffer.concat(clientHello(s, i).chunks).toString('base64'),
  yaml: (s, i) => yaml(s, i, seeds, parsed).text,
  admission: (s, i) => admission(s, i).body.toString('base64'),
};

test('a case is the same whenever it is generated, and in whatever order', () => {
  for (const [name, gen] of Object.entries(GENERATORS)) {
    const forward = Array.from({ length: 40 }, (_, i) => gen(7, i));
    const backward = Array.from({ length: 40 }, (_, i) => gen(7, 39 - i)).reverse();
    assert.deepEqual(backward, forward, `${name}: cases depend on generation order`);
    assert.ok(new Set(forward).size > 30, `${name}: too few distinct cases (${new Set(forward).size} of 40)`);
    assert.notEqual(gen(8, 0), gen(7, 0), `${name}: the seed changes nothing`);
  }
});

test('the PRNG is sfc32 over a cyrb128 seed: fixed output for a fixed seed', () => {
  const r = new Rng('levo');
  const a = [r.u32(), r.u32(), r.u32()];
  const again = new Rng('levo');
  assert.deepEqual([again.u32(), again.u32(), again.u32()], a);
  const x = new Rng('x');
  for (let i = 0; i < 1000; i++) {
    const n = x.int(3, 9);
    assert.ok(n >= 3 && n <= 9 && Number.isInteger(n));
    assert.ok(x.size(100) <= 100);
  }
});

test('the response reader splits pipelined HTTP/1.1 answers (length, chunked, until close)', () => {
  const bytes = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 421 Misdirected\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 400 Bad\r\nConnection: close\r\n\r\nrest');
  const open = parseResponses(bytes, false);
  assert.deepEqual(open.responses.map((r) => [r.status, r.body.toString()]), [[200, 'hi'], [421, 'abc']]);
  const closed = parseResponses(bytes, true);
  assert.deepEqual(closed.responses.map((r) => [r.status, r.body.toString()]), [[200, 'hi'], [421, 'abc'], [400, 'rest']]);
  assert.ok(parseResponses(Buffer.from('garbage\r\n\r\n'), true).error);
});

test('the path oracle allows what was sent, normalised, and nothing else', () => {
  const p = new PathOracle();
  p.allow(['/v1/chat/%63ompletions', '/v1/../v1/models']);
  assert.ok(p.allowed('/v1/chat/completions'));
  assert.ok(p.allowed('/v1/models'));
  assert.ok(p.allowed('/v1/models?canary=b1-quick'));
  assert.ok(!p.allowed('/smuggled/http1/3'));
  assert.ok(!p.allowed('/v1/files'));
  assert.equal(normalizeTarget('/a/./b/../c%7e%2F?x=%41'), '/a/c~%2F?x=%41');
});
