/**
 * Name and quantity grammars and pinned third-party images, shared by the environment schema
 * and the constructs' own prop checks so both accept exactly the same values.
 */

/** RFC 1123 DNS label (Namespace and Service names): https://kubernetes.io/docs/concepts/overview/working-with-objects/names/ */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** RFC 1123 subdomain, as used for Ingress hosts and most object names (no wildcard, no port). */
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Storage size in bytes with a binary suffix, e.g. `1Gi`, `20Gi`. */
export const STORAGE_QUANTITY = /^[1-9][0-9]*(Mi|Gi|Ti)$/;

/**
 * Pinned official images (Debian variants) the charts run. `testkit/src/docker-engine/images.ts`
 * builds stand-ins under exactly these tags where no registry is reachable.
 */
export const IMAGES = {
  postgres: 'postgres:15.10-bookworm',
  redis: 'redis:7.0.15-bookworm',
  haproxy: 'haproxy:2.6.18-bookworm',
} as const;
