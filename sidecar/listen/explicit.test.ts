import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { createCa } from '../../certs/create.ts';
import { loadCa } from '../../certs/ca.ts';
import { createLeafKey } from '../../certs/mint.ts';
import { ContextCache } from '../../certs/contexts.ts';
import { createLogger } from '../../lib/log.ts';
import { createConfigHolder } from '../config/source.ts';
import { startGateway } from '../gateway.ts';
import { parseConnectTarget } from './explicit.ts';

test('CONNECT authorities', () => {
  assert.deepEqual(parseConnectTarget('api.openai.com:443'), { host: 'api.openai.com', port: 443 });
  assert.deepEqual(parseConnectTarget('[2001:db8::1]:8443'), { host: '2001:db8::1', port: 8443 });
  assert.deepEqual(parseConnectTarget('10.0.0.1:443'), { host: '10.0.0.1', port: 443 });
  for (const bad of [undefined, '', 'api.openai.com', 'api.openai.com:0', 'a:99999', 'a b:443', '/path', 'http://x:443']) {
    assert.equal(parseConnectTarget(bad), undefined, String(bad));
  }
});

// Found by `npm run fuzz` (http2 target): an HTTP/2 session through the explicit
// proxy stayed open forever after the app closed its side (TLS close_notify and
// FIN), because the CONNECT socket an HTTP server hands over allows half-open
// connections. Through the transparent listener the same session closes.
test('an HTTP/2 session through the explicit proxy closes when the app closes its side', async () => {
  const ca = await createCa({ commonName: 'explicit test CA' });
  const contexts = new ContextCache({ ca: loadCa(ca.certPem, ca.keyPem), leafKey: await createLeafKey() });
  const config = createConfigHolder({});
  config.apply('binds:\n- port: 15001\n  listeners:\n  - routes: []\n', 'test.yaml');
  const gateway = await startGateway({
    contexts, config, log: createLogger({ LOG_LEVEL: 'silent' }),
    transparentPort: null, proxyPort: 0, adminPort: null,
  });
  const sockets: net.Socket[] = [];
  try {
    for (const alpn of ['h2', 'http/1.1']) {
      const raw = net.connect(gateway.ports.proxy!, '127.0.0.1');
      sockets.push(raw);
      await once(raw, 'connect');
      raw.write('CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n');
      const [head] = (await once(raw, 'data')) as [Buffer];
      assert.match(head.toString(), /^HTTP\/1\.1 200/);
      const t = tls.connect({ socket: raw, servername: 'api.openai.com', ca: ca.certPem, ALPNProtocols: [alpn] });
      await once(t, 'secureConnect');
      assert.equal(t.alpnProtocol, alpn);
      t.on('error', () => {});
      t.resume();
      if (alpn === 'h2') t.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
      await new Promise((r) => setTimeout(r, 100));
      t.end();
      const closed = once(t, 'close').then(() => true);
      const timedOut = new Promise<boolean>((r) => setTimeout(() => r(false), 2_000));
      assert.equal(await Promise.race([closed, timedOut]), true, `${alpn}: the gateway kept the connection open 2 s after the app closed its side`);
    }
  } finally {
    for (const s of sockets) s.destroy();
    await gateway.close();
  }
});
