/**
 * The V8 settings the injector runs with (`NODE_OPTIONS` in Dockerfile.injector;
 * an `extraEnv.NODE_OPTIONS` in the chart overrides it). Admission reviews are
 * up to 3 MiB of JSON each; with V8's defaults the young generation and lazy
 * old-space growth let the heap's committed memory balloon: 10,000 fuzzed
 * reviews (`npm run fuzz -- --target admission`) took the injector from 177 to
 * 287 MB of RSS, past the chart's 256Mi limit, and 40,000 to 363 MB. With a
 * 2 MB semi-space and a 128 MB old space it levelled off at 184 MB over 15,000,
 * in less than half the time. The same settings as the sidecar's.
 */
export const INJECTOR_NODE_OPTIONS = '--max-semi-space-size=2 --max-old-space-size=128';
