/**
 * Password hashing (argon2id) and strength checks (zxcvbn-ts, the maintained TypeScript port of
 * Dropbox's zxcvbn, with its common-password, name and English dictionaries). A password is
 * accepted when zxcvbn scores it 3 ("safely unguessable: moderate protection from offline
 * slow-hash scenario") or more, judged together with the user's own email, so `password123`,
 * keyboard walks and the email itself are refused.
 */
import argon2 from 'argon2';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as en from '@zxcvbn-ts/language-en';
import { ValidationError } from './validation.js';

/** OWASP-recommended argon2id cost (19 MiB, 2 passes, 1 lane). */
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Lowest zxcvbn score (0-4) accepted for a new password. */
const MIN_SCORE = 3;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, ARGON2_OPTIONS);
}

/** True when `password` matches `hash`; false for a malformed hash too. */
export function verifyPassword(hash: string, password: string): Promise<boolean> {
  return argon2.verify(hash, password).catch(() => false);
}

let dummyHash: Promise<string> | undefined;
/**
 * Verifies against a fixed dummy hash and returns false: what a login with an unknown email does,
 * so it costs the same time as a wrong password for an existing account.
 */
export async function verifyNothing(password: string): Promise<false> {
  dummyHash ??= hashPassword('not-a-real-password');
  await verifyPassword(await dummyHash, password);
  return false;
}

let factory: ZxcvbnFactory | undefined;
function zxcvbn(): ZxcvbnFactory {
  // Building the dictionaries takes about a second: once per process, on first use.
  factory ??= new ZxcvbnFactory({
    translations: en.translations,
    graphs: common.adjacencyGraphs,
    dictionary: { ...common.dictionary, ...en.dictionary },
  });
  return factory;
}

/**
 * Refuses a weak new password. `userInputs` (the email, its local part) count as known words.
 * @throws ValidationError on `field` with zxcvbn's warning and first suggestion.
 */
export async function assertStrongPassword(password: string, userInputs: string[], field = 'password'): Promise<void> {
  const inputs = userInputs.flatMap((s) => [s, ...s.split(/[@.+_-]/)]).filter((s) => s.length >= 3);
  const result = await zxcvbn().check(password, [...inputs, 'expense', 'tracker', 'budget']);
  if (result.score >= MIN_SCORE) return;
  const reason = [result.feedback.warning, result.feedback.suggestions[0]].filter(Boolean).join(' ');
  throw new ValidationError(field, `is too easy to guess${reason ? ` (${reason})` : ''}; a few unrelated words make a strong one`);
}

/** Loads the dictionaries now (at start), so the first registration does not pay for it. */
export function warmUpPasswordChecks(): void {
  zxcvbn();
}
