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
  /**
   * Path prefix routed to the Service (`Prefix` match).
   * @default '/'
   */
  readonly path?: string;
  /**
   * Annotations of the Ingress controller (e.g. `importPathAnnotations`).
   * @default {}
   */
  readonly annotations?: Record<string, string>;
}

/**
 * ingress-nginx annotations of the import path (minikube's addon and the IKS ALB read the same
 * ones: https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/):
 * a body limit of `maxBytes` (`proxy-body-size`, in MiB rounded up, as nginx's `client_max_body_size`),
 * no request buffering (the body streams to the upstream instead of filling the controller's
 * disk first) and `timeoutSeconds` to send the body and to wait for the answer. Other controllers
 * ignore them.
 * @throws Error when `maxBytes` or `timeoutSeconds` is not a positive integer
 */
export function importPathAnnotations(maxBytes: number, timeoutSeconds: number): Record<string, string> {
  if (!Number.isInteger(maxBytes) || maxBytes <= 0) throw new Error(`importPathAnnotations: maxBytes must be a positive integer, got ${maxBytes}`);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds <= 0) throw new Error(`importPathAnnotations: timeoutSeconds must be a positive integer, got ${timeoutSeconds}`);
  const prefix = 'nginx.ingress.kubernetes.io';
  return {
    [`${prefix}/proxy-body-size`]: `${Math.ceil(maxBytes / 2 ** 20)}m`,
    [`${prefix}/proxy-request-buffering`]: 'off',
    [`${prefix}/proxy-send-timeout`]: String(timeoutSeconds),
    [`${prefix}/proxy-read-timeout`]: String(timeoutSeconds),
  };
}

/**
 * Ingress `expense-web`: `host` + path `/` (Prefix) → the web Service, optionally with TLS. Another
 * path with its own controller settings is another Ingress for the same host (`path`, `annotations`).
 * @throws Error if `host` is not a DNS name or `path` does not start with "/".
 */
export class WebIngress extends Construct {
  readonly ingress: kplus.Ingress;

  constructor(scope: Construct, id: string, props: WebIngressProps) {
    super(scope, id);
    const host = props.host ?? base.ingress.host;
    if (!DNS_SUBDOMAIN.test(host)) {
      throw new Error(`WebIngress host must be a DNS name, got "${host}"`);
    }
    const path = props.path ?? '/';
    if (!path.startsWith('/')) throw new Error(`WebIngress path must start with "/", got "${path}"`);
    const tls = props.tlsSecretName
      ? [{ hosts: [host], secret: kplus.Secret.fromSecretName(this, 'Tls', props.tlsSecretName) }]
      : undefined;
    this.ingress = new kplus.Ingress(this, 'Resource', {
      metadata: { name: props.name ?? WEB.name, labels: props.labels, annotations: props.annotations },
      className: props.className ?? base.ingress.className,
      rules: [
        {
          host,
          path,
          pathType: kplus.HttpIngressPathType.PREFIX,
          // The Service's first port (`http`): never another one, such as `metrics`.
          backend: kplus.IngressBackend.fromService(props.service, { port: props.service.port }),
        },
      ],
      tls,
    });
  }
}
