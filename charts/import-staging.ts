import { k8s } from 'cdk8s-plus-27';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { IMPORT_WORKER } from '@expense-tracker/model/components';
import { formatIssues, importsSchema } from '@expense-tracker/model/environment-schema';
import { base } from '@expense-tracker/model/environments/base';

/** Props for `ImportStaging`. */
export interface ImportStagingProps {
  /**
   * Size of the claim, bytes with a binary suffix (`20Gi`): the largest upload plus the reserve
   * the app keeps free, and room for imports waiting in the queue.
   * @default '20Gi' (model/environments/base.ts)
   */
  readonly storage?: string;
  /**
   * StorageClass of the claim.
   * @default 'standard' (minikube's hostpath provisioner)
   */
  readonly storageClassName?: string;
  /**
   * `ReadWriteMany` when web and worker pods may run on different nodes (a file/NFS class);
   * `ReadWriteOnce` only where every pod runs on one node
   * (https://kubernetes.io/docs/concepts/storage/persistent-volumes/#access-modes).
   * @default 'ReadWriteOnce' (model/environments/base.ts)
   */
  readonly accessMode?: 'ReadWriteOnce' | 'ReadWriteMany';
  /**
   * Labels on the claim.
   * @default {}
   */
  readonly labels?: Record<string, string>;
}

/**
 * The import staging area: PersistentVolumeClaim `expense-import-staging`, which web pods write
 * uploads to and import workers read, so an upload survives the restart of any pod
 * (docs/app.md, "How it runs"). Mount it with `volume(scope)`.
 * @throws Error naming the prop (`ImportStaging: storage: must be a storage quantity …`)
 */
export class ImportStaging extends Construct {
  /** `metadata.name` of the claim. */
  static readonly NAME = IMPORT_WORKER.stagingClaimName;
  readonly claim: k8s.KubePersistentVolumeClaim;

  constructor(scope: Construct, id: string, props: ImportStagingProps = {}) {
    super(scope, id);
    const settings = {
      storage: props.storage ?? base.imports.staging.storage,
      storageClassName: props.storageClassName ?? base.imports.staging.storageClassName,
      accessMode: props.accessMode ?? base.imports.staging.accessMode,
      reserve: base.imports.staging.reserve,
    };
    const checked = importsSchema.shape.staging.safeParse(settings);
    if (!checked.success) throw new Error(`ImportStaging: ${formatIssues(checked.error).join('; ')}`);
    // L1 claim: the storage quantity is written exactly as configured (e.g. "20Gi").
    this.claim = new k8s.KubePersistentVolumeClaim(this, 'Resource', {
      metadata: { name: ImportStaging.NAME, labels: props.labels },
      spec: {
        accessModes: [settings.accessMode],
        storageClassName: settings.storageClassName,
        volumeMode: 'Filesystem',
        resources: { requests: { storage: k8s.Quantity.fromString(settings.storage) } },
      },
    });
  }

  /** The claim as a pod volume named `import-staging`, defined in `scope` (a workload). */
  volume(scope: Construct): kplus.Volume {
    const claim = kplus.PersistentVolumeClaim.fromClaimName(scope, 'ImportStagingClaim', ImportStaging.NAME);
    return kplus.Volume.fromPersistentVolumeClaim(scope, 'ImportStagingVolume', claim, { name: IMPORT_WORKER.stagingVolumeName });
  }
}
