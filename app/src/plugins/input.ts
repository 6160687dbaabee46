/**
 * Refuses control characters in request input (fastify-plugin: its hooks cover every route):
 * C0 controls including NUL, DEL and C1 controls in a header value, a query parameter, a path
 * parameter or any string of a JSON or form body answer 400 naming the field (`header.user-agent`,
 * `query.month`, `params.id`, `description`, `items.0.name`), before any handler or database sees
 * them. No text field of the app is multi-line, so no control character is legitimate input.
 *
 * Node's HTTP parser rejects raw control bytes in the request line and header values (except
 * HTAB) before any route runs; {@link clientErrorHandler} answers those with the same 400 body
 * naming the header (or `url`). Header values are decoded as latin1 by Node, so there only C0 and
 * DEL count: a byte 0x80-0x9f there is part of a UTF-8 sequence, not a C1 control.
 */
import type { Socket } from 'node:net';
import fp from 'fastify-plugin';
import type { FastifyPluginAsync } from 'fastify';
import { ValidationError } from '../validation.js';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex
const HEADER_CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * A parsed JSON, form or query value worth descending into: arrays and data objects (query and
 * form parsers build them with their own null prototypes), never streams, emitters or buffers.
 */
function isDataContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  if (Array.isArray(v)) return true;
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return false;
  return typeof (v as { on?: unknown }).on !== 'function' && typeof (v as { pipe?: unknown }).pipe !== 'function';
}

/**
 * The dotted path of the first string under `value` holding a control character, or undefined.
 * Only strings, arrays and data objects are inspected, each once: a body a route reads itself (a
 * stream, a Buffer) is that route's to check.
 */
function findControl(value: unknown, prefix: string): string | undefined {
  // Iterative: a deeply nested JSON body must not overflow the stack.
  const stack: [unknown, string][] = [[value, prefix]];
  const seen = new WeakSet<object>();
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (CONTROL.test(v)) return path || '(body)';
      continue;
    }
    if (!isDataContainer(v) || seen.has(v)) continue;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], path ? `${path}.${i}` : String(i)]);
    } else {
      for (const [k, child] of Object.entries(v).reverse()) {
        if (CONTROL.test(k)) return path ? `${path}.(key)` : '(key)';
        stack.push([child, path ? `${path}.${k}` : k]);
      }
    }
  }
  return undefined;
}

const MESSAGE = 'must not contain control characters';

const inputPlugin: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', async (req) => {
    for (const [name, value] of Object.entries(req.headers)) {
      const values = Array.isArray(value) ? value : [value];
      if (values.some((v) => typeof v === 'string' && HEADER_CONTROL.test(v))) throw new ValidationError(`header.${name}`, MESSAGE);
    }
    const q = findControl(req.query, 'query');
    if (q) throw new ValidationError(q === 'query' ? 'query' : q, MESSAGE);
  });

  app.addHook('preValidation', async (req) => {
    const p = findControl(req.params, 'params');
    if (p) throw new ValidationError(p, MESSAGE);
    const b = findControl(req.body, '');
    if (b) throw new ValidationError(b, MESSAGE);
  });
};

/**
 * Fastify `clientErrorHandler`: a request Node's parser refused (a control byte in a header or the
 * URL, a malformed request line) gets a 400 whose JSON body names the header when it can be told,
 * like the app's own validation errors. Other client errors close as Node's default does.
 */
export function clientErrorHandler(error: Error, socket: Socket): void {
  // Node's clientError carries these (Fastify's ConnectionError type mistypes rawPacket).
  const err = error as Error & { code?: string; bytesParsed?: number; rawPacket?: Buffer };
  if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  let status = '400 Bad Request';
  let field = '(request)';
  let message = 'malformed HTTP request';
  if (err.code === 'HPE_HEADER_OVERFLOW') [status, message] = ['431 Request Header Fields Too Large', 'request headers too large'];
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') [status, message] = ['408 Request Timeout', 'request timed out'];
  else if (err.code === 'HPE_INVALID_URL') [field, message] = ['url', MESSAGE];
  else if (err.code === 'HPE_INVALID_HEADER_TOKEN' && err.rawPacket && err.bytesParsed !== undefined) {
    const raw = err.rawPacket.toString('latin1');
    const line = raw.slice(raw.lastIndexOf('\n', err.bytesParsed) + 1, err.bytesParsed);
    const name = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):/.exec(line)?.[1];
    if (name) [field, message] = [`header.${name.toLowerCase()}`, MESSAGE];
  }
  const body = JSON.stringify({ error: 'validation_failed', field, message });
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export default fp(inputPlugin, { name: 'input' });
