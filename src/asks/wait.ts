/**
 * Waiting for an ask's outcome: a cursor on the run log from the ask's event (so an answer
 * given in another process reaches the agent), with the ask's expiry armed, a bounded wait,
 * cancellation, and a slow kv poll for an outcome whose event was never appended.
 */
import { epochTagOfId, eventIdOf, seqOfId } from '../events/envelope.js'
import {
  AskNotFoundError,
  InvalidArgumentError,
  RunNotFoundError,
  TimeoutError,
} from '../events/errors.js'
import { checkOptions } from '../events/options.js'
import { checkAskId } from '../events/ids.js'
import { isStandardSchema } from '../events/schema.js'
import { Follower } from '../streams/follow.js'
import type { AskCore } from './core.js'
import type { AskExpiry } from './expiry.js'
import type { AskWaitOptions } from './options.js'
import { type AskRecord, type AskResult, outcome } from './records.js'
import type { AnswerEventData, AskExpiredEventData } from './types.js'

/** How often a waiting agent also checks kv for its ask's outcome. */
const RESULT_POLL_MS = 15_000

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

/**
 * Waits for the outcome by following the run log from the ask event. `expiresAt` arms the
 * expiry (whoever waits may expire it: the agent or a re-attached one).
 */
export async function awaitOutcome(
  core: AskCore,
  expiry: AskExpiry,
  rec: AskRecord,
  opts: {
    timeout?: number | undefined
    signal?: AbortSignal | undefined
    expireOnAbort: boolean
    timeoutMs?: number | undefined
  },
): Promise<unknown> {
  const signal = opts.signal
  if (signal?.aborted === true) {
    if (opts.expireOnAbort) await expiry.expire(rec, 'cancelled')
    throw signal.reason
  }
  const after =
    rec.eventId !== undefined && seqOfId(rec.eventId) !== undefined
      ? eventIdOf(seqOfId(rec.eventId)! - 1, epochTagOfId(rec.eventId))
      : 'start'
  const ac = new AbortController()
  const follower = new Follower(core.ctx, rec.run, { after, signal: ac.signal })
  let expiryTimer: ReturnType<typeof setTimeout> | undefined
  let waitTimer: ReturnType<typeof setTimeout> | undefined
  // The outcome is decided in kv before its event is appended: if the deciding process died
  // in between, the log never tells us. Checking kv now and then closes that hole.
  const poll = setInterval(() => {
    core.loadResult(rec.id).then(
      (result) => {
        if (result !== undefined) settled?.({ kind: 'result', result })
      },
      () => undefined,
    )
  }, RESULT_POLL_MS)
  poll.unref?.()
  let settled:
    | ((r: { kind: 'result'; result: AskResult } | { kind: 'error'; err: unknown }) => void)
    | undefined
  const side = new Promise<{ kind: 'result'; result: AskResult } | { kind: 'error'; err: unknown }>(
    (r) => (settled = r),
  )
  const untrack = core.ctx.track('ask', {
    close: (reason) => settled?.({ kind: 'error', err: reason }),
  })
  const onAbort = (): void => {
    if (!opts.expireOnAbort) return settled?.({ kind: 'error', err: signal?.reason })
    expiry.expire(rec, 'cancelled').then(
      () => settled?.({ kind: 'error', err: signal?.reason }),
      (err: unknown) => settled?.({ kind: 'error', err }),
    )
  }
  signal?.addEventListener('abort', onAbort, { once: true })
  if (rec.expiresAt !== undefined) {
    expiryTimer = setTimeout(
      () => {
        expiry.expire(rec, 'timeout').then(
          (result) => settled?.({ kind: 'result', result }),
          (err: unknown) => settled?.({ kind: 'error', err }),
        )
      },
      Math.max(0, rec.expiresAt - Date.now()),
    )
  }
  if (opts.timeout !== undefined) {
    const t = opts.timeout
    waitTimer = setTimeout(
      () =>
        settled?.({
          kind: 'error',
          err: new TimeoutError(t, `ask ${rec.id}: no outcome within ${t} ms`),
        }),
      t,
    )
  }
  const fromLog = (async (): Promise<
    { kind: 'result'; result: AskResult } | { kind: 'error'; err: unknown }
  > => {
    try {
      for await (const e of follower) {
        const d = e.data as { ask?: unknown } | null
        if (e.type === 'answer' && d?.ask === rec.id) {
          const a = e.data as AnswerEventData
          const result: AskResult = { state: 'answered', answer: a.answer, at: e.ts }
          if (a.by !== undefined) result.by = a.by
          if (a.label !== undefined) result.label = a.label
          return { kind: 'result', result }
        }
        if (e.type === 'ask_expired' && d?.ask === rec.id) {
          return {
            kind: 'result',
            result: {
              state: 'expired',
              reason: (e.data as AskExpiredEventData).reason,
              at: e.ts,
            },
          }
        }
        if (e.type === 'end')
          return { kind: 'result', result: await expiry.expire(rec, 'run_ended') }
      }
      // Follower ended without the outcome (closed by us, or the log was trimmed): ask core.kv.
      const r = await core.loadResult(rec.id)
      return r === undefined
        ? { kind: 'error', err: new AskNotFoundError(rec.id) }
        : { kind: 'result', result: r }
    } catch (err) {
      if (err instanceof RunNotFoundError) {
        const r = await core.loadResult(rec.id)
        if (r !== undefined) return { kind: 'result', result: r }
        return { kind: 'result', result: await expiry.expire(rec, 'run_ended') }
      }
      return { kind: 'error', err }
    }
  })()
  try {
    const first = await Promise.race([side, fromLog])
    if (first.kind === 'error') throw first.err
    expiry.disarm(rec.id)
    // Our own cancellation may reach us through the log first: report it as the abort.
    if (first.result.reason === 'cancelled' && aborted(signal)) throw signal?.reason
    return outcome(rec, first.result, opts.timeoutMs)
  } finally {
    settled = undefined
    untrack()
    if (expiryTimer !== undefined) clearTimeout(expiryTimer)
    if (waitTimer !== undefined) clearTimeout(waitTimer)
    clearInterval(poll)
    signal?.removeEventListener('abort', onAbort)
    ac.abort(new InvalidArgumentError('ask wait finished'))
    follower.close()
    await fromLog.catch(() => undefined)
  }
}

/** `rb.asks.wait()`: re-attaches to an ask (after a restart, say) and waits for its outcome. */
export async function waitFor(
  core: AskCore,
  expiry: AskExpiry,
  askId: string,
  options: AskWaitOptions,
): Promise<unknown> {
  core.ctx.checkOpen()
  checkOptions('asks.wait', options, {
    timeout: 'number',
    signal: 'signal',
    schema: ['object', 'function'],
  })
  checkAskId(askId)
  if (options.timeout !== undefined && !(options.timeout >= 0))
    throw new InvalidArgumentError('timeout must be >= 0')
  const rec = await core.load(askId)
  let release: (() => void) | undefined
  if (options.schema !== undefined) {
    if (!isStandardSchema(options.schema))
      throw new InvalidArgumentError('schema must implement Standard Schema v1')
    release = await core.checks.hold(askId, options.schema)
  }
  try {
    const result = await core.loadResult(askId)
    if (result !== undefined) {
      expiry.disarm(askId)
      return outcome(rec, result, undefined)
    }
    return await awaitOutcome(core, expiry, rec, {
      timeout: options.timeout,
      signal: options.signal,
      expireOnAbort: false,
    })
  } finally {
    release?.()
  }
}
