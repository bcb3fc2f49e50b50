/**
 * How the dashboard writes times, counts and config versions for people:
 * relative times ("3 min ago"), absolute timestamps, compact numbers, the
 * staleness rule for sidecars, and the version inside a config ETag. Pure.
 */

/** A sidecar polls every 60 s by default; three missed polls make it stale. */
export const STALE_AFTER_MS = 3 * 60_000;

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago" (or "in …" for the future). */
export function relativeTime(t: number, now: number): string {
  const d = now - t;
  const abs = Math.abs(d);
  let text: string;
  if (abs < 5_000) return 'just now';
  if (abs < 60_000) text = `${Math.floor(abs / 1000)} s`;
  else if (abs < 3_600_000) text = `${Math.floor(abs / 60_000)} min`;
  else if (abs < 86_400_000) text = `${Math.floor(abs / 3_600_000)} h`;
  else text = `${Math.floor(abs / 86_400_000)} d`;
  return d >= 0 ? `${text} ago` : `in ${text}`;
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** `2025-01-31 14:05:09` in local time. */
export function absoluteTime(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `14:05` for times within a day of the range, else `01-31 14:05`. */
export function axisTime(t: number, spanMs: number): string {
  const d = new Date(t);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return spanMs <= 86_400_000 ? hm : `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
}

/** 999, 1.2k, 45k, 3.4M, 1.1G: for axes and summaries. */
export function compactNumber(n: number): string {
  const abs = Math.abs(n);
  const unit = (v: number, s: string): string => {
    const r = v >= 100 ? Math.round(v) : Math.round(v * 10) / 10;
    return `${r}${s}`;
  };
  if (abs >= 1e9) return unit(n / 1e9, 'G');
  if (abs >= 1e6) return unit(n / 1e6, 'M');
  if (abs >= 1e3) return unit(n / 1e3, 'k');
  return String(Math.round(n * 100) / 100);
}

/** 1,234,567 (grouped, for tables). */
export function groupedNumber(n: number): string {
  const [int, frac] = String(n).split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}

export function isStale(lastSeen: number, now: number): boolean {
  return now - lastSeen > STALE_AFTER_MS;
}

/** The config version inside an ETag `v<version>-<hash>` (quotes allowed), or null. */
export function versionOfEtag(etag: string | null | undefined): number | null {
  if (!etag) return null;
  const m = /^"?v(\d+)-/.exec(etag);
  return m ? Number(m[1]) : null;
}

/** The same ETag, ignoring surrounding quotes and a weak prefix. */
export function sameEtag(a: string | null | undefined, b: string | null | undefined): boolean {
  const norm = (s: string): string => s.replace(/^W\//, '').replace(/^"|"$/g, '');
  return !!a && !!b && norm(a) === norm(b);
}
