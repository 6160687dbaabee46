/**
 * One mapping from a thrown error to the status, code and message a client sees, shared by the
 * JSON API's error handler and the HTML error pages so both classify errors the same way.
 * Anything unrecognized with a status >= 500 is logged and answered as `Internal error`.
 */
import type { FastifyRequest } from 'fastify';
import { SessionsUnavailableError } from '../sessions.js';
import { ValidationError } from '../validation.js';

export interface ErrorAnswer {
  status: number;
  /** Machine-readable code of the JSON API (`validation_failed`, `csrf_failed`, ...). */
  code: string;
  message: string;
  /** The offending field, for validation failures. */
  field?: string;
}

export function describeError(err: Error & { statusCode?: number; code?: string }, req: FastifyRequest): ErrorAnswer {
  let status = err.statusCode ?? 500;
  if (status < 400 || status > 599) status = 500;
  if (err instanceof ValidationError) return { status, code: 'validation_failed', message: err.message, field: err.field };
  if (err.code?.startsWith('FST_CSRF')) {
    return { status: 403, code: 'csrf_failed', message: 'The form was missing or had an invalid CSRF token. Reload the page and try again.' };
  }
  if (err instanceof SessionsUnavailableError) return { status, code: 'sessions_unavailable', message: err.message };
  if (status === 429) return { status, code: 'too_many_requests', message: err.message };
  if (status === 413) return { status, code: 'payload_too_large', message: err.message };
  if (status === 400 && err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return { status, code: 'invalid_json', message: err.message };
  if (status >= 500) {
    req.log.error({ err }, 'request failed');
    return { status, code: 'error', message: 'Internal error' };
  }
  return { status, code: 'error', message: err.message };
}
