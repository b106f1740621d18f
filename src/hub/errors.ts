/**
 * How the hub turns errors into HTTP answers. Every failure leaves the hub as
 * `{ "error": { "code", "message" } }` with the status PROTOCOL.md gives its code; an
 * error that is not a `RunbusError` is a bug on our side and the only thing that may
 * become a 500 (its message is not leaked).
 */
import { RunbusError } from '../events/errors.js'

/** The request's method is not one the route answers. Code `method_not_allowed`. */
export class MethodNotAllowedError extends RunbusError {
  /** The methods the route does answer. */
  readonly allow: readonly string[]
  constructor(method: string, allow: readonly string[]) {
    super(
      'method_not_allowed',
      `method ${method} is not allowed here (allowed: ${allow.join(', ')})`,
    )
    this.allow = allow
  }
}

const STATUS: Readonly<Record<string, number>> = {
  invalid_argument: 400,
  validation_failed: 400,
  decode_failed: 400,
  invalid_json: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  run_not_found: 404,
  ask_not_found: 404,
  job_not_found: 404,
  method_not_allowed: 405,
  run_exists: 409,
  run_ended: 409,
  ask_answered: 409,
  ask_expired: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many: 429,
  queue_full: 429,
  aborted: 503,
  closed: 503,
  queue_closed: 503,
  backend_unavailable: 503,
  timeout: 504,
  ask_timeout: 504,
}

/**
 * The HTTP status for a runbus error code (PROTOCOL.md): 400 invalid input, 401, 403, 404,
 * 409 conflict, 410 gone, 413, 429, 503 when the backend is away. Unknown codes are 500.
 */
export function statusOfCode(code: string): number {
  return STATUS[code] ?? 500
}

/** The JSON error body of the protocol. */
export interface ErrorBody {
  error: { code: string; message: string }
}

/** The status and body for any thrown value. Non-runbus errors become an opaque 500. */
export function errorBody(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof RunbusError) {
    return {
      status: statusOfCode(err.code),
      body: { error: { code: err.code, message: err.message } },
    }
  }
  return {
    status: 500,
    body: { error: { code: 'internal', message: 'internal error' } },
  }
}
