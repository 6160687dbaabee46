/**
 * A picture of a dashboard's panel layout as SVG: rows, panels at their grid positions with
 * title, visualization and unit, and a schematic of what each panel draws. It shows a reader of
 * the docs what the dashboard will look like without a running Grafana. Deterministic: the same
 * dashboard gives byte-identical SVG.
 */
import type { Dashboard, Panel } from '@grafana/grafana-foundation-sdk/dashboard';
import { GRID_COLUMNS } from './kit.js';

/** Pixels per grid column and per grid row (Grafana's row unit is 30 px). */
const COLUMN = 40;
const ROW = 30;
const MARGIN = 16;
const HEADER = 44;
/** Approximate advance of one character of the 12 px sans-serif font, for truncation. */
const CHAR = 6.6;

const TYPE_NAMES: Record<string, string> = { timeseries: 'time series', stat: 'stat', 'state-timeline': 'state timeline' };
/** What a stat panel's value looks like, by unit. */
const SAMPLE_VALUES: Record<string, string> = { percentunit: '99.9%', reqps: '42 req/s', s: '120 ms', bytes: '1.2 GiB', ops: '17 ops/s', short: '3' };

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fit(text: string, widthPx: number): string {
  const max = Math.floor(widthPx / CHAR);
  return text.length <= max ? text : `${text.slice(0, Math.max(1, max - 1))}…`;
}

/** A small deterministic pseudo-random sequence (panel id as seed) for the schematic curves. */
function wave(seed: number, n: number): number[] {
  let s = (seed * 2654435761) >>> 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out.push(0.35 + 0.3 * Math.sin(i / (2 + (seed % 3)) + seed) + 0.2 * ((s >>> 16) / 65535));
  }
  return out;
}

const r1 = (n: number) => Math.round(n * 10) / 10;

function schematic(p: Panel, x: number, y: number, w: number, h: number): string {
  const id = p.id ?? 0;
  if (p.type === 'stat') {
    const unit = (p.fieldConfig?.defaults?.unit as string | undefined) ?? 'short';
    const mapped = p.fieldConfig?.defaults?.mappings?.length ? 'UP' : undefined;
    return `<text class="stat" x="${x}" y="${r1(y + h / 2 + 8)}">${escape(mapped ?? SAMPLE_VALUES[unit] ?? '3')}</text>`;
  }
  if (p.type === 'state-timeline') {
    const lanes = 3;
    const parts: string[] = [];
    for (let lane = 0; lane < lanes; lane++) {
      const ly = y + (lane * h) / lanes;
      const cut = r1(x + w * (0.55 + 0.15 * lane));
      parts.push(`<rect x="${x}" y="${r1(ly + 2)}" width="${r1(cut - x)}" height="${r1(h / lanes - 4)}" class="state-up"/>`);
      parts.push(`<rect x="${cut}" y="${r1(ly + 2)}" width="${r1(x + w - cut)}" height="${r1(h / lanes - 4)}" class="${lane === 1 ? 'state-down' : 'state-up'}"/>`);
    }
    return parts.join('');
  }
  // One line per query; a query split by labels (a `{{label}}` legend) draws as several.
  const queries = (p.targets ?? []) as Array<{ legendFormat?: string }>;
  const series = Math.min(3, Math.max(1, queries.length + (queries.some((q) => q.legendFormat?.includes('{{')) ? 2 : 0)));
  const lines: string[] = [];
  for (let k = 0; k < series; k++) {
    const values = wave(id * 7 + k, 24);
    const points = values.map((v, i) => `${r1(x + (i * w) / (values.length - 1))},${r1(y + h - v * h * (0.9 - 0.2 * k))}`).join(' ');
    lines.push(`<polyline points="${points}" class="series series-${k}"/>`);
  }
  return lines.join('');
}

/**
 * Renders the layout of `dashboard` (row and panel `gridPos`) as an SVG document.
 * @returns SVG text ending with a newline
 */
export function renderLayoutSvg(dashboard: Dashboard): string {
  const panels = dashboard.panels ?? [];
  const bottom = Math.max(0, ...panels.map((p) => (p.gridPos?.y ?? 0) + (p.gridPos?.h ?? 0)));
  const width = MARGIN * 2 + GRID_COLUMNS * COLUMN;
  const height = HEADER + MARGIN + bottom * ROW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    '<style>',
    '.bg{fill:#111217}.title{fill:#ccccdc;font-size:16px;font-weight:bold}.row{fill:#ccccdc;font-size:13px;font-weight:bold}',
    '.panel{fill:#181b1f;stroke:#2c3235}.ptitle{fill:#ccccdc;font-size:12px}.ptype{fill:#8e8e8e;font-size:10px}',
    '.series{fill:none;stroke-width:1.5}.series-0{stroke:#73bf69}.series-1{stroke:#f2cc0c}.series-2{stroke:#5794f2}',
    '.stat{fill:#73bf69;font-size:22px;font-weight:bold}',
    '.state-up{fill:#73bf69}.state-down{fill:#f2495c}',
    '</style>',
    `<rect class="bg" width="${width}" height="${height}"/>`,
    `<text class="title" x="${MARGIN}" y="${MARGIN + 14}">${escape(dashboard.title ?? '')}</text>`,
  ];
  for (const p of panels) {
    const g = p.gridPos ?? { x: 0, y: 0, w: GRID_COLUMNS, h: 1 };
    const x = MARGIN + g.x * COLUMN;
    const y = HEADER + g.y * ROW;
    if (p.type === 'row') {
      out.push(`<text class="row" x="${x}" y="${y + 20}">▾ ${escape(p.title ?? '')}</text>`);
      continue;
    }
    const w = g.w * COLUMN - 4;
    const h = g.h * ROW - 4;
    const panel = p as Panel;
    const unit = (panel.fieldConfig?.defaults?.unit as string | undefined) ?? '';
    const kind = `${TYPE_NAMES[panel.type] ?? panel.type}${unit ? ` · ${unit}` : ''}`;
    out.push(`<g id="panel-${panel.id ?? 0}">`);
    out.push(`<rect class="panel" x="${x + 2}" y="${y + 2}" width="${w}" height="${h}" rx="3"/>`);
    out.push(`<text class="ptitle" x="${x + 10}" y="${y + 20}">${escape(fit(panel.title ?? '', w - 16))}</text>`);
    out.push(`<text class="ptype" x="${x + 10}" y="${y + 34}">${escape(fit(kind, w - 16))}</text>`);
    out.push(schematic(panel, x + 10, y + 42, w - 16, Math.max(8, h - 50)));
    out.push('</g>');
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
