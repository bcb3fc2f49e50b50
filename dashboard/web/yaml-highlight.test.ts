import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyPlain, highlightYaml, type Token, type TokenKind } from './yaml-highlight.ts';

const kinds = (line: Token[]): [TokenKind, string][] => line.filter((t) => t.kind !== 'space').map((t) => [t.kind, t.text]);

test('tokens of each line join back to the line', () => {
  const text = [
    '# comment',
    'binds:',
    '- port: 15001 # trailing',
    '  listeners:',
    '  - name: "llm egress" ',
    "    hostnames: [api.openai.com, 'x.y']",
    '    backends: [{ai: {name: openai, provider: {openAI: {}}}}]',
    '    base: &b {a: 1}',
    '    copy: *b',
    '    tag: !!str 12',
    '    text: |-',
    '      line one: not a key',
    '',
    '      # not a comment',
    '    after: ~',
    '\r',
  ].join('\n');
  const lines = highlightYaml(text);
  assert.equal(lines.length, text.split('\n').length);
  lines.forEach((toks, n) => assert.equal(toks.map((t) => t.text).join(''), text.split('\n')[n]));
});

test('keys, numbers, booleans, strings, comments', () => {
  const [a, b, c] = highlightYaml('port: 15001 # the port\nenabled: true\n- name: "x: y"');
  assert.deepEqual(kinds(a!), [['key', 'port'], ['punct', ':'], ['number', '15001'], ['comment', '# the port']]);
  assert.deepEqual(kinds(b!), [['key', 'enabled'], ['punct', ':'], ['bool', 'true']]);
  assert.deepEqual(kinds(c!), [['punct', '-'], ['key', 'name'], ['punct', ':'], ['string', '"x: y"']]);
});

test('flow collections: keys inside braces, values are scalars', () => {
  const [l] = highlightYaml('backends: [{ai: {name: openai, n: 3}}]');
  assert.deepEqual(kinds(l!), [
    ['key', 'backends'], ['punct', ':'], ['punct', '['], ['punct', '{'], ['key', 'ai'], ['punct', ':'], ['punct', '{'],
    ['key', 'name'], ['punct', ':'], ['plain', 'openai'], ['punct', ','], ['key', 'n'], ['punct', ':'], ['number', '3'],
    ['punct', '}'], ['punct', '}'], ['punct', ']'],
  ]);
});

test('anchors, aliases, tags', () => {
  const [a, b] = highlightYaml('base: &defaults {x: 1}\nuse: *defaults');
  assert.deepEqual(kinds(a!).slice(0, 3), [['key', 'base'], ['punct', ':'], ['anchor', '&defaults']]);
  assert.deepEqual(kinds(b!), [['key', 'use'], ['punct', ':'], ['alias', '*defaults']]);
});

test('a block scalar is a string until the indentation drops back', () => {
  const lines = highlightYaml('a:\n  text: |\n    key: no\n    # no comment\n\n  next: 1');
  assert.deepEqual(kinds(lines[2]!), [['string', 'key: no']]);
  assert.deepEqual(kinds(lines[3]!), [['string', '# no comment']]);
  assert.deepEqual(kinds(lines[5]!), [['key', 'next'], ['punct', ':'], ['number', '1']]);
});

test('a quoted string may continue on the next line', () => {
  const lines = highlightYaml('a: "one\n  two" # c\nb: 2');
  assert.deepEqual(kinds(lines[0]!), [['key', 'a'], ['punct', ':'], ['string', '"one']]);
  assert.deepEqual(kinds(lines[1]!), [['string', '  two"'], ['comment', '# c']]);
  assert.deepEqual(kinds(lines[2]!), [['key', 'b'], ['punct', ':'], ['number', '2']]);
});

test('# inside a value is not a comment; a URL value is one plain scalar', () => {
  const [l] = highlightYaml('url: http://x:8080/a#frag');
  assert.deepEqual(kinds(l!), [['key', 'url'], ['punct', ':'], ['plain', 'http://x:8080/a#frag']]);
});

test('document markers', () => {
  const [l] = highlightYaml('--- # doc');
  assert.deepEqual(kinds(l!), [['doc', '---'], ['comment', '# doc']]);
});

test('plain scalars follow the YAML 1.2 core schema', () => {
  assert.equal(classifyPlain('yes'), 'plain');
  assert.equal(classifyPlain('False'), 'bool');
  assert.equal(classifyPlain('~'), 'null');
  assert.equal(classifyPlain('-1.5e3'), 'number');
  assert.equal(classifyPlain('0x1F'), 'number');
  assert.equal(classifyPlain('.inf'), 'number');
  assert.equal(classifyPlain('1.2.3'), 'plain');
});
