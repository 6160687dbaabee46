/**
 * Everything `npm run synth` writes for one environment, as file name → content, read from the
 * environment's one `Synthesis`: a YAML file per Kubernetes object, the HAProxy cfg the ConfigMap
 * carries, the compose topology and the Grafana dashboards. Nothing here renders a second time.
 */
import type { EnvironmentConfig } from '@expense-tracker/model/environment';
import { composeFiles } from '../../charts/docker-compose.js';
import { toYaml } from '../../charts/manifest-yaml.js';
import { manifestFileName, synthesize, type Synthesis } from '../../charts/synthesize.js';
import { formatFindings, validateManifests } from '../../charts/validate.js';
import { dashboardJson } from '../../monitoring/dashboards/index.js';

/** The synthesis of one environment and the files it writes. */
export interface EnvironmentOutputs extends Synthesis {
  /** Relative file path inside `dist/<env>/` → file content. */
  readonly files: Map<string, string>;
}

/** Raised when synthesized manifests fail validation; nothing has been written. */
export class ManifestValidationError extends Error {
  constructor(readonly environment: string, readonly details: string) {
    super(`manifests of environment "${environment}" failed validation:\n${details}`);
    this.name = 'ManifestValidationError';
  }
}

/** Files of `dist/<env>/` for a synthesis. @throws ManifestValidationError when two objects map to one file */
export function outputFiles(result: Synthesis): Map<string, string> {
  const files = new Map<string, string>();
  for (const obj of result.objects) {
    const name = manifestFileName(obj);
    if (files.has(name)) throw new ManifestValidationError(result.environment.name, `two objects map to file ${name}`);
    files.set(name, toYaml(obj));
  }
  // The cfg the HAProxy ConfigMap carries, as a plain file for review and `haproxy -c`
  // (kubectl apply -f dist/<env> reads only .yaml/.yml/.json files, so it is not applied twice).
  if (result.haproxyConfig !== undefined) files.set('haproxy.cfg', result.haproxyConfig);
  // In a subdirectory: `kubectl apply -f dist/<env>` (not recursive) never reads the compose file.
  if (result.compose) for (const [name, content] of composeFiles(result.environment, result.compose)) files.set(name, content);
  // The dashboards the ConfigMaps carry, for import by hand (in a subdirectory, like compose).
  for (const d of result.dashboards) files.set(`dashboards/${d.name}.json`, dashboardJson(d.dashboard));
  return files;
}

/**
 * Synthesizes, validates and lays out every output of one environment, in memory.
 * @throws ManifestValidationError listing each finding (object, field, message)
 */
export function renderEnvironment(environment: EnvironmentConfig): EnvironmentOutputs {
  const result = synthesize(environment);
  const findings = validateManifests(result.objects);
  if (findings.length > 0) throw new ManifestValidationError(environment.name, formatFindings(findings));
  return { ...result, files: outputFiles(result) };
}
