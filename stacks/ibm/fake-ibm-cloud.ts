/**
 * A local fake of the IBM Cloud APIs the IKS/ICR dynamic providers use, written from IBM's
 * API documentation, for contract tests. Listens on 127.0.0.1 (random free port).
 *
 * - IAM `POST /identity/token` (form body, API-key grant) → `{ access_token, expires_in, expiration, token_type }`;
 *   unknown key → 400 `{ errorCode: "BXNIM0415E", errorMessage, context: { requestId } }`.
 * - IKS `POST /global/v2/vpc/createCluster`, `GET /global/v2/vpc/getCluster?cluster=`,
 *   `GET /global/v2/applyRBACAndGetKubeconfig?cluster=&format=yaml`, `DELETE /global/v1/clusters/:id`;
 *   errors `{ code, description, incidentID }`. Bearer tokens are checked and expire.
 * - ICR `PUT|DELETE /api/v1/namespaces/:name`, `GET /api/v1/namespaces` (needs `Account`).
 *
 * Each `getCluster` of a new cluster advances it along `statesBeforeNormal`
 * (default `deploying`, `deploying`, `pending`) and then reports `normal`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

/** A request the fake received (for assertions; the body is kept verbatim). */
export interface FakeRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Options of {@link startFakeIbmCloud}. */
export interface FakeIbmCloudOptions {
  /** The one API key IAM accepts. */
  apiKey: string;
  /** Token lifetime in seconds (`expires_in`). @default 3600 */
  tokenLifetimeSeconds?: number;
  /** States reported by successive getCluster calls before `normal`. */
  statesBeforeNormal?: string[];
  /** Clock in ms used for token expiry (tests may advance it). @default Date.now */
  now?: () => number;
}

/** A running fake; `close()` stops it. */
export interface FakeIbmCloud {
  /** Base URLs to pass as provider `endpoints`. */
  endpoints: { iam: string; containers: string; registry: string };
  requests: FakeRequest[];
  clusters: Map<string, { id: string; name: string; state: string; remaining: string[]; body: unknown }>;
  namespaces: Set<string>;
  /** Tokens issued so far. */
  tokensIssued: number;
  /**
   * Makes the next `count` requests whose path contains `pathPart` fail with `status`
   * and an IBM-style error body.
   */
  failNext(pathPart: string, status: number, count?: number): void;
  close(): Promise<void>;
}

/** Starts the fake on 127.0.0.1:<random port>. */
export async function startFakeIbmCloud(options: FakeIbmCloudOptions): Promise<FakeIbmCloud> {
  const now = options.now ?? Date.now;
  const tokens = new Map<string, number>(); // token → expiry ms
  const failures: Array<{ pathPart: string; status: number; remaining: number }> = [];
  const state: Omit<FakeIbmCloud, 'endpoints' | 'close' | 'failNext'> = {
    requests: [],
    clusters: new Map(),
    namespaces: new Set(),
    tokensIssued: 0,
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'application/yaml' : 'application/json', 'x-request-id': randomUUID(), ...headers });
    res.end(text);
  };
  const iksError = (res: ServerResponse, status: number, code: string, description: string) =>
    send(res, status, { incidentID: `incident-${randomUUID()}`, code, description, type: 'General' });

  const authorized = (req: IncomingMessage): boolean => {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    const expiry = tokens.get(token);
    return expiry !== undefined && now() < expiry;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    state.requests.push({ method: req.method ?? 'GET', path: url.pathname + url.search, headers: req.headers, body });

    const failure = failures.find((f) => f.remaining > 0 && url.pathname.includes(f.pathPart));
    if (failure) {
      failure.remaining -= 1;
      return iksError(res, failure.status, failure.status >= 500 ? 'E0001' : 'E0003', `Injected failure ${failure.status} for ${url.pathname}`);
    }

    // IAM
    if (url.pathname === '/identity/token' && req.method === 'POST') {
      const form = new URLSearchParams(body);
      if (form.get('grant_type') !== 'urn:ibm:params:oauth:grant-type:apikey') {
        return send(res, 400, { errorCode: 'BXNIM0109E', errorMessage: 'Property missing or empty: grant_type', context: { requestId: randomUUID() } });
      }
      if (form.get('apikey') !== options.apiKey) {
        return send(res, 400, { errorCode: 'BXNIM0415E', errorMessage: 'Provided API key could not be found.', context: { requestId: `iam-${randomUUID()}` } });
      }
      const lifetime = options.tokenLifetimeSeconds ?? 3600;
      const token = `tok-${randomUUID()}`;
      tokens.set(token, now() + lifetime * 1000);
      state.tokensIssued += 1;
      return send(res, 200, { access_token: token, refresh_token: 'not-used', token_type: 'Bearer', expires_in: lifetime, expiration: Math.floor(now() / 1000) + lifetime, scope: 'ibm openid' });
    }

    if (!authorized(req)) {
      return send(res, 401, { incidentID: `incident-${randomUUID()}`, code: 'E0022', description: 'The IAM token is expired or invalid. Log in again.', type: 'Authentication' });
    }

    // IKS
    if (url.pathname === '/global/v2/vpc/createCluster' && req.method === 'POST') {
      const input = JSON.parse(body) as { name?: string; workerPool?: { vpcID?: string; zones?: unknown[] } };
      if (!input.name || !input.workerPool?.vpcID || !input.workerPool.zones?.length) {
        return iksError(res, 400, 'E0014', 'The request body is missing required fields: name, workerPool.vpcID, workerPool.zones.');
      }
      if ([...state.clusters.values()].some((c) => c.name === input.name)) {
        return iksError(res, 409, 'E0007', `A cluster with the same name already exists. Choose another name.`);
      }
      const id = `c${randomUUID().replace(/-/g, '').slice(0, 19)}`;
      state.clusters.set(id, { id, name: input.name, state: 'deploying', remaining: [...(options.statesBeforeNormal ?? ['deploying', 'deploying', 'pending'])], body: input });
      return send(res, 201, { clusterID: id });
    }
    if (url.pathname === '/global/v2/vpc/getCluster' && req.method === 'GET') {
      const key = url.searchParams.get('cluster') ?? '';
      const cluster = state.clusters.get(key) ?? [...state.clusters.values()].find((c) => c.name === key);
      if (!cluster) return iksError(res, 404, 'G0004', `The specified cluster could not be found. Target a region or resource group that the cluster is in.`);
      cluster.state = cluster.remaining.shift() ?? 'normal';
      return send(res, 200, {
        id: cluster.id,
        name: cluster.name,
        state: cluster.state,
        masterURL: `https://${cluster.id}.private.us-south.containers.cloud.ibm.com:30000`,
        ingress: { hostname: `${cluster.name}.us-south.containers.appdomain.cloud`, secretName: cluster.name },
        provider: 'vpc-gen2',
      });
    }
    if (url.pathname === '/global/v2/applyRBACAndGetKubeconfig' && req.method === 'GET') {
      const cluster = state.clusters.get(url.searchParams.get('cluster') ?? '');
      if (!cluster) return iksError(res, 404, 'G0004', 'The specified cluster could not be found.');
      return send(res, 200, [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: ${cluster.name}, cluster: {server: "https://${cluster.id}.example:30000"}}]`,
        `users: [{name: admin, user: {token: admin-token-${cluster.id}}}]`,
        `contexts: [{name: ${cluster.name}, context: {cluster: ${cluster.name}, user: admin}}]`,
        `current-context: ${cluster.name}`,
        '',
      ].join('\n'));
    }
    const deleteMatch = /^\/global\/v1\/clusters\/([^/]+)$/.exec(url.pathname);
    if (deleteMatch && req.method === 'DELETE') {
      const id = decodeURIComponent(deleteMatch[1]);
      if (!state.clusters.delete(id)) return iksError(res, 404, 'G0004', 'The specified cluster could not be found.');
      return send(res, 204, '');
    }

    // ICR
    if (url.pathname.startsWith('/api/v1/namespaces')) {
      if (!req.headers.account) return send(res, 400, { code: 'CRG0019E', message: 'The Account header is missing.' });
      const name = decodeURIComponent(url.pathname.slice('/api/v1/namespaces/'.length));
      if (req.method === 'GET' && url.pathname === '/api/v1/namespaces') return send(res, 200, [...state.namespaces]);
      if (req.method === 'PUT' && name) {
        const existed = state.namespaces.has(name);
        state.namespaces.add(name);
        return send(res, existed ? 200 : 201, { namespace: name, account: req.headers.account });
      }
      if (req.method === 'DELETE' && name) {
        if (!state.namespaces.delete(name)) return send(res, 404, { code: 'CRG0010E', message: `The requested namespace ${name} was not found.` });
        return send(res, 204, '');
      }
    }
    return iksError(res, 404, 'E0404', `No route for ${req.method} ${url.pathname}`);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => iksError(res, 500, 'E0001', String(error)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(state, {
    endpoints: { iam: base, containers: `${base}/global`, registry: base },
    failNext(pathPart: string, status: number, count = 1) {
      failures.push({ pathPart, status, remaining: count });
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  });
}
