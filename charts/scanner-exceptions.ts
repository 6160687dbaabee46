/**
 * Deliberately accepted policy-scanner findings, written on the object they concern so that any
 * run of the scanners over `dist/` (ours or a user's own pipeline) sees them, each with a reason:
 *
 * - checkov: `checkov.io/skip<N>: <CHECK_ID>=<reason>`
 *   (https://www.checkov.io/2.Basics/Suppressing%20and%20Skipping%20Policies.html, "Kubernetes");
 *   checkov splits the value at `=`, so the reason cannot contain one.
 * - kube-score: `kube-score/ignore: <test>,<test>` (https://github.com/zegl/kube-score#ignoring-a-test)
 *   takes no reason, so each ignored test also carries `expense-tracker/kube-score-reason.<test>`.
 *
 * `scannerExceptionAnnotations` writes them; `scannerExceptionProblems` (used by the manifest
 * validator) rejects a skip without a reason, a malformed one, or a reason for nothing.
 */

export const CHECKOV_SKIP_PREFIX = 'checkov.io/skip';
export const KUBE_SCORE_IGNORE = 'kube-score/ignore';
export const KUBE_SCORE_REASON_PREFIX = 'expense-tracker/kube-score-reason.';

/** checkov Kubernetes check IDs (`CKV_K8S_43`, graph checks `CKV2_K8S_6`). */
const CHECKOV_ID = /^CKV2?_K8S_[0-9]+$/;
/** kube-score test IDs (`deployment-replicas`). */
const KUBE_SCORE_TEST = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/** Accepted findings of one object, by check ID / test ID → reason (a sentence, no `=`). */
export interface ScannerExceptions {
  /** checkov check ID → reason. @default {} */
  readonly checkov?: Readonly<Record<string, string>>;
  /** kube-score test ID → reason. @default {} */
  readonly kubeScore?: Readonly<Record<string, string>>;
}

/**
 * The annotations that record `exceptions`, in a stable order.
 * @throws Error naming the check when an ID is malformed or a reason is empty or contains `=`.
 */
export function scannerExceptionAnnotations(exceptions: ScannerExceptions): Record<string, string> {
  const annotations: Record<string, string> = {};
  Object.entries(exceptions.checkov ?? {})
    .sort(([a], [b]) => a.localeCompare(b, 'en'))
    .forEach(([id, reason], i) => {
      if (!CHECKOV_ID.test(id)) throw new Error(`checkov skip: "${id}" is not a checkov Kubernetes check ID (CKV_K8S_<n>)`);
      annotations[`${CHECKOV_SKIP_PREFIX}${i + 1}`] = `${id}=${checkedReason(id, reason)}`;
    });
  const tests = Object.keys(exceptions.kubeScore ?? {}).sort((a, b) => a.localeCompare(b, 'en'));
  if (tests.length > 0) annotations[KUBE_SCORE_IGNORE] = tests.join(',');
  for (const test of tests) {
    if (!KUBE_SCORE_TEST.test(test)) throw new Error(`kube-score ignore: "${test}" is not a kube-score test ID`);
    annotations[`${KUBE_SCORE_REASON_PREFIX}${test}`] = checkedReason(test, exceptions.kubeScore![test]);
  }
  return annotations;
}

function checkedReason(id: string, reason: string): string {
  const text = reason.trim();
  if (text === '') throw new Error(`scanner exception ${id}: a reason is required`);
  if (text.includes('=')) throw new Error(`scanner exception ${id}: the reason must not contain "=" (checkov splits at it)`);
  return text;
}

/** One problem with an object's scanner-exception annotations. */
export interface ScannerExceptionProblem {
  /** Annotation key. */
  readonly key: string;
  readonly message: string;
}

/** Problems with the scanner-exception annotations of one object (empty when they are sound). */
export function scannerExceptionProblems(annotations: Readonly<Record<string, string>> | undefined): ScannerExceptionProblem[] {
  const problems: ScannerExceptionProblem[] = [];
  const all = annotations ?? {};
  for (const [key, value] of Object.entries(all)) {
    if (!/^(checkov\.io|bridgecrew\.io|cortex\.io)\/skip/.test(key)) continue;
    const parts = value.split('=');
    if (parts.length !== 2 || !CHECKOV_ID.test(parts[0].trim()) || parts[1].trim() === '') {
      problems.push({ key, message: `must be "<CHECK_ID>=<reason>" with a written reason and exactly one "=", got "${value}"` });
    }
  }
  const ignored = (all[KUBE_SCORE_IGNORE] ?? '').split(',').map((t) => t.trim()).filter(Boolean);
  for (const test of ignored) {
    if (!(all[`${KUBE_SCORE_REASON_PREFIX}${test}`] ?? '').trim()) {
      problems.push({ key: KUBE_SCORE_IGNORE, message: `ignores "${test}" without a reason (${KUBE_SCORE_REASON_PREFIX}${test})` });
    }
  }
  for (const key of Object.keys(all).filter((k) => k.startsWith(KUBE_SCORE_REASON_PREFIX))) {
    if (!ignored.includes(key.slice(KUBE_SCORE_REASON_PREFIX.length))) {
      problems.push({ key, message: `gives a reason for a kube-score test that ${KUBE_SCORE_IGNORE} does not list` });
    }
  }
  return problems;
}
