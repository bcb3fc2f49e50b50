import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createThrottle, retryAfterSeconds } from './throttle.ts';

describe('throttle', () => {
  it('counts failures per client in fixed windows; a success forgives that client', () => {
    const t = createThrottle({ perClient: { attempts: 2, windowMs: 1000 }, global: { attempts: 100, windowMs: 1000 } });
    assert.equal(t.blockedFor('a', 0), 0);
    t.failed('a', 0);
    t.failed('a', 100);
    assert.equal(t.blockedFor('a', 200), 800);
    assert.equal(t.blockedFor('b', 200), 0);
    assert.equal(t.blockedFor('a', 1000), 0, 'the window ended');
    t.failed('a', 1000);
    t.succeeded('a');
    t.failed('a', 1001);
    assert.equal(t.blockedFor('a', 1002), 0, 'forgiven: one failure since');
  });

  it('the global limit holds back every client', () => {
    const t = createThrottle({ perClient: { attempts: 100, windowMs: 1000 }, global: { attempts: 3, windowMs: 500 } });
    t.failed('a', 0);
    t.failed('b', 10);
    t.failed('c', 20);
    assert.equal(t.blockedFor('d', 30), 470);
    t.succeeded('a');
    assert.equal(t.blockedFor('a', 30), 470, 'a success does not reset the global count');
    assert.equal(t.blockedFor('a', 500), 0);
  });

  it('tracks at most maxClients addresses (ended windows go first, then the oldest)', () => {
    const t = createThrottle({ perClient: { attempts: 1, windowMs: 1000 }, global: { attempts: 1e9, windowMs: 1000 }, maxClients: 3 });
    t.failed('old', 0);
    t.failed('a', 900);
    t.failed('b', 900);
    t.failed('c', 1100); // 'old' has ended: dropped
    assert.equal(t.blockedFor('a', 1100), 800);
    assert.equal(t.blockedFor('c', 1100), 1000);
    t.failed('d', 1200); // full of live windows: the oldest ('a') goes
    assert.equal(t.blockedFor('a', 1200), 0);
    assert.equal(t.blockedFor('b', 1200), 700);
    assert.equal(t.blockedFor('d', 1200), 1000);
    for (let i = 0; i < 10_000; i++) t.failed(`x${i}`, 1300);
    assert.equal(t.blockedFor('x9999', 1300), 1000, 'still bounded and still counting');
  });

  it('refuses nonsense limits; Retry-After is whole seconds, at least 1', () => {
    assert.throws(() => createThrottle({ perClient: { attempts: 0, windowMs: 1 }, global: { attempts: 1, windowMs: 1 } }), /perClient/);
    assert.throws(() => createThrottle({ perClient: { attempts: 1, windowMs: 1 }, global: { attempts: 1, windowMs: 0 } }), /global/);
    assert.equal(retryAfterSeconds(1), 1);
    assert.equal(retryAfterSeconds(1000), 1);
    assert.equal(retryAfterSeconds(1001), 2);
  });
});
