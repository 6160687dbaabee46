import { describe, expect, it } from 'vitest';
import { alternation, duration, durationSeconds, num, quote, selector } from './promql.js';

describe('promql helpers', () => {
  it('renders selectors with quoted values and every matcher kind', () => {
    expect(selector('up', { job: 'a"b', instance: { ne: 'x' }, route: { re: '/a|/b' }, code: { nre: '5..' }, skip: undefined })).toBe(
      'up{job="a\\"b",instance!="x",route=~"/a|/b",code!~"5.."}',
    );
    expect(quote('a\\b')).toBe('"a\\\\b"');
  });

  it('escapes regular-expression metacharacters in alternations', () => {
    expect(alternation(['/api/expenses/:id', '/static/app.css', '/a+b'])).toBe('/api/expenses/:id|/static/app\\.css|/a\\+b');
  });

  it('writes and reads Prometheus durations', () => {
    expect([0, 15, 60, 300, 3600, 5400, 86_400, 259_200, 2_592_000].map(duration)).toEqual(['0s', '15s', '1m', '5m', '1h', '1h30m', '1d', '3d', '30d']);
    expect(durationSeconds('1h30m')).toBe(5400);
    expect(() => duration(1.5)).toThrow(/whole non-negative seconds/);
    expect(() => durationSeconds('1x')).toThrow(/not a duration/);
  });

  it('prints numbers without floating-point noise', () => {
    expect(num(1 - 0.995)).toBe('0.005');
    expect(num(0.1 + 0.2)).toBe('0.3');
  });
});
