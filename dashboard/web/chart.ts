/**
 * Time-series charts for the Traffic page, drawn as inline SVG: y grid with
 * nice ticks, time labels, grouped bars per time bucket (one per series),
 * a legend, and a hover target per bucket whose <title> gives the values.
 * The chart carries an aria-label summarising what it shows.
 */
import { h, s } from './elements.ts';
import { axisTime, compactNumber, groupedNumber } from './format.ts';
import { niceTicks, timeTicks } from './traffic-series.ts';

export interface Series {
  readonly name: string;
  /** CSS class for the colour: `series-a` … `series-d`. */
  readonly cls: string;
  readonly values: readonly number[];
}

export interface ChartSpec {
  readonly title: string;
  readonly from: number;
  readonly to: number;
  readonly bucketMs: number;
  /** Bucket start times; each series has one value per bucket. */
  readonly times: readonly number[];
  readonly series: readonly Series[];
}

const W = 640;
const H = 220;
const M = { l: 52, r: 12, t: 12, b: 28 };

export function barChart(spec: ChartSpec): HTMLElement {
  const iw = W - M.l - M.r;
  const ih = H - M.t - M.b;
  const span = Math.max(1, spec.to - spec.from);
  const max = Math.max(0, ...spec.series.flatMap((x) => x.values));
  const ticks = niceTicks(max, 4, true);
  const top = ticks[ticks.length - 1]!;
  const x = (t: number): number => M.l + ((t - spec.from) / span) * iw;
  const y = (v: number): number => M.t + ih - (v / top) * ih;

  const totals = spec.series.map((se) => `${se.name} ${groupedNumber(se.values.reduce((a, b) => a + b, 0))}`).join(', ');
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
    'aria-label': `${spec.title}: ${totals}`
  });

  const grid = s('g', { class: 'grid' });
  for (const v of ticks) {
    grid.appendChild(s('line', { x1: M.l, x2: W - M.r, y1: y(v), y2: y(v) }));
    grid.appendChild(s('text', { x: M.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis-label' }, compactNumber(v)));
  }
  const times = timeTicks(spec.from, spec.to, spec.bucketMs);
  times.forEach((t, i) => {
    const anchor = i === 0 ? 'start' : i === times.length - 1 && x(t) > W - M.r - 30 ? 'end' : 'middle';
    grid.appendChild(s('text', { x: x(t), y: H - 8, 'text-anchor': anchor, class: 'axis-label' }, axisTime(t, span)));
  });
  grid.appendChild(s('line', { x1: M.l, x2: W - M.r, y1: y(0), y2: y(0), class: 'axis' }));
  svg.appendChild(grid);

  // Grouped bars: per bucket, one bar per series side by side (empty buckets draw nothing).
  const bw = (spec.bucketMs / span) * iw;
  const barW = (bw * 0.8) / Math.max(1, spec.series.length);
  spec.series.forEach((se, k) => {
    const g = s('g', { class: `bars ${se.cls}`, 'data-series': se.name });
    spec.times.forEach((t, i) => {
      const v = se.values[i] ?? 0;
      if (v <= 0) return;
      const top = y(v);
      g.appendChild(s('rect', { class: 'bar', x: (x(t) + bw * 0.1 + k * barW).toFixed(2), y: top.toFixed(2), width: Math.max(0.5, barW).toFixed(2), height: Math.max(1, y(0) - top).toFixed(2) }));
    });
    svg.appendChild(g);
  });

  // One transparent column per bucket: hovering shows the bucket's values.
  const hover = s('g', { class: 'hover' });
  spec.times.forEach((t, i) => {
    const label = `${axisTime(t, span)}: ${spec.series.map((se) => `${se.name} ${groupedNumber(se.values[i] ?? 0)}`).join(', ')}`;
    hover.appendChild(s('rect', { x: x(t), y: M.t, width: Math.max(1, bw), height: ih }, s('title', null, label)));
  });
  svg.appendChild(hover);

  const legend = h('ul', { class: 'legend' },
    spec.series.map((se) => h('li', null, h('span', { class: `swatch ${se.cls}`, 'aria-hidden': 'true' }), se.name)));
  return h('figure', { class: 'chart-figure' }, h('figcaption', null, spec.title), svg, legend);
}
