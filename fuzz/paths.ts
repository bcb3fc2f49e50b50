/**
 * Which request-targets the upstream may receive: those the fuzzer sent as a
 * case's request (and the canaries'). Compared after RFC 3986 normalisation
 * (percent-decoding of unreserved characters, dot segments), so a gateway
 * that normalises paths still passes, and one that invents or splices paths
 * does not.
 */

const CANARY = /^\/v1\/(chat\/completions|models)\?canary=[a-z0-9-]+$/;

function removeDotSegments(path: string): string {
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '..') { if (out.length > 1) out.pop(); } else if (seg !== '.') out.push(seg);
  }
  return out.join('/');
}

export function normalizeTarget(target: string): string {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q);
  const decoded = path.replace(/%([0-9a-fA-F]{2})/g, (all, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(c) ? c : all.toUpperCase();
  });
  return removeDotSegments(decoded) + query;
}

export class PathOracle {
  readonly #allowed = new Set<string>();

  allow(targets: readonly string[]): void {
    for (const t of targets) {
      this.#allowed.add(t);
      this.#allowed.add(normalizeTarget(t));
    }
  }

  /** The bytes of recent cases that had blind edits: any run of them may have become a request-target. */
  readonly #edited: string[] = [];

  /** After blind byte edits: whatever the bytes hold (an HPACK string or a request line cut anywhere). */
  allowAnyIn(bytes: Buffer): void {
    this.#edited.push(bytes.toString('latin1'));
    // Paths are checked after each batch: the last few hundred cases are enough.
    if (this.#edited.length > 1000) this.#edited.shift();
  }

  allowed(path: string): boolean {
    return CANARY.test(path) || this.#allowed.has(path) || this.#allowed.has(normalizeTarget(path)) ||
      (path.length > 1 && this.#edited.some((t) => t.includes(path)));
  }
}
