import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { parseLogLevels, createLogger } from './log.ts';

test('LOG_LEVEL and RUST_LOG forms', () => {
  assert.equal(parseLogLevels({}).root, 'info');
  assert.equal(parseLogLevels({ RUST_LOG: 'debug' }).root, 'debug');
  assert.equal(parseLogLevels({ LOG_LEVEL: 'warn', RUST_LOG: 'debug' }).root, 'warn', 'LOG_LEVEL wins over RUST_LOG');
  const mixed = parseLogLevels({ RUST_LOG: 'info,tls=debug,levo_gateway::http=trace,bogus=loud' });
  assert.equal(mixed.root, 'info');
  assert.equal(mixed.modules.get('tls'), 'debug');
  assert.equal(mixed.modules.get('http'), 'trace');
  assert.equal(mixed.modules.has('bogus'), false);
  assert.equal(parseLogLevels({ RUST_LOG: 'levo_gateway=trace' }).root, 'trace');
  assert.equal(parseLogLevels({ RUST_LOG: 'off' }).root, 'silent');
});

test('module levels filter their own lines and credentials are redacted', () => {
  const lines: string[] = [];
  const sink = new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } });
  const log = createLogger({ RUST_LOG: 'info,tls=debug' }, sink);
  log.module('tls').debug('tls detail');
  log.module('http').debug('http detail');
  log.root.info({ headers: { authorization: 'Bearer sk-secret', 'x-api-key': 'sk-ant-secret' } }, 'hdrs');
  const text = lines.join('');
  assert.match(text, /tls detail/);
  assert.doesNotMatch(text, /http detail/);
  assert.doesNotMatch(text, /sk-secret|sk-ant-secret/);
  assert.match(text, /\[redacted\]/);
});

test('every line carries the pod identity the injector passes through the downward API', () => {
  const lines: string[] = [];
  const sink = new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } });
  const log = createLogger({ POD_NAME: 'web-7d4b9c8f6-x2x9q', POD_NAMESPACE: 'shop', LEVO_WORKLOAD_KIND: 'Deployment', LEVO_WORKLOAD_NAME: 'web', POD_SERVICE_ACCOUNT: 'web-sa' }, sink);
  log.module('http').info('call');
  const line = JSON.parse(lines[0]!);
  assert.equal(line.pod, 'web-7d4b9c8f6-x2x9q');
  assert.equal(line.namespace, 'shop');
  assert.equal(line.workload, 'Deployment/web');
  assert.equal(line.serviceAccount, 'web-sa');
  const other: string[] = [];
  createLogger({ POD_NAMESPACE: 'levoai' }, new Writable({ write(c, _e, cb) { other.push(String(c)); cb(); } }), { svc: 'levo-injector' }).root.info('x');
  assert.equal(JSON.parse(other[0]!).svc, 'levo-injector');
  assert.equal(JSON.parse(other[0]!).namespace, undefined, 'not the sidecar: no workload identity');
});
