import { describe, expect, it } from 'vitest';
import { duration, HaproxyConfig, HaproxyConfigError } from './config-builder.js';

describe('HaproxyConfig builder', () => {
  it('renders sections with header comments, indented bodies and one blank line between sections', () => {
    const cfg = new HaproxyConfig(['generated']);
    cfg.section('global').line('maxconn', [100], 'connections');
    cfg.section('backend', 'web', ['pages']).line('balance', ['roundrobin']).blank().comment('servers').line('server', ['web1', '127.0.0.1:1', 'check']).blank();
    expect(cfg.render()).toBe(
      [
        '# generated',
        '',
        'global',
        '    # connections',
        '    maxconn 100',
        '',
        '# pages',
        'backend web',
        '    balance roundrobin',
        '',
        '    # servers',
        '    server web1 127.0.0.1:1 check',
        '',
      ].join('\n'),
    );
  });

  it('rejects arguments HAProxy would split or read as a comment', () => {
    const s = new HaproxyConfig().section('frontend', 'fe');
    for (const bad of ['two words', 'a#b', 'quote"', "it's", 'back\\slash', '', 'tab\there']) {
      expect(() => s.line('bind', [bad]), bad).toThrow(HaproxyConfigError);
    }
    expect(() => s.line('bind', [Number.NaN])).toThrow(/finite number/);
  });

  it('rejects malformed keywords, names, multi-line comments and duplicate sections', () => {
    const cfg = new HaproxyConfig();
    expect(() => cfg.section('backend', 'bad name')).toThrow(/may only contain/);
    expect(() => cfg.section('backend')).toThrow(/needs a name/);
    expect(() => cfg.section('global', 'x')).toThrow(/takes no name/);
    cfg.section('global');
    expect(() => cfg.section('global')).toThrow(/only one global/);
    cfg.section('backend', 'web');
    // frontends and backends share one proxy namespace
    expect(() => cfg.section('frontend', 'web')).toThrow(/duplicate section name "web"/);
    expect(() => cfg.section('resolvers', 'web')).not.toThrow();
    const s = cfg.section('frontend', 'fe');
    expect(() => s.line('Bind', [])).toThrow(/malformed keyword/);
    expect(() => s.line('bind;', [])).toThrow(/malformed keyword/);
    expect(() => s.comment('line\nbreak')).toThrow(/single line/);
    expect(() => s.line('bind', [':80'], 'a\nb')).toThrow(/single line/);
  });

  it('formats durations in HAProxy time format', () => {
    expect(duration(5)).toBe('5s');
    expect(duration(0)).toBe('0s');
    expect(duration(1.5)).toBe('1500ms');
    expect(() => duration(-1)).toThrow(HaproxyConfigError);
    expect(() => duration(Number.POSITIVE_INFINITY)).toThrow(HaproxyConfigError);
    expect(() => duration(0.0001)).toThrow(/whole number of milliseconds/);
  });
});
