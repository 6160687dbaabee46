/** Inline SVG charts (no client-side JavaScript, no CDN). Labels and values are text, titles give exact figures. */
import { html, type Html } from '../html.js';
import { formatMoney } from '../money.js';

/** Horizontal bar chart: one bar per item, labels and values as text. */
export function barChart(id: string, label: string, items: { label: string; value: number; text: string }[]): Html {
  if (items.length === 0) return html`<p class="muted">No expenses in this month yet.</p>`;
  const max = Math.max(...items.map((i) => i.value));
  const rowH = 28;
  const width = 440;
  const labelW = 120;
  const valueW = 90;
  const barMax = width - labelW - valueW;
  const h = items.length * rowH + 4;
  return html`<svg data-testid="${id}" role="img" aria-label="${label}" viewBox="0 0 ${width} ${h}" width="100%" height="${h}">
<title>${label}</title>${items.map((it, i) => {
    const w = Math.max(2, Math.round((it.value / max) * barMax));
    const y = i * rowH + 4;
    return html`<g><text class="bar-label" x="0" y="${y + 15}">${it.label.length > 16 ? it.label.slice(0, 15) + '…' : it.label}</text>
<rect x="${labelW}" y="${y}" width="${w}" height="20" rx="3" fill="#2f6fde"><title>${it.label}: ${it.text}</title></rect>
<text class="bar-label" x="${labelW + w + 6}" y="${y + 15}">${it.text}</text></g>`;
  })}</svg>`;
}

/** Column chart of spending per day of `month`. */
export function dayChart(month: string, days: { date: string; totalCents: number }[], currency: string): Html {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const n = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const byDay = new Map(days.map((d) => [Number(d.date.slice(8, 10)), d.totalCents]));
  const max = Math.max(1, ...days.map((d) => d.totalCents));
  const width = 620;
  const height = 160;
  const colW = width / n;
  const cols: Html[] = [];
  for (let d = 1; d <= n; d++) {
    const v = byDay.get(d) ?? 0;
    const h = v === 0 ? 0 : Math.max(2, Math.round((v / max) * (height - 24)));
    cols.push(
      html`<rect x="${(d - 1) * colW + 1}" y="${height - 16 - h}" width="${Math.max(1, colW - 2)}" height="${h}" fill="#16a34a"><title>${month}-${String(d).padStart(2, '0')}: ${formatMoney(v, currency)}</title></rect>`,
    );
    if (d === 1 || d % 5 === 0) cols.push(html`<text class="bar-label" x="${(d - 1) * colW + 1}" y="${height - 2}">${d}</text>`);
  }
  return html`<svg data-testid="chart-day" role="img" aria-label="Spending by day" viewBox="0 0 ${width} ${height}" width="100%" height="${height}"><title>Spending by day</title>${cols}</svg>`;
}

const MONTH_NAMES = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * Month-over-month columns: one per month (oldest first), the `selected` one highlighted, each a
 * link to that month's dashboard; a dashed line marks `limit` when set.
 */
export function monthChart(
  months: { month: string; totalCents: number }[],
  selected: string,
  currency: string,
  limit: number | null,
): Html {
  const width = 620;
  const height = 170;
  const plot = height - 34;
  const max = Math.max(1, limit ?? 0, ...months.map((m) => m.totalCents));
  const colW = width / months.length;
  const scale = (v: number) => Math.round((v / max) * plot);
  return html`<svg data-testid="chart-months" role="img" aria-label="Spending per month, last ${months.length} months" viewBox="0 0 ${width} ${height}" width="100%" height="${height}">
<title>Spending per month</title>${months.map((m, i) => {
    const h = m.totalCents === 0 ? 0 : Math.max(2, scale(m.totalCents));
    const x = i * colW + 4;
    const label = MONTH_NAMES[Number(m.month.slice(5, 7)) - 1]!;
    return html`<a href="/dashboard?month=${m.month}"><rect data-month="${m.month}" x="${x}" y="${plot + 4 - h}" width="${colW - 8}" height="${h}" rx="2" fill="${m.month === selected ? '#2f6fde' : '#9fb9ef'}"><title>${m.month}: ${formatMoney(m.totalCents, currency)}</title></rect>
<text class="bar-label" x="${x}" y="${plot + 20}">${label}</text>${m.month.endsWith('-01') || i === 0 ? html`<text class="bar-label" x="${x}" y="${plot + 32}">${m.month.slice(0, 4)}</text>` : ''}</a>`;
  })}${limit ? html`<line x1="0" x2="${width}" y1="${plot + 4 - scale(limit)}" y2="${plot + 4 - scale(limit)}" stroke="#c81e1e" stroke-dasharray="6 4"><title>Monthly limit ${formatMoney(limit, currency)}</title></line>` : ''}</svg>`;
}
