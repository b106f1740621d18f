/**
 * The polling protocol of `seeds/000` (auto-coder's queue_communicate), on top of run
 * streams: a `request_id` is a run id; `POST /api/event/get` hands out that run's next
 * event (waiting up to 30 s, 204 when none came) and advances the caller's cursor;
 * `POST /api/event/response` answers the pending ask the event refers to.
 *
 * Cursors live in this hub process (bounded LRU). A client that switches hubs starts again
 * from the beginning of the run; the seed protocol has no way to say where it was.
 */
import type { RunEvent } from '../events/envelope.js'
import { AskNotFoundError, InvalidArgumentError } from '../events/errors.js'
import { json, type HubResponse } from './http.js'
import type { AskWire, HubOps } from './ops.js'

/** Options of the compatibility routes. */
export interface CompatOptions {
  /** How long `get` waits for an event before answering 204, in ms (30 000). */
  waitMs: number
  /** Cursors kept (least recently used go first). */
  maxCursors?: number
}

/** An event as the seed's clients read it. */
function seedEvent(ev: RunEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {
    event_type: ev.type,
    data: typeof ev.data === 'string' ? ev.data : JSON.stringify(ev.data),
    event_id: ev.id,
    run: ev.run,
    ts: ev.ts,
  }
  if (ev.type === 'ask' && ev.data !== null && typeof ev.data === 'object') {
    const d = ev.data as Record<string, unknown>
    const id = d.id ?? d.ask
    if (typeof id === 'string') out.ask_id = id
    if (typeof d.kind === 'string') out.kind = d.kind
  }
  return out
}

function askIdOf(event: unknown): string | undefined {
  if (typeof event === 'string') {
    if (event.startsWith('ask_')) return event
    try {
      return askIdOf(JSON.parse(event) as unknown)
    } catch {
      return undefined
    }
  }
  if (event === null || typeof event !== 'object') return undefined
  const e = event as Record<string, unknown>
  for (const k of ['ask_id', 'askId']) if (typeof e[k] === 'string') return e[k]
  if (e.event_type === 'ask' || e.type === 'ask') {
    const data = typeof e.data === 'string' ? askIdOf(e.data) : askIdOf(e.data)
    if (data) return data
  }
  if (typeof e.id === 'string' && e.id.startsWith('ask_')) return e.id
  return undefined
}

/** The two compatibility routes. */
export class CompatRoutes {
  readonly #cursors = new Map<string, number>()
  readonly #ops: HubOps
  readonly #opts: Required<CompatOptions>

  constructor(ops: HubOps, options: CompatOptions) {
    this.#ops = ops
    this.#opts = { maxCursors: options.maxCursors ?? 10_000, waitMs: options.waitMs }
  }

  #cursor(run: string): number {
    const c = this.#cursors.get(run)
    if (c !== undefined) {
      this.#cursors.delete(run)
      this.#cursors.set(run, c)
    }
    return c ?? 0
  }

  #advance(run: string, seq: number): void {
    this.#cursors.delete(run)
    this.#cursors.set(run, seq)
    if (this.#cursors.size > this.#opts.maxCursors) {
      const oldest = this.#cursors.keys().next()
      if (!oldest.done) this.#cursors.delete(oldest.value)
    }
  }

  /** `POST /api/event/get`. */
  async get(run: string, signal: AbortSignal): Promise<HubResponse> {
    const runs = this.#ops.backend.runs
    await this.#ops.getRun(run)
    const after = this.#cursor(run)
    let wake: (() => void) | undefined
    let arrived = false
    const unwatch = await runs.watch(run, {
      onEvents: (evs) => {
        if (evs.some((e) => e.seq > after)) {
          arrived = true
          wake?.()
        }
      },
      onGap: () => {
        arrived = true
        wake?.()
      },
    })
    try {
      const deadline = Date.now() + this.#opts.waitMs
      for (;;) {
        const page = await runs.read(run, after, 1)
        const ev = page.events[0]
        if (ev) {
          this.#advance(run, ev.seq)
          return json(200, seedEvent(ev))
        }
        if (page.ended) return { status: 204 }
        const left = deadline - Date.now()
        if (left <= 0 || signal.aborted) return { status: 204 }
        if (!arrived) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(done, left)
            function done(): void {
              clearTimeout(t)
              signal.removeEventListener('abort', done)
              wake = undefined
              resolve()
            }
            wake = done
            signal.addEventListener('abort', done, { once: true })
          })
        }
        arrived = false
      }
    } finally {
      unwatch()
    }
  }

  /** `POST /api/event/response`. */
  async respond(
    run: string,
    event: unknown,
    response: unknown,
    by: string | undefined,
  ): Promise<HubResponse> {
    let askId = askIdOf(event)
    if (askId === undefined) {
      const pending = await this.#ops.listAsks(run, true)
      if (pending.length === 0) throw new AskNotFoundError(`(any pending ask of run ${run})`)
      if (pending.length > 1) {
        throw new InvalidArgumentError(
          `run ${run} has ${pending.length} pending asks: say which with "event": { "ask_id": … }`,
        )
      }
      askId = pending[0].id
    }
    const ask: AskWire = await this.#ops.getAsk(askId)
    if (ask.run !== run) throw new AskNotFoundError(askId)
    const answered = await this.#ops.answer(askId, response, by)
    return json(200, { ok: true, ask: answered })
  }
}
