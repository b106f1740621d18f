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
import type { EventDraft } from '../contract/contract.js'
import { epochTagOfId, eventIdOf, seqOfId, type RunEvent } from '../events/envelope.js'
import {
  AskAnsweredError,
  AskExpiredError,
  AskNotFoundError,
  AskTimeoutError,
  InvalidArgumentError,
  RunEndedError,
  RunNotFoundError,
  TimeoutError,
  ValidationError,
} from '../events/errors.js'
import { checkOptions } from '../events/options.js'
import { encodePayload } from '../events/codec.js'
import { checkAskId, checkRunId, newAskId } from '../events/ids.js'
import { describeSchema, isStandardSchema, type StandardSchemaV1 } from '../events/schema.js'
import type { BusApi } from '../bus/bus.js'
import { createSchemaChecks } from './schema-check.js'
import { Follower } from '../streams/follow.js'
import type {
  AnswerEventData,
  AskFn,
  AskEventData,
  AskExpiredEventData,
  AskExpiryReason,
  AskInfo,
  AskKind,
  AskOptions,
} from './types.js'

const KINDS: ReadonlySet<string> = new Set(['confirm', 'text', 'choice', 'form', 'human_as_model'])
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

/** How often a waiting agent also checks kv for its ask's outcome. */
const RESULT_POLL_MS = 15_000
/** How often an instance checks the asks it armed (`asks.create`) for ended runs. */
const SWEEP_MS = 60_000
/** How long an ask without timeout stays answerable. */
const OPEN_ASK_TTL_MS = 7 * 24 * 3600 * 1000

interface AskRecord {
  id: string
  run: string
  kind: AskKind
  prompt: string
  data?: unknown
  choices?: string[]
  schema?: Record<string, unknown>
  hasSchema?: boolean
  createdAt: number
  expiresAt?: number
  eventId?: string
  ttlMs: number
}

/**
 * Who answers, as `rb.asks.answer` records it.
 *
 * @example
 * ```ts
 * await rb.asks.answer(id, true, { by: 'user:42', label: 'Ada' })
 * ```
 */
export interface AnswerOptions {
  /** Who answered (the hub passes its token's subject). At most 200 characters. */
  by?: string
  /** A label of the answerer's choosing, kept beside `by`. At most 200 characters. */
  label?: string
}

/**
 * Control, format and bidi-override characters (C0, C1, U+200B–U+200F, U+202A–U+202E,
 * U+2060–U+206F, U+FEFF): a name with them could be made to read as another on screen.
 */
// eslint-disable-next-line no-control-regex
const DISGUISING = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]/u

/** Checks `by` / `label` of an answer: a short plain string. */
function checkAnswerer(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0 || value.length > 200)
    throw new InvalidArgumentError(`${name} must be a string of 1 to 200 characters`)
  if (DISGUISING.test(value))
    throw new InvalidArgumentError(
      `${name} must not contain control, format or bidi-override characters`,
    )
  return value
}

interface AskResult {
  state: 'answered' | 'expired'
  answer?: unknown
  by?: string
  label?: string
  reason?: AskExpiryReason
  at: number
}

/**
 * Options of `rb.asks.wait()`.
 *
 * @example
 * ```ts
 * await rb.asks.wait(askId, { timeout: 60_000, schema: FormSchema })
 * ```
 */
export interface AskWaitOptions {
  /** Stop waiting after this many ms (`TimeoutError`; the ask stays pending). */
  timeout?: number
  signal?: AbortSignal
  /** Re-register the ask's schema in this instance (after a restart). */
  schema?: StandardSchemaV1
}

/**
 * What `rb.asks.create()` takes: `run.ask()`'s options without `signal` (nobody waits).
 *
 * @example
 * ```ts
 * const spec: AskCreateOptions = { kind: 'confirm', prompt: 'Deploy?', timeout: 3_600_000 }
 * ```
 */
const CREATE_OPTIONS = {
  kind: 'string',
  prompt: 'string',
  data: 'any',
  choices: 'array',
  schema: ['object', 'function'],
  timeout: 'number',
} as const
const ASK_OPTIONS = { ...CREATE_OPTIONS, signal: 'signal' } as const

export type AskCreateOptions = Omit<AskOptions<AskKind, StandardSchemaV1 | undefined>, 'signal'>

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

/** @internal Builds `rb.asks` and the ask function of run handles. */
export function createAsks(
  ctx: Context,
  bus: BusApi,
  verdictTimeoutMs: number,
): { api: AsksApi; ask: AskFn } {
  const kv = ctx.backend.kv
  const checks = createSchemaChecks(bus, verdictTimeoutMs)
  const key = (id: string): string => `ask:${id}`
  const resultKey = (id: string): string => `ask:${id}:result`

  async function load(id: string): Promise<AskRecord> {
    const raw = await kv.get(key(id))
    if (raw === undefined) throw new AskNotFoundError(id)
    return JSON.parse(raw) as AskRecord
  }

  async function loadResult(id: string): Promise<AskResult | undefined> {
    const raw = await kv.get(resultKey(id))
    return raw === undefined ? undefined : (JSON.parse(raw) as AskResult)
  }

  function info(rec: AskRecord, result: AskResult | undefined): AskInfo {
    const out: AskInfo = {
      id: rec.id,
      run: rec.run,
      kind: rec.kind,
      prompt: rec.prompt,
      state: 'pending',
      createdAt: rec.createdAt,
    }
    if (rec.data !== undefined) out.data = rec.data
    if (rec.choices !== undefined) out.choices = rec.choices
    if (rec.schema !== undefined) out.schema = rec.schema
    if (rec.expiresAt !== undefined) out.expiresAt = rec.expiresAt
    if (rec.eventId !== undefined) out.eventId = rec.eventId
    if (result !== undefined) {
      out.state = result.state
      out.decidedAt = result.at
      if (result.state === 'answered') {
        out.answer = result.answer
        if (result.by !== undefined) out.answeredBy = result.by
        if (result.label !== undefined) out.answerLabel = result.label
      } else if (result.reason !== undefined) out.expiredReason = result.reason
    } else if (rec.expiresAt !== undefined && rec.expiresAt <= Date.now()) {
      out.state = 'expired'
      out.expiredReason = 'timeout'
    }
    return out
  }

  function draft(type: string, data: unknown): EventDraft {
    const { json } = encodePayload(data, ctx.maxPayloadBytes, `data of ${type}`)
    return { type, data, json, ts: Date.now() }
  }

  /** Tries to expire the ask; returns the result that holds afterwards (ours or the winner's). */
  async function expire(rec: AskRecord, reason: AskExpiryReason): Promise<AskResult> {
    // Whoever wins, the ask is decided after this: nothing of it need stay armed here.
    disarm(rec.id)
    const mine: AskResult = { state: 'expired', reason, at: Date.now() }
    if (await kv.setIfAbsent(resultKey(rec.id), JSON.stringify(mine), rec.ttlMs)) {
      const data: AskExpiredEventData = { ask: rec.id, reason }
      await ctx.backend.runs.append(rec.run, [draft('ask_expired', data)]).catch((err: unknown) => {
        // The run ended or expired: the outcome is in kv; there is no log to write to.
        if (!(err instanceof RunEndedError) && !(err instanceof RunNotFoundError)) throw err
      })
      return mine
    }
    return (await loadResult(rec.id)) ?? mine
  }

  function outcome(rec: AskRecord, result: AskResult, timeoutMs: number | undefined): unknown {
    if (result.state === 'answered') return result.answer
    if (result.reason === 'timeout') {
      throw new AskTimeoutError(rec.id, timeoutMs ?? (rec.expiresAt ?? result.at) - rec.createdAt)
    }
    throw new AskExpiredError(
      rec.id,
      `ask ${JSON.stringify(rec.id)} expired (${result.reason ?? 'expired'})`,
    )
  }

  /**
   * Waits for the outcome by following the run log from the ask event. `expiresAt` arms the
   * expiry (whoever waits may expire it: the agent or a re-attached one).
   */
  async function awaitOutcome(
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
      if (opts.expireOnAbort) await expire(rec, 'cancelled')
      throw signal.reason
    }
    const after =
      rec.eventId !== undefined && seqOfId(rec.eventId) !== undefined
        ? eventIdOf(seqOfId(rec.eventId)! - 1, epochTagOfId(rec.eventId))
        : 'start'
    const ac = new AbortController()
    const follower = new Follower(ctx, rec.run, { after, signal: ac.signal })
    let expiryTimer: ReturnType<typeof setTimeout> | undefined
    let waitTimer: ReturnType<typeof setTimeout> | undefined
    // The outcome is decided in kv before its event is appended: if the deciding process died
    // in between, the log never tells us. Checking kv now and then closes that hole.
    const poll = setInterval(() => {
      loadResult(rec.id).then(
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
    const side = new Promise<
      { kind: 'result'; result: AskResult } | { kind: 'error'; err: unknown }
    >((r) => (settled = r))
    const untrack = ctx.track('ask', {
      close: (reason) => settled?.({ kind: 'error', err: reason }),
    })
    const onAbort = (): void => {
      if (!opts.expireOnAbort) return settled?.({ kind: 'error', err: signal?.reason })
      expire(rec, 'cancelled').then(
        () => settled?.({ kind: 'error', err: signal?.reason }),
        (err: unknown) => settled?.({ kind: 'error', err }),
      )
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    if (rec.expiresAt !== undefined) {
      expiryTimer = setTimeout(
        () => {
          expire(rec, 'timeout').then(
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
          if (e.type === 'end') return { kind: 'result', result: await expire(rec, 'run_ended') }
        }
        // Follower ended without the outcome (closed by us, or the log was trimmed): ask kv.
        const r = await loadResult(rec.id)
        return r === undefined
          ? { kind: 'error', err: new AskNotFoundError(rec.id) }
          : { kind: 'result', result: r }
      } catch (err) {
        if (err instanceof RunNotFoundError) {
          const r = await loadResult(rec.id)
          if (r !== undefined) return { kind: 'result', result: r }
          return { kind: 'result', result: await expire(rec, 'run_ended') }
        }
        return { kind: 'error', err }
      }
    })()
    try {
      const first = await Promise.race([side, fromLog])
      if (first.kind === 'error') throw first.err
      disarm(rec.id)
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

  function checkAnswer(rec: AskRecord, value: unknown): void {
    const issue = (message: string): never => {
      throw new ValidationError([{ message }], `answer to ask ${rec.id}`)
    }
    switch (rec.kind) {
      case 'confirm':
        if (typeof value !== 'boolean') issue('a confirm ask takes true or false')
        break
      case 'choice':
        if (typeof value !== 'string' || !(rec.choices ?? []).includes(value)) {
          issue(`the answer must be one of ${JSON.stringify(rec.choices ?? [])}`)
        }
        break
      case 'text':
      case 'human_as_model':
        if (typeof value !== 'string') issue(`a ${rec.kind} ask takes a string`)
        break
      case 'form':
        break
    }
  }

  /** Checks what `run.ask()` / `asks.create()` take; throws InvalidArgumentError. */
  function checkAsk(options: AskCreateOptions, where: 'ask' | 'asks.create'): void {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('ask options must be an object')
    }
    checkOptions(where, options, where === 'ask' ? ASK_OPTIONS : CREATE_OPTIONS)
    const { kind, prompt, choices, schema, timeout } = options
    if (!KINDS.has(kind)) throw new InvalidArgumentError(`unknown ask kind ${JSON.stringify(kind)}`)
    if (typeof prompt !== 'string') throw new InvalidArgumentError('prompt must be a string')
    if (
      kind === 'choice' &&
      (!Array.isArray(choices) ||
        choices.length === 0 ||
        !choices.every((c) => typeof c === 'string'))
    ) {
      throw new InvalidArgumentError('a choice ask needs choices: a non-empty array of strings')
    }
    if (timeout !== undefined && !(timeout >= 0 && Number.isFinite(timeout))) {
      throw new InvalidArgumentError('timeout must be a finite number >= 0')
    }
    if (schema !== undefined && !isStandardSchema(schema)) {
      throw new InvalidArgumentError('schema must implement Standard Schema v1')
    }
  }

  /**
   * The one way an ask comes to be (`run.ask()` and `asks.create()`): writes the record,
   * holds the schema (so checks can reach us before anyone sees the ask), appends the `ask`
   * event with `append`, and records the event id. Resolves with the record and the release
   * of the schema hold (the caller owns it). Options must have been checked.
   */
  async function createAsk(
    runId: string,
    askId: string,
    options: AskCreateOptions,
    append: (type: string, data: unknown) => Promise<RunEvent>,
  ): Promise<{ rec: AskRecord; release: (() => void) | undefined }> {
    const { kind, prompt, data, choices, schema, timeout } = options
    const now = Date.now()
    const rec: AskRecord = {
      id: askId,
      run: runId,
      kind,
      prompt,
      createdAt: now,
      ttlMs: (timeout ?? OPEN_ASK_TTL_MS) + Math.max(ctx.ttlMs, 3_600_000),
    }
    if (data !== undefined) rec.data = data
    if (choices !== undefined) rec.choices = [...choices]
    if (timeout !== undefined) rec.expiresAt = now + timeout
    if (schema !== undefined) {
      rec.hasSchema = true
      const described = describeSchema(schema)
      if (described !== undefined) rec.schema = described
    }
    const ev: AskEventData = { ask: askId, kind, prompt }
    if (rec.data !== undefined) ev.data = rec.data
    if (rec.choices !== undefined) ev.choices = rec.choices
    if (rec.expiresAt !== undefined) ev.expiresAt = rec.expiresAt
    if (rec.schema !== undefined) ev.schema = rec.schema
    encodePayload(ev, ctx.maxPayloadBytes, 'ask')
    await kv.set(key(askId), JSON.stringify(rec), rec.ttlMs)
    // Reachable for checks before anyone can see the ask.
    const release = schema === undefined ? undefined : await checks.hold(askId, schema)
    try {
      let event: RunEvent
      try {
        event = await append('ask', ev)
      } catch (err) {
        await kv.delete(key(askId)).catch(() => undefined)
        throw err
      }
      rec.eventId = event.id
      await kv.set(key(askId), JSON.stringify(rec), rec.ttlMs)
      return { rec, release }
    } catch (err) {
      release?.()
      throw err
    }
  }

  /**
   * Asks created with `asks.create()` whose expiry timer or schema hold lives here. An entry
   * goes as soon as this instance sees the ask decided (answer, expiry, a waiter's outcome,
   * a `get`), when its timer fires, or on `close()`; a sweep (one timer, only while entries
   * exist) lets go of asks decided elsewhere and expires those whose run ended (reason
   * `run_ended`, as a waiting `run.ask()` would). Nothing stays per ask or per run.
   */
  interface Armed {
    rec: AskRecord
    timer?: ReturnType<typeof setTimeout>
    release?: () => void
    untrack: () => void
  }
  const armed = new Map<string, Armed>()
  let sweeper: ReturnType<typeof setInterval> | undefined
  let sweeping = false

  function disarm(askId: string): void {
    const entry = armed.get(askId)
    if (entry === undefined) return
    armed.delete(askId)
    if (entry.timer !== undefined) clearTimeout(entry.timer)
    entry.release?.()
    entry.untrack()
    if (armed.size === 0 && sweeper !== undefined) {
      clearInterval(sweeper)
      sweeper = undefined
    }
  }

  /** Lets go of armed asks decided elsewhere; expires those whose run ended or is gone. */
  async function sweep(): Promise<void> {
    if (sweeping || ctx.closed) return
    sweeping = true
    try {
      const byRun = new Map<string, AskRecord[]>()
      for (const { rec } of armed.values()) {
        const list = byRun.get(rec.run)
        if (list === undefined) byRun.set(rec.run, [rec])
        else list.push(rec)
      }
      for (const [run, recs] of byRun) {
        if (ctx.closed) return
        // A failing backend: try again next sweep.
        const info = await ctx.backend.runs.getRun(run).then(
          (r) => ({ r }),
          () => undefined,
        )
        if (info === undefined) continue
        const ended = info.r === undefined || info.r.status !== 'running'
        for (const rec of recs) {
          if (!armed.has(rec.id) || ctx.closed) continue
          const result = await loadResult(rec.id).then(
            (r) => ({ r }),
            () => undefined,
          )
          if (result === undefined) continue
          if (result.r !== undefined) disarm(rec.id)
          else if (ended) await expire(rec, 'run_ended').catch(() => undefined)
        }
      }
    } finally {
      sweeping = false
    }
  }

  function arm(rec: AskRecord, release: (() => void) | undefined): void {
    if (rec.expiresAt === undefined && release === undefined) return
    const entry: Armed = { rec, untrack: ctx.track('armed', { close: () => disarm(rec.id) }) }
    if (release !== undefined) entry.release = release
    if (rec.expiresAt !== undefined) {
      entry.timer = setTimeout(
        () => {
          disarm(rec.id)
          // A failure here leaves the ask to `answer()`, which expires it once past expiresAt.
          expire(rec, 'timeout').catch(() => undefined)
        },
        Math.max(0, rec.expiresAt - Date.now()),
      )
      // The ask stays expired without this timer (see `create`): no reason to hold the process.
      entry.timer.unref?.()
    }
    armed.set(rec.id, entry)
    if (sweeper === undefined) {
      sweeper = setInterval(() => void sweep(), SWEEP_MS)
      sweeper.unref?.()
    }
  }

  const ask: AskFn = async (host, askId, options) => {
    ctx.checkOpen()
    checkAsk(options, 'ask')
    const signal = options.signal ?? host.signal
    if (signal.aborted) throw signal.reason
    const { rec, release } = await createAsk(host.id, askId, options, (type, data) =>
      host.appendReserved(type, data),
    )
    try {
      return await awaitOutcome(rec, { signal, expireOnAbort: true, timeoutMs: options.timeout })
    } finally {
      release?.()
    }
  }

  const api: AsksApi = {
    async create(runId, options) {
      ctx.checkOpen()
      checkRunId(runId)
      checkAsk(options, 'asks.create')
      const run = await ctx.backend.runs.getRun(runId)
      if (run === undefined) throw new RunNotFoundError(runId)
      if (run.status !== 'running') throw new RunEndedError(runId)
      const { rec, release } = await createAsk(runId, newAskId(), options, async (type, data) => {
        const [event] = await ctx.backend.runs.append(runId, [draft(type, data)])
        return event
      })
      arm(rec, release)
      return info(rec, undefined)
    },

    async answer(askId, value, options = {}) {
      ctx.checkOpen()
      checkOptions('asks.answer', options, { by: 'string', label: 'string' })
      checkAskId(askId)
      const rec = await load(askId)
      let result = await loadResult(askId)
      if (result === undefined && rec.expiresAt !== undefined && rec.expiresAt <= Date.now()) {
        result = await expire(rec, 'timeout')
      }
      if (result === undefined) {
        const run = await ctx.backend.runs.getRun(rec.run)
        if (run === undefined || run.status !== 'running') result = await expire(rec, 'run_ended')
      }
      if (result !== undefined) {
        disarm(askId)
        if (result.state === 'answered') throw new AskAnsweredError(askId)
        throw new AskExpiredError(askId)
      }
      checkAnswer(rec, value)
      const answer = rec.hasSchema === true ? await checks.check(askId, value) : value
      const by = checkAnswerer('by', options.by)
      const label = checkAnswerer('label', options.label)
      const eventData: AnswerEventData = { ask: askId, answer }
      if (by !== undefined) eventData.by = by
      if (label !== undefined) eventData.label = label
      const d = draft('answer', eventData)
      const mine: AskResult = { state: 'answered', answer, at: Date.now() }
      if (by !== undefined) mine.by = by
      if (label !== undefined) mine.label = label
      const won = await kv.setIfAbsent(resultKey(askId), JSON.stringify(mine), rec.ttlMs)
      // Decided either way: release the expiry timer and schema hold `create` armed here.
      disarm(askId)
      if (!won) {
        const winner = await loadResult(askId)
        if (winner?.state === 'expired') throw new AskExpiredError(askId)
        throw new AskAnsweredError(askId)
      }
      await ctx.backend.runs.append(rec.run, [d])
      return info(rec, mine)
    },

    async get(askId) {
      ctx.checkOpen()
      checkAskId(askId)
      const rec = await load(askId)
      const result = await loadResult(askId)
      if (result !== undefined) disarm(askId)
      return info(rec, result)
    },

    async pending(options = {}) {
      ctx.checkOpen()
      const runIds =
        options.run !== undefined
          ? [options.run]
          : (await ctx.backend.runs.listRuns({ status: 'running', limit: 1000 })).map((r) => r.id)
      const out: AskInfo[] = []
      for (const run of runIds) {
        const open = new Set<string>()
        let after = 0
        for (;;) {
          let page
          try {
            page = await ctx.backend.runs.read(run, after, ctx.pageSize)
          } catch (err) {
            if (err instanceof RunNotFoundError && options.run === undefined) break
            throw err
          }
          for (const e of page.events) {
            const id = (e.data as { ask?: unknown } | null)?.ask
            if (typeof id !== 'string') continue
            if (e.type === 'ask') open.add(id)
            else if (e.type === 'answer' || e.type === 'ask_expired') open.delete(id)
          }
          if (page.events.length < ctx.pageSize) break
          after = page.events[page.events.length - 1].seq
        }
        for (const id of open) {
          const raw = await kv.get(key(id))
          if (raw === undefined) continue
          const a = info(JSON.parse(raw) as AskRecord, await loadResult(id))
          if (a.state === 'pending') out.push(a)
        }
      }
      return out
    },

    async wait(askId, options = {}) {
      ctx.checkOpen()
      checkOptions('asks.wait', options, {
        timeout: 'number',
        signal: 'signal',
        schema: ['object', 'function'],
      })
      checkAskId(askId)
      if (options.timeout !== undefined && !(options.timeout >= 0))
        throw new InvalidArgumentError('timeout must be >= 0')
      const rec = await load(askId)
      let release: (() => void) | undefined
      if (options.schema !== undefined) {
        if (!isStandardSchema(options.schema))
          throw new InvalidArgumentError('schema must implement Standard Schema v1')
        release = await checks.hold(askId, options.schema)
      }
      try {
        const result = await loadResult(askId)
        if (result !== undefined) {
          disarm(askId)
          return outcome(rec, result, undefined)
        }
        return await awaitOutcome(rec, {
          timeout: options.timeout,
          signal: options.signal,
          expireOnAbort: false,
        })
      } finally {
        release?.()
      }
    },
  }
  return { api, ask }
}
