/**
 * `npm run scanners -- setup`: installs (or reuses) checkov and kube-score, printing what it did
 * and how long it took (the `.ci/setup.d` step runs this).
 * `npm run scanners -- scan <dir>...`: runs both scanners on directories of manifests (as
 * `npm run validate` does after its own checks) and prints one line per finding; exits 1 on any finding.
 */
import { resolve } from 'node:path';
import { type CommandIO, consoleIO } from '../lib/command-io.js';
import { formatScanFindings, scanDirectory } from './scan.js';
import { CHECKOV_VERSION, ensureScanners, KUBE_SCORE_VERSION } from './tools.js';

const USAGE = 'usage: npm run scanners -- setup | scan <dir>...';

/** @returns 0 on success, 1 on findings or a failed install, 2 on bad arguments. */
export async function scannersCommand(argv: readonly string[], io: CommandIO = consoleIO): Promise<number> {
  const [action, ...rest] = argv;
  if (action === 'setup' && rest.length === 0) {
    const began = Date.now();
    const { checkov, kubeScore } = await ensureScanners();
    const how = (s: number) => (s === 0 ? 'cached' : `installed in ${s.toFixed(1)} s`);
    io.log(`scanners: checkov ${CHECKOV_VERSION} ${how(checkov.seconds)} (${checkov.path})`);
    io.log(`scanners: kube-score ${KUBE_SCORE_VERSION} ${how(kubeScore.seconds)} (${kubeScore.path})`);
    io.log(`scanners: ready in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    return 0;
  }
  if (action === 'scan' && rest.length > 0) {
    let total = 0;
    for (const dir of rest.map((d) => resolve(d))) {
      const findings = await scanDirectory(dir);
      total += findings.length;
      if (findings.length > 0) io.error(formatScanFindings(findings).replace(/^/gm, `${dir}: `));
      else io.log(`scanners: ${dir}: no findings (checkov, kube-score)`);
    }
    return total > 0 ? 1 : 0;
  }
  io.error(USAGE);
  return 2;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await scannersCommand(process.argv.slice(2));
