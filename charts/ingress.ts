import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { DNS_SUBDOMAIN } from '@expense-tracker/model/naming';

/** Props for `WebIngress`. */
export interface WebIngressProps {
  /** Service the Ingress routes `/` to (its first port). */
  readonly service: kplus.Service;
  /**
   * Host name requests must carry (RFC 1123 subdomain).
   * @default 'expense.local'
   */
  readonly host?: string;
  /**
   * `spec.ingressClassName`: `nginx` on minikube, `public-iks-k8s-nginx` or
   * `public-iks-traefik` on IBM Cloud Kubernetes Service.
   * @default 'nginx'
   */
  readonly className?: string;
  /**
   * Name of a `kubernetes.io/tls` Secret for the host; no TLS section when undefined or empty.
   * @default - plain HTTP
   */
  readonly tlsSecretName?: string;
  /**
   * `metadata.name`.
   * @default 'expense-web'
   */
  readonly name?: string;
  /**
   * Labels on the Ingress.
   * @default {}
   */
  readonly labels?: Record<string, string>;
}

/**
 * Ingress `expense-web`: `host` + path `/` (Prefix) → the web Service, optionally with TLS.
 * @throws Error if `host` is not a DNS name.
 */
export class WebIngress extends Construct {
  readonly ingress: kplus.Ingress;

  constructor(scope: Construct, id: string, props: WebIngressProps) {
    super(scope, id);
    const host = props.host ?? 'expense.local';
    if (!DNS_SUBDOMAIN.test(host)) {
      throw new Error(`WebIngress host must be a DNS name, got "${host}"`);
    }
    const tls = props.tlsSecretName
      ? [{ hosts: [host], secret: kplus.Secret.fromSecretName(this, 'Tls', props.tlsSecretName) }]
      : undefined;
    this.ingress = new kplus.Ingress(this, 'Resource', {
      metadata: { name: props.name ?? 'expense-web', labels: props.labels },
      className: props.className ?? 'nginx',
      rules: [
        {
          host,
          path: '/',
          pathType: kplus.HttpIngressPathType.PREFIX,
          backend: kplus.IngressBackend.fromService(props.service),
        },
      ],
      tls,
    });
  }
}
