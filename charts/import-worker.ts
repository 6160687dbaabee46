import { Construct } from 'constructs';
import {
  APP_IMPORT_WORKER_COMMAND,
  HEALTH_PATH,
  IMPORT_STAGING_PATH,
  IMPORT_WORKER_PORT,
  IMPORT_WORKER_PORT_NAME,
  READY_PATH,
} from '@expense-tracker/model/app-contract';
import { IMPORT_WORKER } from '@expense-tracker/model/components';
import { formatIssues, importsSchema, type ResourceSettings } from '@expense-tracker/model/environment-schema';
import { base } from '@expense-tracker/model/environments/base';
import type { ImportStaging } from './import-staging.js';
import { AppWorkload, type AppWorkloadProps } from './app-workload.js';

/** Props for `ImportWorker`. */
export interface ImportWorkerProps extends Pick<AppWorkloadProps, 'configMap'> {
  /** The staging area the web pods write uploads to; mounted at `IMPORT_STAGING_PATH`. */
  readonly staging: ImportStaging;
  /**
   * The app image (the worker is `node dist/imports/worker.js` of the same image).
   * @default the base environment's repository (`localhost:5000/expense-tracker`) at the app's version
   */
  readonly image?: AppWorkloadProps['image'];
  /**
   * Worker pods (1–20); each runs one import at a time.
   * @default 1 (model/environments/base.ts)
   */
  readonly replicas?: number;
  /**
   * Container requests and limits. Memory stays flat whatever the file size (one chunk of rows).
   * @default 100m/128Mi requested, 1/512Mi limit (model/environments/base.ts)
   */
  readonly resources?: ResourceSettings;
  /**
   * Seconds between SIGTERM and SIGKILL (10–600): on SIGTERM a worker pauses its import at the
   * next checkpoint and puts it back in the queue; a SIGKILL only costs the chunk in progress.
   * @default 60 (model/environments/base.ts)
   */
  readonly terminationGracePeriodSeconds?: number;
  /**
   * `app.kubernetes.io/instance` label value.
   * @default 'expense-tracker'
   */
  readonly instance?: string;
}

/**
 * The CSV import worker: Deployment `expense-import-worker` running `node dist/imports/worker.js`
 * with the web pods' configuration, Secrets (as files) and the staging volume. Workers claim queued
 * imports from PostgreSQL (`FOR UPDATE SKIP LOCKED`, woken by `LISTEN imports_queued`), so any
 * number of replicas share the queue without coordination; `/healthz`, `/readyz` and `/metrics`
 * are on the named port `metrics` (8081). No Service: nothing connects to a worker except the
 * kubelet's probes and a scraper (`allowFrom`). Why a Deployment rather than a Job per import:
 * docs/app.md, "How it runs".
 * @throws Error naming the prop (`ImportWorker: replicas: must be at most 20`)
 */
export class ImportWorker extends AppWorkload {
  /** `metadata.name` of the Deployment. */
  static readonly NAME = IMPORT_WORKER.name;

  constructor(scope: Construct, id: string, props: ImportWorkerProps) {
    const settings = {
      replicas: props.replicas ?? base.imports.worker.replicas,
      resources: props.resources ?? base.imports.worker.resources,
      terminationGracePeriodSeconds: props.terminationGracePeriodSeconds ?? base.imports.worker.terminationGracePeriodSeconds,
    };
    const checked = importsSchema.shape.worker.safeParse(settings);
    if (!checked.success) throw new Error(`ImportWorker: ${formatIssues(checked.error).join('; ')}`);
    super(scope, id, {
      name: IMPORT_WORKER.name,
      identity: IMPORT_WORKER.identity,
      peerName: 'import-worker',
      instance: props.instance,
      image: props.image,
      // It must set the IMPORT_* keys.
      configMap: props.configMap,
      resources: settings.resources,
      replicas: settings.replicas,
      terminationGracePeriodSeconds: settings.terminationGracePeriodSeconds,
    });
    const probe = (path: string, period: number, failures: number) => this.appProbe(IMPORT_WORKER_PORT, path, period, failures);
    this.addContainer(this.appContainer({
      name: 'import-worker',
      command: [...APP_IMPORT_WORKER_COMMAND],
      ports: [{ number: IMPORT_WORKER_PORT, name: IMPORT_WORKER_PORT_NAME }],
      // fsGroup (the app's GID) makes the staging volume's root writable by the app's group.
      volumeMounts: [{ path: IMPORT_STAGING_PATH, volume: props.staging.volume(this) }],
      startup: probe(HEALTH_PATH, 2, 30),
      readiness: probe(READY_PATH, 5, 2),
      // A worker busy with a large chunk still answers /healthz: the HTTP server has its own turn of the event loop.
      liveness: probe(HEALTH_PATH, 10, 6),
    }));
    if (settings.replicas === 1) {
      this.acceptScannerFindings({
        kubeScore: {
          'deployment-replicas':
            'one worker can be enough: imports wait in a PostgreSQL queue (FOR UPDATE SKIP LOCKED) and one that is interrupted resumes at its last checkpoint on the next worker; imports.worker.replicas runs imports in parallel',
        },
      });
    }
  }
}
