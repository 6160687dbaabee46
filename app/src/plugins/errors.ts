/**
 * One mapping from a thrown error to the status, code, message and headers a client sees, shared
 * by the JSON API's error handler and the HTML error pages so both classify errors the same way:
 *
 * - PostgreSQL unreachable (or refusing work for a transient reason) -> 503 `database_unavailable`
 *   with `Retry-After`, a friendly message, never a generic 500;
 * - no free database connection within the pool's wait while PostgreSQL answers (overload, see
 *   `AppPool` in db.ts) -> 503 `server_busy` with its own shorter `Retry-After` and message;
 * - throttled -> 429 `too_many_requests` with `Retry-After`;
 * - a PostgreSQL data exception (SQLSTATE class 22: a value the database cannot store) -> 400
 *   `invalid_input`: input validation should have caught it first, but it is the client's input,
 *   not a server fault;
 * - anything unrecognized with a status >= 500 is logged and answered as `Internal error`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BUSY_RETRY_AFTER_SECONDS, UNAVAILABLE_RETRY_AFTER_SECONDS } from '@expense-tracker/model/app-contract';
import { DatabaseBusyError, DatabaseUnavailableError, isDatabaseBusy, isDatabaseUnavailable } from '../db.js';
import { TooManyRequestsError } from '../throttle.js';
import { ValidationError } from '../validation.js';

export interface ErrorAnswer {
  status: number;
  /** Machine-readable code of the JSON API (`validation_failed`, `csrf_failed`, ...). */
  code: string;
  message: string;
  /** The offending field, for validation failures. */
  field?: string;
  /** Seconds for a `Retry-After` header (503, 429). */
  retryAfter?: number;
}

type ThrownError = Error & { statusCode?: number; code?: string };

export function describeError(err: ThrownError, req: FastifyRequest): ErrorAnswer {
  if (isDatabaseBusy(err)) {
    req.log.warn('no free database connection in time (overload)');
    return { status: 503, code: 'server_busy', message: new DatabaseBusyError().message, retryAfter: BUSY_RETRY_AFTER_SECONDS };
  }
  if (isDatabaseUnavailable(err)) {
    req.log.warn({ err: err.message }, 'database unavailable');
    return { status: 503, code: 'database_unavailable', message: new DatabaseUnavailableError().message, retryAfter: UNAVAILABLE_RETRY_AFTER_SECONDS };
  }
  let status = err.statusCode ?? 500;
  if (status < 400 || status > 599) status = 500;
  if (err instanceof ValidationError) return { status, code: 'validation_failed', message: err.message, field: err.field };
  if (err.code?.startsWith('FST_CSRF')) {
    return { status: 403, code: 'csrf_failed', message: 'The form was missing or had an invalid CSRF token. Reload the page and try again.' };
  }
  if (err instanceof TooManyRequestsError) return { status, code: 'too_many_requests', message: err.message, retryAfter: err.retryAfterSeconds };
  if (status === 413) return { status, code: 'payload_too_large', message: err.message };
  if (status === 400 && err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return { status, code: 'invalid_json', message: err.message };
  if (typeof err.code === 'string' && /^22[0-9A-Z]{3}$/.test(err.code) && 'severity' in err) {
    req.log.warn({ err: err.message, sqlstate: err.code }, 'database refused a value');
    return { status: 400, code: 'invalid_input', message: 'A value is out of range or malformed.' };
  }
  if (status >= 500) {
    req.log.error({ err }, 'request failed');
    return { status, code: 'error', message: 'Internal error' };
  }
  return { status, code: 'error', message: err.message };
}

/** Sets the headers an answer carries (`Retry-After`, uncached). */
export function applyErrorHeaders(reply: FastifyReply, answer: ErrorAnswer): void {
  if (answer.retryAfter !== undefined) reply.header('retry-after', String(answer.retryAfter));
  if (answer.status >= 500 || answer.status === 429) reply.header('cache-control', 'no-store');
}
