/**
 * Every error runbus raises. Each is a named class (branch with `instanceof`) carrying a
 * stable `code` (branch over the wire, log, alert). Codes never change once released;
 * messages are for people and may.
 *
 * Over HTTP the hub maps `code` to a status and sends `{ error: { code, message } }`.
 */

/**
 * Every stable code a runbus error carries. A new error needs its code here, and then an
 * HTTP status in `src/protocol/errors.ts` (a `Record` over this union: a code without a
 * status does not compile).
 */
export type RunbusErrorCode =
  | 'invalid_argument'
  | 'validation_failed'
  | 'decode_failed'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'run_not_found'
  | 'run_reset'
  | 'ask_not_found'
  | 'job_not_found'
  | 'method_not_allowed'
  | 'run_exists'
  | 'run_ended'
  | 'ask_answered'
  | 'ask_expired'
  | 'lease_lost'
  | 'interrupted'
  | 'payload_too_large'
  | 'insufficient_storage'
  | 'quota_exceeded'
  | 'too_many'
  | 'queue_full'
  | 'aborted'
  | 'closed'
  | 'queue_closed'
  | 'backend_unavailable'
  | 'timeout'
  | 'ask_timeout'
  | 'internal'
  // Raised by `runbus/client` about the connection, never sent by a hub:
  | 'unreachable'
  | 'idle_timeout'
  | 'reconnect_requested'
  | 'no_body'
  /** An HTTP failure without a runbus error body (a proxy's page), or a code this client does not know. */
  | 'http_error'

/** Options accepted by every runbus error constructor. */
export interface RunbusErrorOptions {
  /** The underlying failure, kept for logs and debuggers. */
  cause?: unknown
}

/**
 * The base class of every error runbus raises.
 *
 * Catch this to handle any runbus failure; read `code` for a stable, machine-readable
 * reason.
 *
 * @example
 * ```ts
 * try { await run.append('text', 'hi') }
 * catch (err) { if (err instanceof RunbusError) console.log(err.code) }
 * ```
 */
export class RunbusError extends Error {
  /** Stable machine-readable reason, e.g. `run_ended`. */
  readonly code: RunbusErrorCode

  constructor(code: RunbusErrorCode, message: string, options?: RunbusErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.name = new.target.name
  }

  /** A plain object for logs and the HTTP error body. */
  toJSON(): { code: RunbusErrorCode; message: string } {
    return { code: this.code, message: this.message }
  }
}

/** Invalid argument or malformed input (a bad channel name, a negative capacity…). Code `invalid_argument`. */
export class InvalidArgumentError extends RunbusError {
  constructor(message: string, options?: RunbusErrorOptions) {
    super('invalid_argument', message, options)
  }
}

/** A wait ran past its `timeout`. Code `timeout`. */
export class TimeoutError extends RunbusError {
  /** The timeout that elapsed, in milliseconds. */
  readonly timeoutMs: number
  constructor(
    timeoutMs: number,
    message = `timed out after ${timeoutMs} ms`,
    code: 'timeout' | 'ask_timeout' = 'timeout',
  ) {
    super(code, message)
    this.timeoutMs = timeoutMs
  }
}

/**
 * A wait was cancelled through an `AbortSignal` that had no reason of its own.
 * (When the signal carries a reason, runbus rejects with that reason as is.) Code `aborted`.
 */
export class AbortedError extends RunbusError {
  constructor(message = 'the operation was aborted', options?: RunbusErrorOptions) {
    super('aborted', message, options)
  }
}

/** A push onto a full queue whose policy is `error`. Code `queue_full`. */
export class QueueFullError extends RunbusError {
  /** The queue's capacity. */
  readonly capacity: number
  constructor(capacity: number) {
    super('queue_full', `queue is full (capacity ${capacity})`)
    this.capacity = capacity
  }
}

/** The queue was closed: no new items, and waiters end once it is drained. Code `queue_closed`. */
export class QueueClosedError extends RunbusError {
  constructor(message = 'queue is closed', options?: RunbusErrorOptions) {
    super('queue_closed', message, options)
  }
}

/** The runbus instance (or a part of it) was closed. Code `closed`. */
export class ClosedError extends RunbusError {
  constructor(message = 'runbus is closed') {
    super('closed', message)
  }
}

/** No run with that id (never created, or expired by retention). Code `run_not_found`. */
export class RunNotFoundError extends RunbusError {
  readonly run: string
  constructor(run: string) {
    super('run_not_found', `run ${JSON.stringify(run)} not found`)
    this.run = run
  }
}

/**
 * The run a reader followed, or resumed from, is gone as it knew it: the run id was created
 * again (after its TTL, or on a Redis that restarted empty) and is another run now. The
 * position (an event id, a follower's place) belongs to the old incarnation; the reader is
 * told instead of being handed the new run's events as if they continued the old ones.
 * Also a `RunNotFoundError` (the run followed does not exist any more). Code `run_reset`
 * (HTTP 410).
 *
 * What to do: start again from the new run's start (`after: 'start'`), or give up.
 *
 * @example
 * ```ts
 * try { for await (const e of rb.runs.follow(id, { after: savedId })) show(e) }
 * catch (err) { if (err instanceof RunResetError) restartFromStart() }
 * ```
 */
export class RunResetError extends RunNotFoundError {
  constructor(run: string, message?: string) {
    super(run)
    ;(this as { code: RunbusErrorCode }).code = 'run_reset'
    this.message =
      message ?? `run ${JSON.stringify(run)} was reset or created again: the run followed is gone`
  }
}

/** A run with that id already exists. Code `run_exists`. */
export class RunExistsError extends RunbusError {
  readonly run: string
  constructor(run: string) {
    super('run_exists', `run ${JSON.stringify(run)} already exists`)
    this.run = run
  }
}

/** The run has ended: no more events, no second end. Code `run_ended`. */
export class RunEndedError extends RunbusError {
  readonly run: string
  constructor(run: string, message = `run ${JSON.stringify(run)} has already ended`) {
    super('run_ended', message)
    this.run = run
  }
}

/**
 * A payload over the size limit. It is refused whole: never truncated, never replaced.
 * Code `payload_too_large`.
 */
export class PayloadTooLargeError extends RunbusError {
  /** The encoded size of the refused payload, in bytes. */
  readonly size: number
  /** The configured limit, in bytes. */
  readonly limit: number
  constructor(size: number, limit: number, what = 'payload') {
    super('payload_too_large', `${what} is ${size} bytes, over the limit of ${limit} bytes`)
    this.size = size
    this.limit = limit
  }
}

/** Which budget an {@link InsufficientStorageError} ran into. */
export type StorageBudget = 'run' | 'inbox' | 'instance'

/**
 * A write would take a run, an inbox or the whole instance over its byte budget
 * (`limits.maxRunBytes`, `limits.maxInboxBytes`, `memoryBackend({ maxBytes })`). Nothing of
 * the write was stored. Over HTTP: 507. Code `insufficient_storage`.
 *
 * @example
 * ```ts
 * catch (err) { if (err instanceof InsufficientStorageError && err.budget === 'run') await run.end() }
 * ```
 */
export class InsufficientStorageError extends RunbusError {
  /** The budget that would be exceeded. */
  readonly budget: StorageBudget
  /** The budget, in bytes. */
  readonly limit: number
  constructor(budget: StorageBudget, limit: number, message?: string) {
    super(
      'insufficient_storage',
      message ??
        (budget === 'instance'
          ? `the backend is full (its budget of ${limit} bytes is used up)`
          : `the ${budget === 'run' ? 'run' : "run's inbox"} is over its budget of ${limit} bytes`),
    )
    this.budget = budget
    this.limit = limit
  }
}

/**
 * A quota on things held at once was reached (running runs per owner,
 * `limits.maxRunningRunsPerOwner`). Retry once some have ended. Over HTTP: 429. Code
 * `quota_exceeded`.
 *
 * @example
 * ```ts
 * catch (err) { if (err instanceof QuotaExceededError) console.log(err.limit) }
 * ```
 */
export class QuotaExceededError extends RunbusError {
  /** The quota. */
  readonly limit: number
  constructor(limit: number, message = `quota of ${limit} reached`) {
    super('quota_exceeded', message)
    this.limit = limit
  }
}

/** One problem found by a schema, as Standard Schema reports it. */
export interface ValidationIssue {
  message: string
  path?: ReadonlyArray<PropertyKey>
}

/** Data failed a schema (Standard Schema validators: zod, valibot, arktype…). Code `validation_failed`. */
export class ValidationError extends RunbusError {
  /** Every issue the validator reported. */
  readonly issues: ReadonlyArray<ValidationIssue>
  constructor(issues: ReadonlyArray<ValidationIssue>, what = 'data') {
    const first = issues[0]
    const where =
      first?.path && first.path.length > 0 ? ` at ${first.path.map(String).join('.')}` : ''
    super(
      'validation_failed',
      `${what} failed validation${first ? `: ${first.message}${where}` : ''}` +
        (issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''),
    )
    this.issues = issues
  }
}

/** Data could not be decoded (a malformed stored entry, bad JSON). Code `decode_failed`. */
export class DecodeError extends RunbusError {
  constructor(message: string, options?: RunbusErrorOptions) {
    super('decode_failed', message, options)
  }
}

/**
 * The run was interrupted through its inbox (an `interrupt` message): the reason that
 * aborts `run.signal`. `data` is the message's data. Code `interrupted`.
 */
export class InterruptedError extends RunbusError {
  readonly run: string
  readonly data: unknown
  constructor(run: string, data?: unknown) {
    super('interrupted', `run ${JSON.stringify(run)} was interrupted`)
    this.run = run
    this.data = data
  }
}

/** No ask with that id. Code `ask_not_found`. */
export class AskNotFoundError extends RunbusError {
  readonly ask: string
  constructor(ask: string) {
    super('ask_not_found', `ask ${JSON.stringify(ask)} not found`)
    this.ask = ask
  }
}

/** The ask already has an answer; the first valid answer won. Code `ask_answered`. */
export class AskAnsweredError extends RunbusError {
  readonly ask: string
  constructor(ask: string) {
    super('ask_answered', `ask ${JSON.stringify(ask)} was already answered`)
    this.ask = ask
  }
}

/** The ask expired (timed out or was cancelled) before this answer came. Code `ask_expired`. */
export class AskExpiredError extends RunbusError {
  readonly ask: string
  constructor(ask: string, message = `ask ${JSON.stringify(ask)} has expired`) {
    super('ask_expired', message)
    this.ask = ask
  }
}

/** Nobody answered the ask within its timeout (raised in the agent). Code `ask_timeout`. */
export class AskTimeoutError extends TimeoutError {
  readonly ask: string
  constructor(ask: string, timeoutMs: number) {
    super(
      timeoutMs,
      `ask ${JSON.stringify(ask)} got no answer within ${timeoutMs} ms`,
      'ask_timeout',
    )
    this.ask = ask
  }
}

/** No job with that id in the work queue. Code `job_not_found`. */
export class JobNotFoundError extends RunbusError {
  readonly job: string
  constructor(job: string) {
    super('job_not_found', `job ${JSON.stringify(job)} not found`)
    this.job = job
  }
}

/**
 * A work-queue job's lease was lost: its visibility timeout passed and the job was (or can
 * be) delivered to another consumer, or it was already settled. The acknowledgement, retry,
 * dead-letter or extend that raised it did nothing; the job's outcome belongs to whoever
 * holds it now. Code `lease_lost`.
 */
export class LeaseLostError extends RunbusError {
  readonly job: string
  constructor(
    job: string,
    message = `the lease on job ${JSON.stringify(job)} was lost (it expired and the job went to another delivery)`,
  ) {
    super('lease_lost', message)
    this.job = job
  }
}

/**
 * The backend did not answer (Redis down, connection lost) within a bounded time.
 * Whatever the call was doing may or may not have happened. Code `backend_unavailable`.
 */
export class BackendUnavailableError extends RunbusError {
  constructor(message: string, options?: RunbusErrorOptions) {
    super('backend_unavailable', message, options)
  }
}

/** No token, or a bad or expired one. Code `unauthorized`. */
export class UnauthorizedError extends RunbusError {
  constructor(message = 'a valid token is required') {
    super('unauthorized', message)
  }
}

/** The token lacks the scope or the run. Code `forbidden`. */
export class ForbiddenError extends RunbusError {
  constructor(message = 'the token does not allow this') {
    super('forbidden', message)
  }
}

/** Unknown route or resource over HTTP. Code `not_found`. */
export class NotFoundError extends RunbusError {
  constructor(message = 'not found') {
    super('not_found', message)
  }
}

/** Too many requests or connections. Code `too_many`. */
export class TooManyError extends RunbusError {
  constructor(message = 'too many requests') {
    super('too_many', message)
  }
}

/** Marks errors rebuilt from a hub's answer, so `instanceof HubError` holds for them too. */
const FROM_HUB: unique symbol = Symbol.for('runbus.hubError')

/**
 * A hub answered a request over HTTP with an error. Carries the hub's stable `code` (from
 * the body `{ error: { code, message } }`) and the HTTP `status`, so callers branch on
 * either. A request that never reached the hub has status `0` and code `unreachable`.
 * Raised by `runbus/client`.
 *
 * When the hub's code has a class of its own, the client raises that class instead (a
 * `RunNotFoundError` for `run_not_found`, …) with `status` set on it: it is then both
 * `instanceof RunNotFoundError` and `instanceof HubError`.
 */
export class HubError extends RunbusError {
  /** The HTTP status, or `0` when the hub could not be reached. */
  readonly status: number
  constructor(
    status: number,
    code: RunbusErrorCode,
    message: string,
    options?: RunbusErrorOptions,
  ) {
    super(code, message, options)
    this.status = status
  }

  /** `true` for a `HubError` and for any typed error the client rebuilt from a hub's answer. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true
    return (
      this === HubError &&
      value instanceof RunbusError &&
      (value as unknown as Record<symbol, unknown>)[FROM_HUB] === true
    )
  }

  /**
   * @internal Marks `err` (rebuilt by the client from a hub's answer) as coming from a hub
   * with HTTP `status`.
   */
  static mark<E extends RunbusError>(err: E, status: number): E & { readonly status: number } {
    Object.defineProperty(err, FROM_HUB, { value: true })
    Object.defineProperty(err, 'status', { value: status, enumerable: true })
    return err as E & { readonly status: number }
  }
}
