/**
 * Certificates and keys for a loopback test control plane, following the identities kubeadm uses
 * (https://kubernetes.io/docs/setup/best-practices/certificates/): one CA signs the API server's
 * serving certificate and a client certificate per component, whose subject CN/O are the user and
 * groups RBAC sees (`system:kube-controller-manager`, `system:kube-scheduler`, `system:masters`).
 *
 * Keys are ECDSA P-256 (PKCS#8 PEM) from node:crypto; certificates are signed by the `openssl`
 * CLI (OpenSSL >= 3.0 for `req -CA`). Everything is written with mode 0600 under `<dir>/pki`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';

export interface KeyPairFiles {
  cert: string;
  key: string;
}

export interface ClusterPki {
  dir: string;
  /** CA certificate (PEM) trusted by every client and used as the API server's client CA. */
  caCert: string;
  caKey: string;
  /** Serving certificate of kube-apiserver (SANs: 127.0.0.1, localhost, the `kubernetes` Service names and IP). */
  apiserver: KeyPairFiles;
  /** Client certificates, keyed by component. */
  clients: Record<'admin' | 'controllerManager' | 'scheduler' | 'kwok', KeyPairFiles>;
  /** Certificates of the real node, when `createPki` was given one. */
  node?: {
    /** The kubelet's client certificate (`CN=system:node:<name>`, `O=system:nodes`: Node authorizer + NodeRestriction). */
    kubeletClient: KeyPairFiles;
    /** The kubelet's serving certificate (SAN: the node IP and name). */
    kubeletServing: KeyPairFiles;
    /** kube-proxy's client certificate (`CN=system:kube-proxy`, bound to system:node-proxier by default RBAC). */
    kubeProxy: KeyPairFiles;
    /** The API server's client certificate towards kubelets (logs, exec, port-forward). */
    apiserverKubeletClient: KeyPairFiles;
    /** kube-router's client certificate (`CN=kube-router`, bound to ClusterRole kube-router by the add-ons). */
    kubeRouter: KeyPairFiles;
  };
  /** Service-account token signing key pair (private PKCS#8 PEM, public SPKI PEM). */
  serviceAccountKey: string;
  serviceAccountPub: string;
}

/** Client identities: CN = user name, O = groups (x509 client-cert authentication). */
const CLIENTS = {
  admin: { cn: 'kubernetes-admin', groups: ['system:masters'] },
  controllerManager: { cn: 'system:kube-controller-manager', groups: [] },
  scheduler: { cn: 'system:kube-scheduler', groups: [] },
  // kwok plays every kubelet and writes node and pod status; it runs with cluster-admin rights like kwokctl does.
  kwok: { cn: 'kwok-controller', groups: ['system:masters'] },
} as const;

function writeKey(path: string): { publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  writeFileSync(path, privateKey, { mode: 0o600 });
  return { publicPem: publicKey };
}

/** The real node whose certificates `createPki` adds. */
export interface NodeIdentity {
  /** Node name (`system:node:<name>`). */
  name: string;
  /** Node IP (kubelet serving certificate SAN). */
  ip: string;
}

/**
 * Creates the PKI in `<dir>/pki`.
 * @param serviceIp first IP of the Service CIDR (the `kubernetes` Service's ClusterIP), e.g. `10.96.0.1`.
 * @param apiserverIps more addresses the API server serves on (SANs), e.g. the host end of a node's veth pair.
 * @param node the real node, if any: adds its kubelet and kube-proxy certificates.
 * @throws Error from execa when `openssl` is missing or fails (message includes its stderr).
 */
export async function createPki(dir: string, serviceIp: string, apiserverIps: string[] = [], node?: NodeIdentity): Promise<ClusterPki> {
  const pki = join(dir, 'pki');
  mkdirSync(pki, { recursive: true, mode: 0o700 });
  // A minimal config so the system openssl.cnf's default extensions (v3_ca) do not leak into leaf certificates.
  const config = join(pki, 'openssl.cnf');
  writeFileSync(config, '[req]\ndistinguished_name = dn\n[dn]\n');
  const openssl = (args: string[]) => execa('openssl', ['req', '-config', config, '-new', '-x509', ...args]);

  const caKey = join(pki, 'ca.key');
  const caCert = join(pki, 'ca.crt');
  writeKey(caKey);
  await openssl(['-key', caKey, '-subj', '/CN=expense-tracker-test-cluster-ca', '-days', '3650',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature', '-out', caCert]);

  const leaf = async (name: string, subject: string, extendedKeyUsage: string, san?: string): Promise<KeyPairFiles> => {
    const key = join(pki, `${name}.key`);
    const cert = join(pki, `${name}.crt`);
    writeKey(key);
    await openssl(['-key', key, '-CA', caCert, '-CAkey', caKey, '-subj', subject, '-days', '365',
      '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature',
      '-addext', `extendedKeyUsage=${extendedKeyUsage}`, ...(san ? ['-addext', `subjectAltName=${san}`] : []), '-out', cert]);
    return { cert, key };
  };

  const apiserverSans = ['IP:127.0.0.1', `IP:${serviceIp}`, ...apiserverIps.map((a) => `IP:${a}`), 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local'].join(',');
  const apiserver = await leaf('apiserver', '/CN=kube-apiserver', 'serverAuth', apiserverSans);
  const clients = {} as ClusterPki['clients'];
  for (const [name, { cn, groups }] of Object.entries(CLIENTS) as [keyof typeof CLIENTS, (typeof CLIENTS)[keyof typeof CLIENTS]][]) {
    const subject = [...groups.map((g) => `/O=${g}`), `/CN=${cn}`].join('');
    clients[name] = await leaf(name, subject, 'clientAuth');
  }

  const nodeCerts = node && {
    kubeletClient: await leaf('kubelet-client', `/O=system:nodes/CN=system:node:${node.name}`, 'clientAuth'),
    kubeletServing: await leaf('kubelet-serving', `/CN=system:node:${node.name}`, 'serverAuth', `IP:${node.ip},DNS:${node.name}`),
    kubeProxy: await leaf('kube-proxy', '/CN=system:kube-proxy', 'clientAuth'),
    apiserverKubeletClient: await leaf('apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', 'clientAuth'),
    kubeRouter: await leaf('kube-router', '/CN=kube-router', 'clientAuth'),
  };

  const serviceAccountKey = join(pki, 'sa.key');
  const serviceAccountPub = join(pki, 'sa.pub');
  writeFileSync(serviceAccountPub, writeKey(serviceAccountKey).publicPem);
  return { dir: pki, caCert, caKey, apiserver, clients, node: nodeCerts, serviceAccountKey, serviceAccountPub };
}

/** Writes a kubeconfig (mode 0600) for `user` authenticating with `client` to `server`, trusting `caCert`. */
export function writeKubeconfig(path: string, server: string, caCert: string, user: string, client: KeyPairFiles): void {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'expense-tracker-test', cluster: { server, 'certificate-authority': caCert } }],
    users: [{ name: user, user: { 'client-certificate': client.cert, 'client-key': client.key } }],
    contexts: [{ name: 'expense-tracker-test', context: { cluster: 'expense-tracker-test', user } }],
    'current-context': 'expense-tracker-test',
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
}
