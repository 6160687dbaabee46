import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';

/** Props for `PodDisruptionBudget`. */
export interface PodDisruptionBudgetProps {
  /** `metadata.name`. */
  readonly name: string;
  /** Labels the budget's `spec.selector.matchLabels` selects pods by. */
  readonly selector: Record<string, string>;
  /**
   * Replicas of the workload it protects. With more than one replica the budget is
   * `maxUnavailable: 1` (drains proceed one pod at a time); with one it is `minAvailable: 1`.
   */
  readonly replicas: number;
  /**
   * Labels on the PodDisruptionBudget object.
   * @default {}
   */
  readonly labels?: Record<string, string>;
}

/**
 * A `policy/v1` PodDisruptionBudget (cdk8s-plus-27 has no L2 for it)
 * (https://kubernetes.io/docs/tasks/run-application/configure-pdb/).
 * @throws Error if `replicas` is not a positive integer or `selector` is empty.
 */
export class PodDisruptionBudget extends Construct {
  readonly name: string;

  constructor(scope: Construct, id: string, props: PodDisruptionBudgetProps) {
    super(scope, id);
    if (!Number.isInteger(props.replicas) || props.replicas < 1) {
      throw new Error(`PodDisruptionBudget replicas must be a positive integer, got ${props.replicas}`);
    }
    if (Object.keys(props.selector).length === 0) throw new Error('PodDisruptionBudget selector must not be empty');
    this.name = props.name;
    const budget =
      props.replicas > 1
        ? { maxUnavailable: k8s.IntOrString.fromNumber(1) }
        : { minAvailable: k8s.IntOrString.fromNumber(1) };
    new k8s.KubePodDisruptionBudget(this, 'Resource', {
      metadata: { name: props.name, labels: props.labels },
      spec: { ...budget, selector: { matchLabels: props.selector } },
    });
  }
}
