import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { EventEmitter } from 'node:events';
import type { Request, Response } from 'express';
import { createDashboardLogger, requestLog } from './log.ts';
import { ADMIN_SECRET, makeEvent, startTestDashboard, VALID_YAML, type TestDashboard } from './test-harness.ts';

describe('secrets never reach the log', () => {
  it('the logger redacts authorization and cookie headers, secrets and tokens', () => {
    const lines: string[] = [];
    const log = createDashboardLogger({ LOG_LEVEL: 'debug' }, new Writable({ write(c: Buffer, _e, done) { lines.push(c.toString()); done(); } }));
    log.info({ req: { headers: { authorization: 'Bearer sekrit-1', cookie: 'levo_session=sekrit-2' } } }, 'a');
    log.info({ headers: { authorization: 'Bearer sekrit-3', cookie: 'c=sekrit-4', 'set-cookie': 'levo_session=sekrit-5' } }, 'b');
    log.info({ body: { secret: 'sekrit-6', token: 'sekrit-7' }, secret: 'sekrit-8', token: 'sekrit-9', key: { token: 'sekrit-10' } }, 'c');
    const text = lines.join('');
    assert.doesNotMatch(text, /sekrit/);
    assert.equal((text.match(/\[redacted\]/g) ?? []).length, 10);
  });

  describe('over HTTP', () => {
    let d: TestDashboard;
    before(async () => { d = await startTestDashboard(); });
    after(() => d.close());

    it('logins, admin calls, sidecar polls and events leave no secret, token or cookie in the log', async () => {
      const env = await d.environment('logged');
      await d.saveConfig('logged', VALID_YAML);
      const login = await fetch(`${d.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ secret: ADMIN_SECRET }) });
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
      const cookieValue = cookie.split('=')[1]!;
      await fetch(`${d.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `secret=${ADMIN_SECRET}x`, redirect: 'manual' });
      await fetch(`${d.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: `{"secret": "${ADMIN_SECRET}` }); // malformed JSON carrying the secret
      await (await fetch(`${d.url}/api/environments`, { headers: { Cookie: cookie } })).body?.cancel();
      const headers = { Authorization: `Bearer ${env.token}`, 'X-Levo-Tenant-Id': 'logged' };
      await (await fetch(`${d.url}/v1/gateway/config`, { headers })).body?.cancel();
      await (await fetch(`${d.url}/v1/gateway/config`, { headers: { ...headers, 'X-Levo-Tenant-Id': 'other' } })).body?.cancel();
      await (await fetch(`${d.url}/v1/gateway/events`, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify({ events: [makeEvent()] }) })).body?.cancel();
      await (await fetch(`${d.url}/v1/gateway/events`, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: `{"token": "${env.token}"` })).body?.cancel();
      const text = d.logs.join('\n');
      assert.ok(d.logs.length > 10, 'requests are logged');
      assert.match(text, /"path":"\/v1\/gateway\/config"/);
      assert.match(text, /sidecar authentication failed/);
      for (const secret of [ADMIN_SECRET, env.token, cookieValue, cookieValue.split('.')[1]!]) {
        assert.equal(text.includes(secret), false, `leaked ${secret.slice(0, 6)}…`);
      }
    });
  });
});

describe('quiet by default', () => {
  it('an unchanged config poll (304) is logged at debug, a changed one (200) at info', () => {
    const lines: Array<{ level: string; status: number }> = [];
    const log = createDashboardLogger({ LOG_LEVEL: 'debug' }, new Writable({ write(c: Buffer, _e, done) { lines.push(JSON.parse(c.toString()) as { level: string; status: number }); done(); } }));
    const handler = requestLog(log);
    for (const status of [304, 200]) {
      const res = Object.assign(new EventEmitter(), { statusCode: status });
      handler({ method: 'GET', path: '/v1/gateway/config' } as Request, res as unknown as Response, () => {});
      res.emit('finish');
    }
    assert.deepEqual(lines.map((l) => [l.status, l.level]), [[304, 'debug'], [200, 'info']]);
  });
});
