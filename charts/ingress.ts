import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { WEB } from '@expense-tracker/model/components';
import { base } from '@expense-tracker/model/environments/base';
import { DNS_SUBDOMAIN } from '@expense-tracker/model/naming';

/** Props for `WebIngress`. */
export interface WebIngressProps {
  /** Service the Ingress routes `/` to (its first port). */
  readonly service: kplus.Service;
  /**
   * Host name requests must carry (RFC 1123 subdomain).
   * @default 'expense.local' (model/environments/base.ts)
   */
  readonly host?: string;
  /**
   * `spec.ingressClassName`: `nginx` on minikube, `public-iks-k8s-nginx` or
   * `public-iks-traefik` on IBM Cloud Kubernetes Service.
   * @default 'nginx' (model/environments/base.ts)
   */
  readonly className?: string;
  /**
   * Name of a `kubernetes.io/tls` Secret for the host; no TLS section when undefined or empty.
   * @default - plain HTTP
   */
  readonly tlsSecretName?: string;
  /**
   * `metadata.name`.
   * @default 'expense-web' (`WEB.name`, model/components.ts)
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
    const host = props.host ?? base.ingress.host;
    if (!DNS_SUBDOMAIN.test(host)) {
      throw new Error(`WebIngress host must be a DNS name, got "${host}"`);
    }
    const tls = props.tlsSecretName
      ? [{ hosts: [host], secret: kplus.Secret.fromSecretName(this, 'Tls', props.tlsSecretName) }]
      : undefined;
    this.ingress = new kplus.Ingress(this, 'Resource', {
      metadata: { name: props.name ?? WEB.name, labels: props.labels },
      className: props.className ?? base.ingress.className,
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
