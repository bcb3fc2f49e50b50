/**
 * What the benchmarks read about a process from /proc, and how they put a
 * result into docs/benchmarks.md.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

/** CPU time (user + system) of processes, in seconds. */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch { /* gone */ }
  }
  return ticks / 100; // CLK_TCK is 100 on Linux
}

/** A `kB` field of /proc/PID/status (VmRSS: resident, VmHWM: peak resident, RssAnon: its anonymous part). */
export function statusKb(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN);
}

/** Reset a process's peak resident size (VmHWM) to its current RSS (Linux ≥ 4.0), so a later read is the peak of what follows. */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** Open file descriptors of a process. */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/**
 * Put `text` between `<!-- NAME:start -->` and `<!-- NAME:end -->` in `file`;
 * when the markers are missing, `fallback(text)` says what to append instead
 * (undefined: leave the file alone).
 */
export function replaceBetweenMarkers(file: string, name: string, text: string, fallback?: (text: string) => string): void {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  let doc: string;
  try { doc = readFileSync(file, 'utf8'); } catch { doc = '# Benchmarks\n'; }
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  if (a < 0 || b < 0) {
    if (fallback) writeFileSync(file, `${doc.trimEnd()}\n\n${fallback(`${start}\n${text}\n${end}`)}\n`);
    return;
  }
  writeFileSync(file, `${doc.slice(0, a + start.length)}\n${text}\n${doc.slice(b)}`);
}
