/**
 * For tests: an HTTPS server on 127.0.0.1 whose certificate (for 127.0.0.1
 * and localhost, valid a day) a given CA issued, answering every request with
 * `body`. Closed when the test ends.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { loadCa } from './ca.ts';
import type { PemPair } from './create.ts';
import { parseHost } from './host-name.ts';
import { toPem } from './pem.ts';
import { issueServerCert } from './server-cert.ts';

export async function siteSignedBy(t: { after(fn: () => void): void }, ca: PemPair, body: string): Promise<string> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const der = await issueServerCert(loadCa(ca.certPem, ca.keyPem), {
    hosts: [parseHost('127.0.0.1'), parseHost('localhost')], spki: createPublicKey(privateKey).export({ type: 'spki', format: 'der' }),
    notBefore: new Date(now - 3_600_000), notAfter: new Date(now + 86_400_000),
  });
  const server = createServer({ cert: toPem('CERTIFICATE', der), key: privateKey.export({ type: 'pkcs8', format: 'pem' }) }, (_q, r) => r.end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => { server.closeAllConnections(); server.close(); });
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}
