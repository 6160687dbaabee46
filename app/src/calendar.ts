/**
 * Calendar arithmetic in a user's IANA time zone (ICU's tz data through `Intl`), so "today" and
 * "this month" follow the user's clock, not the server's UTC. Months are `YYYY-MM`, dates
 * `YYYY-MM-DD` (calendar values, never instants).
 */

const ZONES: ReadonlySet<string> = new Set([...Intl.supportedValuesOf('timeZone'), 'UTC']);

/** True for an IANA time zone name ICU knows (`Europe/Paris`, `UTC`). */
export function isTimeZone(name: string): boolean {
  return ZONES.has(name);
}

/** Every selectable time zone, sorted (for the settings form). */
export function timeZones(): string[] {
  return [...ZONES].sort();
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // en-CA formats as YYYY-MM-DD.
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The calendar date of `instant` in `timeZone` (`YYYY-MM-DD`). Unknown zones count as UTC. */
export function dateIn(timeZone: string, instant: Date = new Date()): string {
  return formatter(isTimeZone(timeZone) ? timeZone : 'UTC').format(instant);
}

/** The month of `instant` in `timeZone` (`YYYY-MM`). */
export function monthIn(timeZone: string, instant: Date = new Date()): string {
  return dateIn(timeZone, instant).slice(0, 7);
}

/** `month` (`YYYY-MM`) moved by `delta` months (negative: earlier). */
export function addMonths(month: string, delta: number): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const index = y * 12 + (m - 1) + delta;
  return `${String(Math.floor(index / 12)).padStart(4, '0')}-${String((index % 12) + 1).padStart(2, '0')}`;
}

/** The `count` months ending with `month`, oldest first. */
export function monthsEnding(month: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => addMonths(month, i - count + 1));
}
