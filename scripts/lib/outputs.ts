/**
 * Everything `npm run synth` writes for one environment, as file name → content.
 * Kubernetes manifests come from the cdk8s chart; other renderers (HAProxy, compose) add
 * their files here so every output is derived from the same validated model.
 */
import type { EnvironmentConfig } from '@expense-tracker/model/environment';
import { toYaml } from '../../charts/manifest-yaml.js';
import { manifestFileName, synthesizeEnvironment, type KubeObject } from '../../charts/synthesize.js';
import { formatFindings, validateManifests } from '../../charts/validate.js';
import { renderHaproxyConfig } from '../../charts/haproxy-config.js';
import { renderComposeFiles } from '../docker-compose/render.js';

/** The rendered outputs of one environment. */
export interface EnvironmentOutputs {
  readonly environment: EnvironmentConfig;
  /** Kubernetes objects in apply order. */
  readonly objects: KubeObject[];
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

/**
 * Renders and validates every output of one environment, in memory.
 * @throws ManifestValidationError listing each finding (object, field, message).
 */
export function renderEnvironment(environment: EnvironmentConfig): EnvironmentOutputs {
  const objects = synthesizeEnvironment(environment);
  const findings = validateManifests(objects);
  if (findings.length > 0) throw new ManifestValidationError(environment.name, formatFindings(findings));
  const files = new Map<string, string>();
  for (const obj of objects) {
    const name = manifestFileName(obj);
    if (files.has(name)) throw new ManifestValidationError(environment.name, `two objects map to file ${name}`);
    files.set(name, toYaml(obj));
  }
  // The cfg the HaproxyLoadBalancer's ConfigMap carries, as a plain file for review and `haproxy -c`
  // (kubectl apply -f dist/<env> reads only .yaml/.yml/.json files, so it is not applied twice).
  if (environment.haproxy.enabled) files.set('haproxy.cfg', renderHaproxyConfig(environment, { kind: 'kubernetes' }));
  // The seeds' docker-compose topology, in a subdirectory so that `kubectl apply -f dist/<env>`
  // (not recursive) never reads the compose file as a manifest.
  if (environment.compose.enabled) {
    for (const [name, content] of renderComposeFiles(environment)) files.set(name, content);
  }
  return { environment, objects, files };
}
