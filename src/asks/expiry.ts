/**
 * Expiry: deciding an ask as expired (timeout, cancel, run ended) — the one writer of the
 * `ask_expired` event — and the asks armed in this instance.
 *
 * Asks created with `asks.create()` whose expiry timer or schema hold lives here are
 * "armed". An entry goes as soon as this instance sees the ask decided (answer, expiry, a
 * waiter's outcome, a `get`), when its timer fires, or on `close()`; a sweep (one timer,
 * only while entries exist) lets go of asks decided elsewhere and expires those whose run
 * ended (reason `run_ended`, as a waiting `run.ask()` would). Nothing stays per ask or per
 * run.
 */
import { RunEndedError, RunNotFoundError } from '../events/errors.js'
import type { AskCore } from './core.js'
import { type AskRecord, type AskResult, resultKey } from './records.js'
import type { AskExpiredEventData, AskExpiryReason } from './types.js'

/** How often an instance checks the asks it armed (`asks.create`) for ended runs. */
const SWEEP_MS = 60_000

interface Armed {
  rec: AskRecord
  timer?: ReturnType<typeof setTimeout>
  release?: () => void
  untrack: () => void
}

/** Expires asks, and keeps the asks armed here (see the file comment). Internal. */
export class AskExpiry {
  readonly #armed = new Map<string, Armed>()
  #sweeper: ReturnType<typeof setInterval> | undefined
  #sweeping = false

  constructor(private readonly core: AskCore) {}

  /** Tries to expire the ask; returns the result that holds afterwards (ours or the winner's). */
  async expire(rec: AskRecord, reason: AskExpiryReason): Promise<AskResult> {
    const { ctx, kv } = this.core
    // Whoever wins, the ask is decided after this: nothing of it need stay armed here.
    this.disarm(rec.id)
    const mine: AskResult = { state: 'expired', reason, at: Date.now() }
    if (await kv.setIfAbsent(resultKey(rec.id), JSON.stringify(mine), rec.ttlMs)) {
      const data: AskExpiredEventData = { ask: rec.id, reason }
      await ctx.backend.runs
        .append(rec.run, [this.core.draft('ask_expired', data)])
        .catch((err: unknown) => {
          // The run ended or expired: the outcome is in kv; there is no log to write to.
          if (!(err instanceof RunEndedError) && !(err instanceof RunNotFoundError)) throw err
        })
      return mine
    }
    return (await this.core.loadResult(rec.id)) ?? mine
  }

  /** Lets go of what this instance armed for `askId` (timer, schema hold), if anything. */
  disarm(askId: string): void {
    const entry = this.#armed.get(askId)
    if (entry === undefined) return
    this.#armed.delete(askId)
    if (entry.timer !== undefined) clearTimeout(entry.timer)
    entry.release?.()
    entry.untrack()
    if (this.#armed.size === 0 && this.#sweeper !== undefined) {
      clearInterval(this.#sweeper)
      this.#sweeper = undefined
    }
  }

  /** Lets go of armed asks decided elsewhere; expires those whose run ended or is gone. */
  async sweep(): Promise<void> {
    const ctx = this.core.ctx
    if (this.#sweeping || ctx.closed) return
    this.#sweeping = true
    try {
      const byRun = new Map<string, AskRecord[]>()
      for (const { rec } of this.#armed.values()) {
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
          if (!this.#armed.has(rec.id) || ctx.closed) continue
          const result = await this.core.loadResult(rec.id).then(
            (r) => ({ r }),
            () => undefined,
          )
          if (result === undefined) continue
          if (result.r !== undefined) this.disarm(rec.id)
          else if (ended) await this.expire(rec, 'run_ended').catch(() => undefined)
        }
      }
    } finally {
      this.#sweeping = false
    }
  }

  /** Arms an ask created here: its expiry timer and/or its schema hold (`release`). */
  arm(rec: AskRecord, release: (() => void) | undefined): void {
    if (rec.expiresAt === undefined && release === undefined) return
    const entry: Armed = {
      rec,
      untrack: this.core.ctx.track('armed', { close: () => this.disarm(rec.id) }),
    }
    if (release !== undefined) entry.release = release
    if (rec.expiresAt !== undefined) {
      entry.timer = setTimeout(
        () => {
          this.disarm(rec.id)
          // A failure here leaves the ask to `answer()`, which expires it once past expiresAt.
          this.expire(rec, 'timeout').catch(() => undefined)
        },
        Math.max(0, rec.expiresAt - Date.now()),
      )
      // The ask stays expired without this timer (see `create`): no reason to hold the process.
      entry.timer.unref?.()
    }
    this.#armed.set(rec.id, entry)
    if (this.#sweeper === undefined) {
      this.#sweeper = setInterval(() => void this.sweep(), SWEEP_MS)
      this.#sweeper.unref?.()
    }
  }
}
