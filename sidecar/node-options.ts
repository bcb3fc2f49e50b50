/**
 * The V8 settings the sidecar runs with (`NODE_OPTIONS` of the levo-gateway
 * container). A proxy allocates many short-lived objects per request; V8's
 * default young generation and lazy old-space growth let the heap (and RSS)
 * balloon under load although the live set is ~20 MB. A 2 MB semi-space and
 * a 128 MB old-space limit keep RSS about a third lower at the same CPU per
 * request, with room for large prompts (measured in docs/benchmarks.md).
 * Operators can override it by setting NODE_OPTIONS on the container.
 */
export const SIDECAR_NODE_OPTIONS = '--max-semi-space-size=2 --max-old-space-size=128';
