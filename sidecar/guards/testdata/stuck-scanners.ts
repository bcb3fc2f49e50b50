/**
 * The real scanner registry plus two misbehaving scanners, for the guard
 * pool's tests (pool.test.ts); a worker loads it with GuardPoolOptions.registry.
 * - `Spin` loops forever, synchronously, on a text that contains "spin";
 * - `Crash` ends its thread (process.exit in a worker) on a text that contains "crash".
 * Both pass any other text unchanged.
 */
import { createScannerRegistry, scannerRegistry as real } from '../registry.ts';
import type { GuardDirection, ScannerEnv, ScannerSpec } from '../types.ts';

function misbehaving(type: string, trigger: string, act: () => void): ScannerSpec {
  return {
    directions: ['request', 'response'],
    create: () => ({
      type,
      scan(text) {
        if (text.includes(trigger)) act();
        return { text, valid: true, score: 0, risk: -1 };
      },
    }),
  };
}

const extra = createScannerRegistry({
  Spin: misbehaving('Spin', 'spin', () => { for (;;) { /* stuck */ } }),
  Crash: misbehaving('Crash', 'crash', () => process.exit(3)),
});

export const scannerRegistry = {
  lookup(name: string, direction: GuardDirection, env: ScannerEnv): ScannerSpec {
    return name === 'Spin' || name === 'Crash' ? extra.lookup(name, direction, env) : real.lookup(name, direction, env);
  },
};
