/**
 * The one bounded call: a promise raced against a deadline and an `AbortSignal`, each
 * turned into a typed error, the timer always cleared. Every "wait at most this long for
 * that call" in runbus goes through it instead of a hand-written `setTimeout` + `reject`
 * (or `Promise.race`) of its own, so none forgets to clear its timer, to drop its abort
 * listener, or to swallow the late rejection of the call it gave up on.
 */
import { AbortedError, TimeoutError } from './errors.js'

/** How {@link withDeadline} bounds a call. */
export interface DeadlineOptions<T> {
  /** Longest wait, in ms (absent: no deadline, only the signal). */
  ms?: number
  /** Aborting it rejects at once with its reason (or an `AbortedError`). */
  signal?: AbortSignal
  /**
   * The error past the deadline, made when it passes (so it can say how far the call got).
   * Default: `TimeoutError(ms)`.
   */
  onTimeout?: () => unknown
  /** Told the value of a call that settled after the deadline or the abort (to release it). */
  onLate?: (value: T) => void
}

/**
 * Settles like `call`, or rejects once `ms` passed (`onTimeout()`, default `TimeoutError`)
 * or `signal` aborted (its reason, or `AbortedError`), whichever comes first. With a
 * function, the call receives a signal that aborts when the caller stops waiting (deadline
 * or abort), so a loop inside can stop too. A late failure of `call` is swallowed; a late
 * value goes to `onLate`.
 *
 * @example
 * ```ts
 * const id = await withDeadline(conn.client('ID'), {
 *   ms: 2_000,
 *   onTimeout: () => new BackendUnavailableError('Redis did not answer CLIENT ID within 2000 ms'),
 * })
 * ```
 */
export function withDeadline<T>(
  call: Promise<T> | ((signal: AbortSignal) => Promise<T>),
  options: DeadlineOptions<T>,
): Promise<T> {
  const { ms, signal, onTimeout, onLate } = options
  const stop = new AbortController()
  if (signal?.aborted) {
    stop.abort(signal.reason)
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an abort reason is passed on as is
    return Promise.reject(abortReason(signal))
  }
  return new Promise<T>((resolve, reject) => {
    let done = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const onAbort = () => {
      if (signal) finish(abortReason(signal))
    }
    const finish = (err: unknown) => {
      if (done) return
      done = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      stop.abort(err)
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an abort reason or the call's own failure, as is
      reject(err)
    }
    if (ms !== undefined)
      timer = setTimeout(
        () => finish(onTimeout ? onTimeout() : new TimeoutError(Math.max(0, ms))),
        Math.max(0, ms),
      )
    signal?.addEventListener('abort', onAbort, { once: true })
    let p: Promise<T>
    try {
      p = typeof call === 'function' ? call(stop.signal) : call
    } catch (err) {
      finish(err)
      return
    }
    p.then(
      (value) => {
        if (done) {
          onLate?.(value)
          return
        }
        done = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => finish(err),
    )
  })
}

/**
 * What an aborted signal should reject with: its own reason, or an {@link AbortedError}.
 * (The default reason of `controller.abort()` is a DOMException named AbortError; kept.)
 */
export function abortReason(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason
  return reason === undefined ? new AbortedError() : reason
}
