/**
 * Minimal IBM Cloud API client: IAM API-key → bearer token exchange (refreshed before it
 * expires) and JSON requests whose errors quote IBM's message and request id.
 *
 * Endpoints and shapes follow IBM's public API documentation:
 * - IAM token: `POST {iam}/identity/token`, form body
 *   `grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=…`, answer
 *   `{ access_token, expires_in (seconds), expiration (Unix seconds), token_type: "Bearer" }`;
 *   errors `{ errorCode, errorMessage, context: { requestId } }`.
 * - IKS (containers) v1/v2: errors `{ code, description, incidentID }`.
 * - ICR: errors `{ code, message }` (request id in the `x-request-id` header).
 *
 * The API key is only ever placed in the IAM request body; it never appears in an error,
 * a log line or a thrown object (`IbmApiError` redacts it defensively as well).
 */

/** Default public endpoints; every one is overridable (tests point them at a local fake). */
export const IBM_DEFAULT_ENDPOINTS = {
  /** IAM base URL (token endpoint is `/identity/token`). */
  iam: 'https://iam.cloud.ibm.com',
  /** IKS global API base; v1 and v2 paths are appended (`/v2/getCluster`, `/v1/clusters/…`). */
  containers: 'https://containers.cloud.ibm.com/global',
  /** IBM Container Registry regional API base (`/api/v1/namespaces`). */
  registry: 'https://us.icr.io',
} as const;

/** Base URLs of the IBM APIs the provider talks to. */
export interface IbmEndpoints {
  iam: string;
  containers: string;
  registry: string;
}

/** An IBM API answered with a non-2xx status or an unusable body. */
export class IbmApiError extends Error {
  constructor(
    /** What was being done, e.g. `IKS getCluster "expense"`. */
    readonly operation: string,
    /** HTTP status (0 when the request never got an answer). */
    readonly status: number,
    /** IBM's error code, e.g. `BXNIM0415E` or `E0003`, when the body carried one. */
    readonly code: string | undefined,
    /** IBM's own message (`errorMessage`, `description` or `message`). */
    readonly ibmMessage: string,
    /** IBM's request/incident id, for support tickets. */
    readonly requestId: string | undefined,
  ) {
    super(
      `${operation} failed: HTTP ${status}${code ? ` ${code}` : ''}: ${ibmMessage}` +
        (requestId ? ` (request id ${requestId})` : ''),
    );
    this.name = 'IbmApiError';
  }
}

/** Removes every occurrence of `secret` from `text` (no-op for empty secrets). */
export function redact(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('[REDACTED]') : text;
}

/** Options of {@link IamTokenSource}. */
export interface IamTokenSourceOptions {
  /** IBM Cloud API key (never logged, never part of an error). */
  apiKey: string;
  /** IAM base URL. @default IBM_DEFAULT_ENDPOINTS.iam */
  iamEndpoint?: string;
  /**
   * Fraction of the token lifetime after which a new token is requested, as IBM's SDKs do.
   * @default 0.8
   */
  refreshFraction?: number;
  /** Clock in milliseconds since the epoch (tests inject one). @default Date.now */
  now?: () => number;
}

/**
 * Exchanges an API key for IAM bearer tokens and caches the token until `refreshFraction`
 * of its lifetime (`expires_in` seconds) has elapsed; then exchanges the key again.
 * Concurrent callers share one in-flight exchange.
 */
export class IamTokenSource {
  private token: string | undefined;
  private refreshAt = 0;
  private inFlight: Promise<string> | undefined;
  /** Number of token exchanges performed (observability and tests). */
  exchanges = 0;

  constructor(private readonly options: IamTokenSourceOptions) {
    if (!options.apiKey) throw new Error('IBM Cloud API key is empty (config key "expense-tracker:ibmApiKey")');
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** A valid bearer token (without the `Bearer ` prefix). @throws IbmApiError from IAM. */
  async accessToken(): Promise<string> {
    if (this.token && this.now() < this.refreshAt) return this.token;
    this.inFlight ??= this.exchange().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async exchange(): Promise<string> {
    const base = (this.options.iamEndpoint ?? IBM_DEFAULT_ENDPOINTS.iam).replace(/\/+$/, '');
    const body = new URLSearchParams({ grant_type: 'urn:ibm:params:oauth:grant-type:apikey', apikey: this.options.apiKey });
    const started = this.now();
    const response = await send('IAM token exchange', `${base}/identity/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: body.toString(),
    }, this.options.apiKey);
    const json = (await readJson('IAM token exchange', response, this.options.apiKey)) as {
      access_token?: unknown;
      expires_in?: unknown;
    };
    if (typeof json.access_token !== 'string' || typeof json.expires_in !== 'number' || json.expires_in <= 0) {
      throw new IbmApiError('IAM token exchange', response.status, undefined, 'answer lacks access_token/expires_in', requestIdOf(response, json));
    }
    this.exchanges += 1;
    this.token = json.access_token;
    this.refreshAt = started + json.expires_in * 1000 * (this.options.refreshFraction ?? 0.8);
    return this.token;
  }
}

/** Options of {@link IbmClient.request}. */
export interface IbmRequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** JSON body. */
  body?: unknown;
  /** Extra headers (e.g. ICR's `Account`). */
  headers?: Record<string, string>;
  /** Statuses treated as success besides 2xx (e.g. 404 for idempotent delete). */
  accept?: number[];
}

/** JSON requests to IBM APIs with an IAM bearer token. */
export class IbmClient {
  constructor(
    readonly tokens: IamTokenSource,
    private readonly apiKey: string,
  ) {}

  /**
   * Sends one request; resolves with the status and the parsed JSON body (undefined when empty).
   * @throws IbmApiError for non-2xx statuses not in `accept`, naming `operation`.
   */
  async request<T = unknown>(operation: string, url: string, options: IbmRequestOptions = {}): Promise<{ status: number; body: T | undefined; headers: Headers }> {
    const token = await this.tokens.accessToken();
    const response = await send(operation, url, {
      method: options.method ?? 'GET',
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    }, this.apiKey);
    if (response.ok || options.accept?.includes(response.status)) {
      const text = await response.text();
      return { status: response.status, body: text ? (JSON.parse(text) as T) : undefined, headers: response.headers };
    }
    await readJson(operation, response, this.apiKey);
    throw new Error('unreachable');
  }

  /** Same as {@link request} but answers the raw text (kubeconfig YAML). */
  async requestText(operation: string, url: string): Promise<string> {
    const token = await this.tokens.accessToken();
    const response = await send(operation, url, { method: 'GET', headers: { authorization: `Bearer ${token}` } }, this.apiKey);
    if (!response.ok) await readJson(operation, response, this.apiKey);
    return response.text();
  }
}

async function send(operation: string, url: string, init: RequestInit, apiKey: string): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  } catch (error) {
    const cause = error instanceof Error ? error.message : String(error);
    throw new IbmApiError(operation, 0, undefined, redact(`no answer from ${new URL(url).origin}: ${cause}`, apiKey), undefined);
  }
}

function requestIdOf(response: Response, body: unknown): string | undefined {
  const b = (body ?? {}) as { context?: { requestId?: unknown }; incidentID?: unknown; trace?: unknown };
  const fromBody = [b.context?.requestId, b.incidentID, b.trace].find((v): v is string => typeof v === 'string' && v !== '');
  return fromBody ?? response.headers.get('x-request-id') ?? response.headers.get('x-correlation-id') ?? undefined;
}

/** Parses a JSON body; on non-2xx throws IbmApiError quoting IBM's message and request id. */
async function readJson(operation: string, response: Response, apiKey: string): Promise<unknown> {
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (response.ok) {
    if (body === undefined && text) {
      throw new IbmApiError(operation, response.status, undefined, 'answer is not JSON', requestIdOf(response, undefined));
    }
    return body;
  }
  const b = (body ?? {}) as Record<string, unknown>;
  const errors = Array.isArray(b.errors) ? (b.errors as Array<Record<string, unknown>>) : [];
  const message = [b.errorMessage, b.description, b.message, errors[0]?.message].find(
    (v): v is string => typeof v === 'string' && v !== '',
  );
  const code = [b.errorCode, b.code, errors[0]?.code].find((v): v is string => typeof v === 'string' && v !== '');
  throw new IbmApiError(
    operation,
    response.status,
    code,
    redact(message ?? (text.slice(0, 200) || response.statusText || 'no message'), apiKey),
    requestIdOf(response, body),
  );
}
