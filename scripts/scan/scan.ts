/**
 * Runs the policy scanners on synthesized manifests and reports their findings in the same
 * shape as the project's own validator (`Kind/name: field: message`).
 *
 * - checkov (`--framework kubernetes`): every failed check is a finding. A deliberately accepted
 *   one carries `checkov.io/skip<N>: <CHECK_ID>=<reason>` on the object; checkov then reports it
 *   as skipped, and `charts/validate.ts` insists on the reason.
 * - kube-score (`score -o json`, warnings included): every check graded below "OK" is a finding.
 *   Accepted ones are listed in `kube-score/ignore` on the object, each with a reason annotation,
 *   also checked by `charts/validate.ts` (conventions: charts/scanner-exceptions.ts).
 *
 * Checks that are switched off for every object are in `KUBE_SCORE_IGNORED_TESTS`, each with
 * the reason; checkov has none.
 */
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { ensureCheckov, ensureKubeScore, type Progress, stderrProgress } from './tools.js';

/** One scanner finding: `object` is `Kind/name`, `field` the location the scanner names. */
export interface ScanFinding {
  readonly scanner: 'checkov' | 'kube-score';
  /** `Kind/name` of the object. */
  readonly object: string;
  /** Dotted field path when the scanner names one, else the container or `(object)`. */
  readonly field: string;
  /** `<CHECK_ID>: <check name>[: detail]`. */
  readonly message: string;
  /** Manifest file, relative to the scanned directory. */
  readonly file: string;
}

/** Kubernetes version kube-score checks API versions against (the test cluster's minor). */
export const KUBE_SCORE_KUBERNETES_VERSION = 'v1.33';

/**
 * kube-score tests switched off for every object, with the reason. Keep this list short: an
 * exception for one object belongs in that object's `kube-score/ignore` annotation.
 */
export const KUBE_SCORE_IGNORED_TESTS: Readonly<Record<string, string>> = {
  'container-image-pull-policy':
    'kube-score wants imagePullPolicy Always even for digest-pinned images; a digest is immutable, so IfNotPresent is ' +
    'the correct policy for it (https://kubernetes.io/docs/concepts/containers/images/#image-pull-policy); checkov ' +
    'CKV_K8S_15 covers the tag-only case and accepts a digest',
};

/** YAML manifests directly inside `dir`, sorted. */
async function manifestFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(dir, f));
}

interface CheckovCheck {
  check_id: string;
  check_name: string;
  resource: string;
  file_path: string;
  check_result?: { evaluated_keys?: string[] };
}

/** `Deployment.expense-tracker.expense-web` → `Deployment/expense-web`. */
function checkovObject(resource: string): string {
  const [kind, ...rest] = resource.split('.');
  // Namespaced resources are `Kind.namespace.name`; cluster-scoped ones `Kind.name`. Names may contain dots.
  return `${kind}/${rest.length > 1 ? rest.slice(1).join('.') : rest.join('.')}`;
}

/**
 * Runs checkov on one directory of manifests.
 * @returns the failed checks (skipped and passed ones are not findings).
 * @throws Error when checkov cannot run or prints no JSON report.
 */
export async function runCheckov(dir: string, progress: Progress = stderrProgress): Promise<ScanFinding[]> {
  const { path } = await ensureCheckov(progress);
  const files = await manifestFiles(dir);
  if (files.length === 0) return [];
  const args = ['--framework', 'kubernetes', '--output', 'json', '--quiet', '--compact', '--skip-download'];
  for (const f of files) args.push('--file', f);
  // Exit code 1 means "failed checks"; anything else without a report is a tool failure.
  const r = await execa(path, args, { reject: false, cwd: dir, env: { ...process.env, LOG_LEVEL: 'ERROR' } });
  let report: unknown;
  try {
    report = JSON.parse(String(r.stdout));
  } catch {
    throw new Error(`checkov on ${dir} exited ${r.exitCode} without a JSON report:\n${String(r.stderr).slice(-2000)}`);
  }
  const reports = Array.isArray(report) ? report : [report];
  const findings: ScanFinding[] = [];
  for (const rep of reports as Array<{ results?: { failed_checks?: CheckovCheck[] }; passed?: number }>) {
    for (const c of rep.results?.failed_checks ?? []) {
      const key = c.check_result?.evaluated_keys?.[0];
      findings.push({
        scanner: 'checkov',
        object: checkovObject(c.resource),
        field: key ? key.replace(/\/\[?(\d+)\]?(?=\/|$)/g, '[$1]').replace(/\//g, '.') : '(object)',
        message: `${c.check_id}: ${c.check_name}`,
        file: relative(dir, join(dir, c.file_path)).replace(/^(\.\.\/)+/, ''),
      });
    }
  }
  return findings.sort(compareFindings);
}

interface KubeScoreCheck {
  check: { id: string; name: string };
  grade: number;
  skipped: boolean;
  comments: Array<{ path: string; summary: string; description?: string }> | null;
}
interface KubeScoreObject {
  object_meta: { name: string };
  type_meta: { kind: string };
  file_name: string;
  checks: KubeScoreCheck[];
}

/** kube-score grades (scorecard.Grade): 10 all OK, 7 almost OK, 5 warning, 1 critical. */
const KUBE_SCORE_ALL_OK = 10;

/**
 * Runs kube-score on one directory of manifests, warnings included.
 * @returns every check graded below OK that is not skipped or ignored.
 * @throws Error when kube-score cannot run or prints no JSON report.
 */
export async function runKubeScore(dir: string, progress: Progress = stderrProgress): Promise<ScanFinding[]> {
  const { path } = await ensureKubeScore(progress);
  const files = await manifestFiles(dir);
  if (files.length === 0) return [];
  const args = ['score', '--output-format', 'json', '--kubernetes-version', KUBE_SCORE_KUBERNETES_VERSION];
  for (const test of Object.keys(KUBE_SCORE_IGNORED_TESTS)) args.push('--ignore-test', test);
  const r = await execa(path, [...args, ...files], { reject: false, cwd: dir });
  let objects: KubeScoreObject[];
  try {
    objects = JSON.parse(String(r.stdout)) as KubeScoreObject[];
  } catch {
    throw new Error(`kube-score on ${dir} exited ${r.exitCode} without a JSON report:\n${String(r.stderr).slice(-2000)}`);
  }
  const findings: ScanFinding[] = [];
  for (const o of objects) {
    for (const c of o.checks ?? []) {
      if (c.skipped || c.grade >= KUBE_SCORE_ALL_OK) continue;
      const comments = c.comments?.length ? c.comments : [{ path: '', summary: c.check.name }];
      for (const comment of comments) {
        findings.push({
          scanner: 'kube-score',
          object: `${o.type_meta.kind}/${o.object_meta.name}`,
          field: comment.path ? `container ${comment.path}` : '(object)',
          message: `${c.check.id}: ${comment.summary}`,
          file: relative(dir, o.file_name),
        });
      }
    }
  }
  return findings.sort(compareFindings);
}

/** Runs both scanners on one directory. */
export async function scanDirectory(dir: string, progress: Progress = stderrProgress): Promise<ScanFinding[]> {
  return [...(await runCheckov(dir, progress)), ...(await runKubeScore(dir, progress))];
}

function compareFindings(a: ScanFinding, b: ScanFinding): number {
  return a.object.localeCompare(b.object, 'en') || a.message.localeCompare(b.message, 'en') || a.field.localeCompare(b.field, 'en');
}

/** One line per finding: `Kind/name: field: <scanner> <CHECK>: message`. */
export function formatScanFindings(findings: readonly ScanFinding[]): string {
  return findings.map((f) => `${f.object}: ${f.field}: ${f.scanner} ${f.message}`).join('\n');
}
