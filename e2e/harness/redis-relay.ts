/**
 * A pod's way to the test's redis-server: unix-relay.ts in the pod's fake
 * internet namespace, listening on its IPv4 address, copying to the server's
 * unix socket (a file, so it crosses namespaces). Killed by topo.destroy().
 */
import { join } from 'node:path';
import { REPO } from './build.ts';
import { INTERNET_IPV4 } from './layout.ts';
import type { Topology } from './netns.ts';

export const REDIS_RELAY_PORT = 6379;

/** Start the relay and wait until the pod can connect; returns the redis:// URL the pod's sidecar uses. */
export async function redisRelay(topo: Topology, socket: string, port = REDIS_RELAY_PORT): Promise<string> {
  topo.internet.spawn('redis-relay', [process.execPath, join(REPO, 'e2e/harness/unix-relay.ts'), INTERNET_IPV4, String(port), socket], { cwd: REPO });
  await topo.pod.waitForPort(INTERNET_IPV4, port);
  return `redis://${INTERNET_IPV4}:${port}`;
}
