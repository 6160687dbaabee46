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

/**
 * Creates the PKI in `<dir>/pki`.
 * @param serviceIp first IP of the Service CIDR (the `kubernetes` Service's ClusterIP), e.g. `10.96.0.1`.
 * @throws Error from execa when `openssl` is missing or fails (message includes its stderr).
 */
export async function createPki(dir: string, serviceIp: string): Promise<ClusterPki> {
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

  const apiserverSans = ['IP:127.0.0.1', `IP:${serviceIp}`, 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local'].join(',');
  const apiserver = await leaf('apiserver', '/CN=kube-apiserver', 'serverAuth', apiserverSans);
  const clients = {} as ClusterPki['clients'];
  for (const [name, { cn, groups }] of Object.entries(CLIENTS) as [keyof typeof CLIENTS, (typeof CLIENTS)[keyof typeof CLIENTS]][]) {
    const subject = [...groups.map((g) => `/O=${g}`), `/CN=${cn}`].join('');
    clients[name] = await leaf(name, subject, 'clientAuth');
  }

  const serviceAccountKey = join(pki, 'sa.key');
  const serviceAccountPub = join(pki, 'sa.pub');
  writeFileSync(serviceAccountPub, writeKey(serviceAccountKey).publicPem);
  return { dir: pki, caCert, caKey, apiserver, clients, serviceAccountKey, serviceAccountPub };
}
