/**
 * The app's side of `charts/app-contract.ts` (the deploy-side contract). The image ships only
 * `app/`, so the values the server needs live here too; `app/test/contract.test.ts` fails when
 * the two differ.
 */
export const DEFAULT_PORT = 8080;
export const HEALTH_PATH = '/healthz';
export const READY_PATH = '/readyz';
export const METRICS_PATH = '/metrics';
