/**
 * Errors on the wire, both ways. The hub sends every failure as
 * `{ "error": { "code", "message", …details } }` with the status `HTTP_STATUS` gives its
 * code; the client rebuilds the typed error from that body (`errorFromWire`), so
 * `err instanceof RunNotFoundError` holds over HTTP as it does in-process.
 *
 * Invariant: `HTTP_STATUS` is a `Record` over `RunbusErrorCode`, so a new code without a
 * status does not compile. An error that is not a `RunbusError` is a bug on our side and
 * the only thing that may become a 500 (its message is not leaked).
 */
import {
  AbortedError,
  AskAnsweredError,
  AskExpiredError,
  AskNotFoundError,
  AskTimeoutError,
  BackendUnavailableError,
  ClosedError,
  DecodeError,
  ForbiddenError,
  HubError,
  InsufficientStorageError,
  InterruptedError,
  InvalidArgumentError,
  JobNotFoundError,
  LeaseLostError,
  NotFoundError,
  PayloadTooLargeError,
  QueueClosedError,
  QueueFullError,
  QuotaExceededError,
  RunbusError,
  RunEndedError,
  RunExistsError,
  RunNotFoundError,
  RunResetError,
  TimeoutError,
  TooManyError,
  UnauthorizedError,
  ValidationError,
  type RunbusErrorCode,
} from '../events/errors.js'

/** The HTTP statuses the hub answers errors with. */
export type HttpStatus =
  400 | 401 | 403 | 404 | 405 | 409 | 410 | 413 | 415 | 429 | 500 | 502 | 503 | 504 | 507

/**
 * The HTTP status of every runbus error code (PROTOCOL.md): 400 invalid input, 401, 403,
 * 404, 409 conflict, 410 gone (also a position of a run created again since), 413, 429 (also a quota), 503 when the backend is away, 504 a
 * timeout, 507 a storage budget used up.
 * Client-side codes get the status a gateway would use for them.
 */
export const HTTP_STATUS: Readonly<Record<RunbusErrorCode, HttpStatus>> = {
  invalid_argument: 400,
  validation_failed: 400,
  decode_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  run_not_found: 404,
  run_reset: 410,
  ask_not_found: 404,
  job_not_found: 404,
  method_not_allowed: 405,
  run_exists: 409,
  run_ended: 409,
  ask_answered: 409,
  lease_lost: 409,
  interrupted: 409,
  ask_expired: 410,
  payload_too_large: 413,
  insufficient_storage: 507,
  quota_exceeded: 429,
  too_many: 429,
  queue_full: 429,
  aborted: 503,
  closed: 503,
  queue_closed: 503,
  backend_unavailable: 503,
  timeout: 504,
  ask_timeout: 504,
  internal: 500,
  unreachable: 502,
  idle_timeout: 504,
  reconnect_requested: 503,
  no_body: 502,
  http_error: 502,
}

/** Whether `code` is one of runbus's error codes. */
export function isRunbusErrorCode(code: unknown): code is RunbusErrorCode {
  return typeof code === 'string' && Object.hasOwn(HTTP_STATUS, code)
}

/** The HTTP status for an error code; codes runbus does not know are 500. */
export function statusOfCode(code: string): number {
  return isRunbusErrorCode(code) ? HTTP_STATUS[code] : 500
}

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

/** The `error` member of an error body: the code, a message for a person, and details. */
export interface WireError {
  code: string
  message: string
  /** The run, ask or job the error is about. */
  run?: string
  ask?: string
  job?: string
  /** `payload_too_large`: the refused size and the limit, bytes (`limit` is also a budget's or a quota's). */
  size?: number
  limit?: number
  /** `insufficient_storage`: which budget (`run`, `inbox`, `instance`). */
  budget?: string
  /** `queue_full`: the capacity. */
  capacity?: number
  /** `timeout`, `ask_timeout`: the timeout that elapsed, ms. */
  timeoutMs?: number
  /** `method_not_allowed`: the methods the route answers. */
  allow?: string[]
  /** `validation_failed`: the issues, as the schema reported them (messages and paths). */
  issues?: Array<{ message: string; path?: Array<string | number> }>
}

/** The JSON error body of the protocol. */
export interface ErrorBody {
  error: WireError
}

const DETAILS = [
  'run',
  'ask',
  'job',
  'size',
  'limit',
  'budget',
  'capacity',
  'timeoutMs',
  'allow',
] as const

/** The status and body for any thrown value. Non-runbus errors become an opaque 500. */
export function errorBody(err: unknown): { status: number; body: ErrorBody } {
  if (!(err instanceof RunbusError)) {
    return { status: 500, body: { error: { code: 'internal', message: 'internal error' } } }
  }
  const error: WireError = { code: err.code, message: err.message }
  const src = err as unknown as Record<string, unknown>
  const out = error as unknown as Record<string, unknown>
  for (const k of DETAILS) if (src[k] !== undefined) out[k] = src[k]
  if (err instanceof ValidationError) {
    error.issues = err.issues.map((i) =>
      i.path === undefined
        ? { message: i.message }
        : {
            message: i.message,
            path: i.path.map((p) => (typeof p === 'number' ? p : String(p))),
          },
    )
  }
  return { status: HTTP_STATUS[err.code], body: { error } }
}

type Rebuild = (w: WireError) => RunbusError

const str = (v: unknown): string => (typeof v === 'string' ? v : '')
const num = (v: unknown): number => (typeof v === 'number' ? v : 0)

/** The typed error for each code that has a class of its own. */
const REBUILD: { readonly [C in RunbusErrorCode]?: Rebuild } = {
  invalid_argument: (w) => new InvalidArgumentError(w.message),
  validation_failed: (w) =>
    new ValidationError(Array.isArray(w.issues) ? w.issues : [{ message: w.message }]),
  decode_failed: (w) => new DecodeError(w.message),
  unauthorized: (w) => new UnauthorizedError(w.message),
  forbidden: (w) => new ForbiddenError(w.message),
  not_found: (w) => new NotFoundError(w.message),
  run_not_found: (w) => new RunNotFoundError(str(w.run)),
  run_reset: (w) => new RunResetError(str(w.run), w.message),
  ask_not_found: (w) => new AskNotFoundError(str(w.ask)),
  job_not_found: (w) => new JobNotFoundError(str(w.job)),
  method_not_allowed: (w) =>
    new MethodNotAllowedError('', Array.isArray(w.allow) ? w.allow.map(String) : []),
  run_exists: (w) => new RunExistsError(str(w.run)),
  run_ended: (w) => new RunEndedError(str(w.run), w.message),
  ask_answered: (w) => new AskAnsweredError(str(w.ask)),
  ask_expired: (w) => new AskExpiredError(str(w.ask), w.message),
  lease_lost: (w) => new LeaseLostError(str(w.job), w.message),
  interrupted: (w) => new InterruptedError(str(w.run)),
  payload_too_large: (w) => new PayloadTooLargeError(num(w.size), num(w.limit)),
  insufficient_storage: (w) =>
    new InsufficientStorageError(
      w.budget === 'instance' || w.budget === 'inbox' ? w.budget : 'run',
      num(w.limit),
      w.message,
    ),
  quota_exceeded: (w) => new QuotaExceededError(num(w.limit), w.message),
  too_many: (w) => new TooManyError(w.message),
  queue_full: (w) => new QueueFullError(num(w.capacity)),
  aborted: (w) => new AbortedError(w.message),
  closed: (w) => new ClosedError(w.message),
  queue_closed: (w) => new QueueClosedError(w.message),
  backend_unavailable: (w) => new BackendUnavailableError(w.message),
  timeout: (w) => new TimeoutError(num(w.timeoutMs), w.message),
  ask_timeout: (w) => new AskTimeoutError(str(w.ask), num(w.timeoutMs)),
}

/**
 * Rebuilds the error a hub answered with: the typed class of its code (with the hub's
 * message and `status`), so it is `instanceof` that class and `instanceof HubError`; a
 * `HubError` for codes without a class; a `HubError` with code `http_error` for a body
 * that is not a runbus error (a proxy's page) or a code this client does not know.
 */
export function errorFromWire(status: number, body: unknown): HubError {
  const w = (body as { error?: Partial<WireError> } | null | undefined)?.error
  if (!w || typeof w.code !== 'string' || !isRunbusErrorCode(w.code)) {
    const text = typeof w?.message === 'string' ? w.message : `HTTP ${status}`
    const code = typeof w?.code === 'string' ? `${w.code}: ` : ''
    return new HubError(status, 'http_error', code + text)
  }
  const wire: WireError = { ...w, code: w.code, message: str(w.message) || w.code }
  const rebuild = REBUILD[w.code]
  if (!rebuild) return new HubError(status, w.code, wire.message)
  const err = rebuild(wire)
  err.message = wire.message
  return HubError.mark(err, status)
}
