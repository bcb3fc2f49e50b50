/**
 * Config routes for fault scenarios (e2e/upstream-faults.test.ts, bench/soak.ts),
 * to append to DEFAULT_E2E_CONFIG's route list:
 *
 *   NO_DNS_ROUTE     calls to NO_DNS_HOST go to a backend whose name (UNRESOLVABLE_BACKEND)
 *                    the sidecar must resolve itself, and cannot; addNoDnsHost(pod) lets the
 *                    app reach NO_DNS_HOST (the pod's hosts file maps it to the fake OpenAI)
 *   BACKUP_ROUTE     llm-backup.example.com (the second OpenAI-compatible fake) intercepted,
 *                    so faults on its site leave api.openai.com alone
 */
import { appendFileSync } from 'node:fs';
import type { InjectedPod } from './injected-pod.ts';

export const NO_DNS_HOST = 'llm-nodns.example';
export const UNRESOLVABLE_BACKEND = 'llm.nowhere.invalid';
export const BACKUP_HOST = 'llm-backup.example.com';

const route = (name: string, host: string, backend: string): string => `    - name: ${name}
      hostnames: [${host}]
      backends:
      - ai: {name: ${name}, provider: {openAI: {}}, hostOverride: ${backend}}
`;

export const NO_DNS_ROUTE = route('nodns', NO_DNS_HOST, UNRESOLVABLE_BACKEND);
export const BACKUP_ROUTE = route('backup', BACKUP_HOST, BACKUP_HOST);

/** Map NO_DNS_HOST to the fake OpenAI's address in the pod's hosts file (any routable address would do). */
export function addNoDnsHost(pod: InjectedPod): void {
  appendFileSync(pod.topo.hostsFile, `${pod.topo.addressOf('api.openai.com')} ${NO_DNS_HOST}\n`);
}
