/**
 * Money: integer minor units ("cents") plus an ISO 4217 currency code. The list of valid codes
 * is ICU's (`Intl.supportedValuesOf('currency')`), so it matches what `Intl.NumberFormat` formats.
 */
const CURRENCIES: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'));

/** True for a known ISO 4217 alphabetic code (upper case, e.g. `EUR`). */
export function isCurrency(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && CURRENCIES.has(code);
}

/** One formatter per currency: constructing Intl.NumberFormat is far costlier than using it. */
const formatters = new Map<string, { format: Intl.NumberFormat; digits: number }>();
function formatter(currency: string) {
  let f = formatters.get(currency);
  if (!f) {
    const digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    f = { format: new Intl.NumberFormat('en', { style: 'currency', currency, minimumFractionDigits: digits }), digits };
    if (isCurrency(currency)) formatters.set(currency, f);
  }
  return f;
}

/** Number of minor-unit digits of a currency (USD 2, JPY 0, KWD 3), from ICU. */
export function minorDigits(currency: string): number {
  return formatter(currency).digits;
}

/** Formats minor units for display, e.g. `(12345, 'USD')` -> `$123.45`. */
export function formatMoney(cents: number, currency: string): string {
  const f = formatter(currency);
  return f.format.format(cents / 10 ** f.digits);
}

/**
 * Parses a decimal amount typed in a form ("12.34") into minor units of `currency`.
 * Returns `undefined` when it is not a positive decimal with at most the currency's minor digits.
 */
export function parseDecimalAmount(text: string, currency: string): number | undefined {
  const digits = isCurrency(currency) ? minorDigits(currency) : 2;
  const m = /^\s*(\d{1,13})(?:[.,](\d+))?\s*$/.exec(text);
  if (!m) return undefined;
  const frac = m[2] ?? '';
  if (frac.length > digits) return undefined;
  const cents = Number(m[1]) * 10 ** digits + Number(frac.padEnd(digits, '0') || '0');
  return Number.isSafeInteger(cents) ? cents : undefined;
}

/** Renders minor units as a plain decimal for form inputs (`12345` USD -> `123.45`). */
export function centsToDecimal(cents: number, currency: string): string {
  const digits = minorDigits(currency);
  if (digits === 0) return String(cents);
  const s = String(cents).padStart(digits + 1, '0');
  return `${s.slice(0, -digits)}.${s.slice(-digits)}`;
}
