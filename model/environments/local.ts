/**
 * `local`: minikube + the local registry on 127.0.0.1:5000 (the base's defaults), plus the
 * docker-compose topology of the same services for running without a cluster.
 */
import type { EnvironmentOverrides } from '../environment-schema.js';

export const local: EnvironmentOverrides = {
  // Verbose logs while developing.
  app: { logLevel: 'debug', mailFrom: 'budget@expense.local' },
  // dist/local/compose/: the same topology for docker-compose.
  compose: { enabled: true },
};
