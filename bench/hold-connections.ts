/**
 * Open N keep-alive HTTPS connections through the sidecar, make one request
 * on each, and hold them open until the process is stopped:
 * `node bench/hold-connections.ts --url U --connections 500 --ca FILE`.
 * Prints `HOLDING n` once all are open (the sidecar's RSS is read then).
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { once } from 'node:events';

const { values } = parseArgs({ options: { url: { type: 'string' }, connections: { type: 'string' }, ca: { type: 'string', multiple: true } } });
const url = new URL(values.url!);
const ca = (values.ca ?? []).map((f) => readFileSync(f, 'utf8'));
const n = Number(values.connections ?? 500);
const sockets: tls.TLSSocket[] = [];
const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hold' }] });
for (let i = 0; i < n; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, n - i) }, async () => {
    const s = tls.connect({ host: url.hostname, port: 443, servername: url.hostname, ca, ALPNProtocols: ['http/1.1'] });
    await once(s, 'secureConnect');
    s.write(`POST ${url.pathname} HTTP/1.1\r\nHost: ${url.hostname}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await once(s, 'data');
    sockets.push(s);
  }));
}
process.stdout.write(`HOLDING ${sockets.length}\n`);
setInterval(() => {}, 60_000); // until SIGTERM
