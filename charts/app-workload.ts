import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { APP_GID, APP_SECRET_ENV, APP_SECRET_FILE_ENV, type AppSecretEnv, APP_UID, APP_WORKDIR } from '@expense-tracker/model/app-contract';
import { WEB } from '@expense-tracker/model/components';
import { appVersion } from '@expense-tracker/model/environment';
import { base } from '@expense-tracker/model/environments/base';
import { Workload, type WorkloadContainerProps, type WorkloadImage, type WorkloadProps } from './workload.js';

/** Props every workload running the app's image takes (`Web`, `ImportWorker`). */
export interface AppWorkloadProps extends Omit<WorkloadProps, 'kind' | 'image' | 'podIdentity'> {
  /**
   * The app image.
   * @default the base environment's repository (`localhost:5000/expense-tracker`) at the app's version
   */
  readonly image?: WorkloadImage;
  /**
   * ConfigMap whose keys become every app container's environment (`envFrom`).
   * @default - the ConfigMap named `expense-config`
   */
  readonly configMap?: kplus.IConfigMap;
}

/** A container running the app (`AppWorkload.appContainer`). */
export interface AppContainerProps extends WorkloadContainerProps {
  /**
   * The app's Secret variables the container reads, as files (`<VARIABLE>_FILE`).
   * @default every Secret variable of the app (model/app-contract.ts `APP_SECRET_ENV`)
   */
  readonly secrets?: readonly AppSecretEnv[];
}

/**
 * Base of the workloads that run the app's image (a Deployment each): what the app contract
 * (model/app-contract.ts) decides for all of them, in one place.
 *
 * - the app image (default: the base environment's repository at the app's version);
 * - the app's numeric identity `APP_UID`/`APP_GID`, with `fsGroup` the GID, so the Secret files
 *   and shared volumes (the import staging claim) belong to the app's group;
 * - containers (`appContainer`) in `APP_WORKDIR`, with the ConfigMap as their environment, a
 *   64 MiB disk-backed `/tmp` (the root filesystem is read-only), and the app's Secrets as
 *   `<VARIABLE>_FILE` files mounted by the Workload base (`secretFileEnv`);
 * - HTTP probes of the app's endpoints (`appProbe`).
 */
export abstract class AppWorkload extends Workload {
  private readonly configMap: kplus.IConfigMap;
  private readonly tmp: kplus.Volume;

  protected constructor(scope: Construct, id: string, props: AppWorkloadProps) {
    const { configMap, image, ...workload } = props;
    super(scope, id, {
      ...workload,
      kind: 'Deployment',
      image: image ?? { ...base.image, tag: appVersion() },
      podIdentity: { uid: APP_UID, gid: APP_GID },
    });
    this.configMap = configMap ?? kplus.ConfigMap.fromConfigMapName(this, 'Config', WEB.configMapName);
    this.tmp = this.scratchVolume('tmp', Size.mebibytes(64));
  }

  /**
   * Props of a container running the app: `props` plus the working directory, the ConfigMap as
   * environment, `/tmp`, and its Secret variables as files (their mounts after `/tmp`, before
   * `props.volumeMounts`).
   */
  protected appContainer(props: AppContainerProps): WorkloadContainerProps {
    const { secrets, ...container } = props;
    const files = this.secretFileEnv(
      Object.fromEntries((secrets ?? (Object.keys(APP_SECRET_ENV) as AppSecretEnv[])).map((v) => [APP_SECRET_FILE_ENV[v], APP_SECRET_ENV[v]])),
    );
    return {
      workingDir: APP_WORKDIR,
      envFrom: [kplus.Env.fromConfigMap(this.configMap)],
      ...container,
      envVariables: { ...files.envVariables, ...container.envVariables },
      volumeMounts: [{ path: '/tmp', volume: this.tmp }, ...files.volumeMounts, ...(container.volumeMounts ?? [])],
    };
  }

  /** An HTTP GET probe of the app's `path` on `port`, answered within 2 seconds. */
  protected appProbe(port: number, path: string, periodSeconds: number, failureThreshold: number): kplus.Probe {
    return kplus.Probe.fromHttpGet(path, { port, periodSeconds: Duration.seconds(periodSeconds), failureThreshold, timeoutSeconds: Duration.seconds(2) });
  }
}
