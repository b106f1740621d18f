/**
 * Asks: an agent waits for a person. Works across processes because everything lives in
 * the backend:
 *
 * - The ask record is `kv["ask:<id>"]` (JSON), written before the `ask` event is appended
 *   to the run, so anyone who saw the event can find the record.
 * - Exactly one outcome wins: `kv.setIfAbsent("ask:<id>:result", …)` decides between an
 *   answer and an expiry (timeout, cancel, run ended), whichever process tries first. The
 *   winner, and only the winner, appends the `answer` or `ask_expired` event.
 * - The agent learns the outcome by following the run log from its `ask` event (so an
 *   answer given in another process reaches it), and re-attaches after a restart with
 *   `rb.asks.wait(id)` the same way.
 * - `run.ask()` is `create` + wait: the same code writes the record and appends the event
 *   (through the handle, ordered after its emits), then follows the log. `rb.asks.create()`
 *   does the first half for any run, on the backend directly, and only arms the ask's expiry
 *   timer (and schema hold) in this instance until the ask is decided or its run ended
 *   (found by one shared sweep a minute): no handle, follower or waiter per run or per ask.
 * - `pending({ run })` reads the run's log for `ask` events not followed by their `answer`
 *   / `ask_expired` (O(retained events of that run); asks trimmed out of the log are not
 *   listed, but can still be answered by id). `pending()` without a run does that for the
 *   running runs (up to 1,000).
 * - Answers pass the kind's built-in check (confirm → boolean, choice → one of choices,
 *   text/human_as_model → string) where they are given, and the ask's Standard Schema
 *   where it is held: the asking instance, or one that re-attached with
 *   `rb.asks.wait(id, { schema })`; another instance asks the holder over the bus
 *   (`schema-check.ts`). The JSON Schema (when the validator offers one) is stored for UIs.
 */
import type { Context } from '../context.js'
import type { BusApi } from '../bus/bus.js'
import { answer, get } from './answer.js'
import { AskCore } from './core.js'
import { createAsk, createForRun } from './create.js'
import { AskExpiry } from './expiry.js'
import {
  type AnswerOptions,
  type AskCreateOptions,
  type AskWaitOptions,
  checkAsk,
} from './options.js'
import { pending } from './pending.js'
import type { AskFn, AskInfo } from './types.js'
import { awaitOutcome, waitFor } from './wait.js'

export type { AnswerOptions, AskCreateOptions, AskWaitOptions } from './options.js'

/**
 * `rb.asks`: create, answer, inspect and re-attach to asks.
 *
 * @example
 * ```ts
 * for (const a of await rb.asks.pending({ run: runId })) await rb.asks.answer(a.id, true, { by: 'ada' })
 * ```
 */
export interface AsksApi {
  /**
   * Asks a person on behalf of a run, without waiting: writes the ask, appends its `ask`
   * event to the run and resolves with the ask (state `pending`) at once. Learn the outcome
   * with `wait(id)`, `get(id)`, or by following the run (`answer` / `ask_expired` events).
   *
   * The run may belong to another process (an agent speaking HTTP to a hub, say): nothing is
   * opened on it. With `timeout`, this instance arms the ask's expiry, so it expires (an
   * `ask_expired` event) even if nobody waits. The timer does not keep the process alive and
   * is released as soon as the ask is answered or expires through this instance, or, at the
   * latest a minute after, once it was answered elsewhere or its run ended (the ask then
   * expires with reason `run_ended`, as a waiting `run.ask()` would). If this
   * instance closes or the process dies first, no `ask_expired` event is appended on time,
   * but the ask is still expired: `answer()` refuses it with `AskExpiredError` once
   * `expiresAt` has passed (and appends the `ask_expired` event then), `get()` reports it
   * `expired`. With `schema`, this instance checks answers for it until the ask is answered
   * or expires here (or `close()`).
   *
   * Gotchas: unlike `run.ask()`, the `ask` event is not ordered after events a `Run` handle
   * of this process has emitted but not yet stored (call `run.flush()` first if it matters).
   *
   * @throws RunNotFoundError, RunEndedError, InvalidArgumentError (bad run id, kind, prompt,
   * choices, timeout or schema), PayloadTooLargeError.
   * @example
   * ```ts
   * const ask = await rb.asks.create(runId, { kind: 'confirm', prompt: 'Deploy?', timeout: 600_000 })
   * // … later, maybe in another process:
   * const ok = await rb.asks.wait(ask.id) // true / false; AskTimeoutError after 10 minutes
   * ```
   */
  create(runId: string, options: AskCreateOptions): Promise<AskInfo>
  /**
   * Answers an ask; the first valid answer wins.
   * @throws AskNotFoundError, AskAnsweredError, AskExpiredError, ValidationError (with issues).
   */
  answer(askId: string, value: unknown, options?: AnswerOptions): Promise<AskInfo>
  /** @throws AskNotFoundError */
  get(askId: string): Promise<AskInfo>
  /** Pending asks of a run, or of every running run. */
  pending(options?: { run?: string }): Promise<AskInfo[]>
  /**
   * Waits for an ask's outcome (re-attach after a restart): resolves with the answer.
   * @throws AskExpiredError / AskTimeoutError (the ask expired), TimeoutError (`timeout`).
   */
  wait(askId: string, options?: AskWaitOptions): Promise<unknown>
}

/**
 * @internal Builds `rb.asks` and the ask function of run handles, from their parts: the
 * records (`records.ts`), the options and checks (`options.ts`), creating (`create.ts`),
 * answering (`answer.ts`), waiting (`wait.ts`), listing (`pending.ts`) and expiry
 * (`expiry.ts`), over one shared `AskCore`.
 */
export function createAsks(
  ctx: Context,
  bus: BusApi,
  verdictTimeoutMs: number,
): { api: AsksApi; ask: AskFn } {
  const core = new AskCore(ctx, bus, verdictTimeoutMs)
  const expiry = new AskExpiry(core)

  const ask: AskFn = async (host, askId, options) => {
    ctx.checkOpen()
    checkAsk(options, 'ask')
    const signal = options.signal ?? host.signal
    if (signal.aborted) throw signal.reason
    const { rec, release } = await createAsk(core, host.id, askId, options, (type, data) =>
      host.appendReserved(type, data),
    )
    try {
      return await awaitOutcome(core, expiry, rec, {
        signal,
        expireOnAbort: true,
        timeoutMs: options.timeout,
      })
    } finally {
      release?.()
    }
  }

  const api: AsksApi = {
    create: (runId, options): Promise<AskInfo> => createForRun(core, expiry, runId, options),
    answer: (askId, value, options = {}) => answer(core, expiry, askId, value, options),
    get: (askId) => get(core, expiry, askId),
    pending: (options = {}) => pending(core, options),
    wait: (askId, options = {}) => waitFor(core, expiry, askId, options),
  }
  return { api, ask }
}
