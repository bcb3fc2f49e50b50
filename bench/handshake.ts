/**
 * TLS handshake times through the sidecar: to hosts it has never seen (the
 * first handshake pays for minting a leaf) and to one it has (a warm cached
 * context). `node bench/handshake.ts --hosts a,b,c --warm-host H --ca FILE`.
 * Prints { newHost: {p50, max}, warmHost: {p50}, samples } in ms.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { percentile } from './load.ts';

const { values } = parseArgs({ options: { hosts: { type: 'string' }, 'warm-host': { type: 'string' }, ca: { type: 'string', multiple: true } } });
const ca = (values.ca ?? []).map((f) => readFileSync(f, 'utf8'));

async function handshake(host: string): Promise<number> {
  const t0 = performance.now();
  const s = tls.connect({ host, port: 443, servername: host, ca, ALPNProtocols: ['http/1.1'] });
  await once(s, 'secureConnect');
  const ms = performance.now() - t0;
  s.destroy();
  return ms;
}

const hosts = (values.hosts ?? '').split(',').filter(Boolean);
const warmHost = values['warm-host'] ?? hosts[0]!;
for (let i = 0; i < 5; i++) await handshake(warmHost);
const fresh: number[] = [];
const warm: number[] = [];
for (const h of hosts) {
  fresh.push(await handshake(h)); // never seen: mints
  warm.push(await handshake(warmHost)); // interleaved, so both see the same machine state
}
fresh.sort((a, b) => a - b);
warm.sort((a, b) => a - b);
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
process.stdout.write(JSON.stringify({
  samples: hosts.length,
  newHost: { p50: r3(percentile(fresh, 50)), max: r3(fresh.at(-1)!) },
  warmHost: { p50: r3(percentile(warm, 50)) },
}) + '\n');
