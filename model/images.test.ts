import { describe, expect, it } from 'vitest';
import { formatImageReference, ImageReferenceError, parseImageReference, PINNED_IMAGES, unpinnedReason } from './images.js';

describe('image references', () => {
  it.each([
    ['postgres:15.10-bookworm', { repository: 'postgres', tag: '15.10-bookworm' }],
    ['localhost:5000/expense-tracker:1.0.0', { repository: 'localhost:5000/expense-tracker', tag: '1.0.0' }],
    ['localhost:5000/expense-tracker', { repository: 'localhost:5000/expense-tracker' }],
    [`us.icr.io/ns/app:1@sha256:${'a'.repeat(64)}`, { repository: 'us.icr.io/ns/app', tag: '1', digest: `sha256:${'a'.repeat(64)}` }],
    [`registry@sha256:${'b'.repeat(64)}`, { repository: 'registry', digest: `sha256:${'b'.repeat(64)}` }],
  ])('parses %s and formats it back', (text, ref) => {
    expect(parseImageReference(text)).toEqual(ref);
    expect(formatImageReference(parseImageReference(text))).toBe(text);
  });

  it.each([
    ['Postgres:15', /malformed repository/],
    ['postgres:-bad', /malformed tag/],
    ['postgres:15@sha256:short', /malformed digest/],
    ['', /malformed repository/],
  ])('rejects %s saying which part is wrong', (text, reason) => {
    expect(() => parseImageReference(text)).toThrow(ImageReferenceError);
    expect(() => parseImageReference(text)).toThrow(reason);
  });

  it('knows a pinned reference: a digest, or a tag other than latest', () => {
    expect(unpinnedReason(parseImageReference('app:1.0'))).toBeUndefined();
    expect(unpinnedReason(parseImageReference(`app@sha256:${'c'.repeat(64)}`))).toBeUndefined();
    expect(unpinnedReason(parseImageReference('app'))).toBe('is untagged');
    expect(unpinnedReason(parseImageReference('app:latest'))).toBe('uses the latest tag');
    for (const ref of Object.values(PINNED_IMAGES)) expect(unpinnedReason(ref), ref.repository).toBeUndefined();
  });

  it('treats an empty digest as none (the environment schema writes "" for "not pinned by digest")', () => {
    expect(formatImageReference({ repository: 'app', tag: '1', digest: '' })).toBe('app:1');
  });
});
