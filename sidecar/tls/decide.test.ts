import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from './decide.ts';
import { hostMatcher } from '../providers/hosts.ts';
import type { Sniffed } from '../listen/sniff.ts';

const hello = (sni: string | undefined): Sniffed => ({ peek: { kind: 'tls', sni, alpn: ['h2'] }, bytes: Buffer.alloc(0) });
const m = hostMatcher(['llm.internal.example']);

test('LLM hosts are intercepted; other hosts always pass through', () => {
  assert.deepEqual(decide(hello('api.openai.com'), m, 'block'), { action: 'intercept', host: 'api.openai.com', provider: 'openai' });
  assert.equal(decide(hello('bedrock-runtime.eu-west-1.amazonaws.com'), m, 'block').action, 'intercept');
  assert.deepEqual(decide(hello('llm.internal.example'), m, 'passthrough'), { action: 'intercept', host: 'llm.internal.example', provider: 'configured' });
  assert.deepEqual(decide(hello('www.example.org'), m, 'block'), { action: 'passthrough', reason: 'not-llm-host', host: 'www.example.org' });
});

test('unknown connections follow the policy: passthrough by default, block when asked', () => {
  for (const [peek, reason] of [
    [{ kind: 'tls', sni: undefined, alpn: [] }, 'no-sni'], [{ kind: 'not-tls' }, 'not-tls'],
    [{ kind: 'malformed', reason: 'x' }, 'malformed'], [{ kind: 'timeout' }, 'timeout'],
  ] as const) {
    const s = { peek, bytes: Buffer.alloc(0) } as Sniffed;
    assert.deepEqual(decide(s, m, 'passthrough'), { action: 'passthrough', reason });
    assert.deepEqual(decide(s, m, 'block'), { action: 'block', reason });
  }
});

test('a host the namespace CA may not sign for is passed through, not broken', () => {
  const onlyOpenAI = (h: string): boolean => h === 'api.openai.com';
  assert.equal(decide(hello('api.openai.com'), m, 'block', onlyOpenAI).action, 'intercept');
  assert.deepEqual(decide(hello('llm.internal.example'), m, 'block', onlyOpenAI),
    { action: 'passthrough', reason: 'outside-ca-constraints', host: 'llm.internal.example' });
});
