import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';

/** Props for `PodDisruptionBudget`. */
export interface PodDisruptionBudgetProps {
  /** `metadata.name`. */
  readonly name: string;
  /** Labels the budget's `spec.selector.matchLabels` selects pods by. */
  readonly selector: Record<string, string>;
  /**
   * Pods a voluntary disruption (a node drain) may take down at once.
   * @default 1
   */
  readonly maxUnavailable?: number;
  /**
   * Labels on the PodDisruptionBudget object.
   * @default {}
   */
  readonly labels?: Record<string, string>;
}

/**
 * A `policy/v1` PodDisruptionBudget (cdk8s-plus-27 has no L2 for it)
 * (https://kubernetes.io/docs/tasks/run-application/configure-pdb/). `Workload` creates one for
 * workloads with more than one replica only: for a single replica any budget either allows the
 * eviction anyway or blocks every drain.
 * @throws Error if `maxUnavailable` is not a positive integer or `selector` is empty
 */
export class PodDisruptionBudget extends Construct {
  readonly name: string;

  constructor(scope: Construct, id: string, props: PodDisruptionBudgetProps) {
    super(scope, id);
    const maxUnavailable = props.maxUnavailable ?? 1;
    if (!Number.isInteger(maxUnavailable) || maxUnavailable < 1) {
      throw new Error(`PodDisruptionBudget maxUnavailable must be a positive integer, got ${maxUnavailable}`);
    }
    if (Object.keys(props.selector).length === 0) throw new Error('PodDisruptionBudget selector must not be empty');
    this.name = props.name;
    new k8s.KubePodDisruptionBudget(this, 'Resource', {
      metadata: { name: props.name, labels: props.labels },
      spec: { maxUnavailable: k8s.IntOrString.fromNumber(maxUnavailable), selector: { matchLabels: props.selector } },
    });
  }
}
