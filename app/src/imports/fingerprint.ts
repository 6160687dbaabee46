/**
 * The fingerprint of an imported row: what makes a re-upload, or an overlapping statement, add
 * nothing. It is
 *
 *   md5(content hash || ':' || n)   as a UUID
 *
 * where the content hash (normalize.ts) covers the date, amount, currency and case-folded
 * description, and n numbers the rows with that content hash in file order (1, 2, ...): two
 * identical coffees on one day are two expenses (n = 1, 2), and the same two rows in another file
 * get the same two fingerprints. `expenses (user_id, fingerprint)` is unique.
 *
 * Identical rows share their day, so n only depends on the rows of that day. Bank exports list
 * each day's rows together (sorted by date, either way): then {@link OccurrenceCounter} numbers
 * rows while the file is read, keeping the counts of one day only, and rows can be merged while
 * the rest of the file is still being staged. Once a day shows up again after another one
 * (a file not grouped by date), numbering is left to SQL ({@link FINGERPRINT_SQL}) after staging,
 * over all staged rows of each day; both give the same fingerprints.
 */
import { md5Uuid } from './normalize.js';

/** Fingerprint of the `n`-th row (1-based) with content hash `contentHash`. */
export function fingerprint(contentHash: string, n: number): string {
  return md5Uuid(`${contentHash}:${n}`);
}

/**
 * The same in SQL, for rows of a staging table: `n` is the row's rank by `line` among the rows
 * with its content hash (all of them must be in the window: whole days).
 */
export const FINGERPRINT_SQL = `md5(content_hash::text || ':' || row_number() OVER (PARTITION BY content_hash ORDER BY line))::uuid`;

/**
 * Numbers rows with equal content hashes while a file is read in order. Memory: the distinct
 * content hashes of one day, and the set of days seen.
 */
export class OccurrenceCounter {
  private day: string | undefined;
  private counts = new Map<string, number>();
  private readonly closedDays = new Set<string>();
  /** False once a day reappeared after another: numbering is then done after staging, in SQL. */
  grouped = true;

  /**
   * Restores the state after `days` were read, the last one being `lastDay` with `lastDayCounts`
   * (content hash -> rows), e.g. when a staging resumes.
   */
  static resume(days: Iterable<string>, lastDay: string | undefined, lastDayCounts: Iterable<[string, number]>, grouped: boolean): OccurrenceCounter {
    const c = new OccurrenceCounter();
    for (const d of days) if (d !== lastDay) c.closedDays.add(d);
    c.day = lastDay;
    c.counts = new Map(lastDayCounts);
    c.grouped = grouped;
    return c;
  }

  /** The fingerprint of the next row with this day and content hash, or null once the file is not grouped by day. */
  next(day: string, contentHash: string): string | null {
    if (!this.grouped) return null;
    if (day !== this.day) {
      if (this.closedDays.has(day)) {
        this.grouped = false;
        this.counts.clear();
        return null;
      }
      if (this.day !== undefined) this.closedDays.add(this.day);
      this.day = day;
      this.counts.clear();
    }
    const n = (this.counts.get(contentHash) ?? 0) + 1;
    this.counts.set(contentHash, n);
    return fingerprint(contentHash, n);
  }
}
