/**
 * The polling protocol of `seeds/000` (auto-coder's queue_communicate), on top of run
 * streams: a `request_id` is a run id; `POST /api/event/get` hands out that run's next
 * event (waiting up to 30 s, 204 when none came) and advances the caller's cursor;
 * `POST /api/event/response` answers the pending ask the event refers to.
 *
 * Cursors live in this hub process (bounded LRU), one per caller (token subject) and run. A
 * client that switches hubs starts again from the beginning of the run; the seed protocol
 * has no way to say where it was. A cursor is the id of the last event handed out, so it
 * names the run's incarnation: after the run id was created again, the next `get` fails
 * with `RunResetError` (410) and the cursor is dropped, so the one after starts the new run
 * from its beginning (never the new run's events as if they continued the old one).
 */
import type { RunEvent } from '../events/envelope.js'
import { AskNotFoundError, InvalidArgumentError, RunResetError } from '../events/errors.js'
import type { Runbus } from '../runbus.js'
import { json, type HubResponse } from './http.js'

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
  /** The id of the last event handed out, per caller and run. */
  readonly #cursors = new Map<string, string>()
  readonly #rb: Runbus
  readonly #opts: Required<CompatOptions>

  constructor(rb: Runbus, options: CompatOptions) {
    this.#rb = rb
    this.#opts = { maxCursors: options.maxCursors ?? 10_000, waitMs: options.waitMs }
  }

  #cursor(key: string): string {
    const c = this.#cursors.get(key)
    if (c !== undefined) {
      this.#cursors.delete(key)
      this.#cursors.set(key, c)
    }
    return c ?? 'start'
  }

  #advance(key: string, id: string): void {
    this.#cursors.delete(key)
    this.#cursors.set(key, id)
    if (this.#cursors.size > this.#opts.maxCursors) {
      const oldest = this.#cursors.keys().next()
      if (!oldest.done) this.#cursors.delete(oldest.value)
    }
  }

  /**
   * `POST /api/event/get`: a cursor of the follow engine from the caller's position, held
   * for one event or `waitMs` (204), whichever comes first.
   */
  async get(run: string, caller: string, signal: AbortSignal): Promise<HubResponse> {
    // One cursor per caller (token subject) and run: a read-only watcher does not consume
    // the events meant for the real client.
    const key = `${caller}\u0000${run}`
    const after = this.#cursor(key)
    const ac = new AbortController()
    const stop = (): void => ac.abort()
    const timer = setTimeout(stop, this.#opts.waitMs)
    signal.addEventListener('abort', stop, { once: true })
    const f = this.#rb.runs.follow(run, {
      after,
      gapAtStart: false,
      bufferSize: 16,
      signal: ac.signal,
    })
    try {
      await f.ready
      for (;;) {
        const r = await f.next()
        if (r.done) return { status: 204 }
        // The seed's clients know no gaps: what was trimmed is skipped, the cursor moves on.
        if (r.value.type === 'gap') continue
        this.#advance(key, r.value.id)
        return json(200, seedEvent(r.value))
      }
    } catch (err) {
      if (ac.signal.aborted) return { status: 204 }
      // The run id is another run now: say so once, then serve the new run from its start.
      if (err instanceof RunResetError) this.#cursors.delete(key)
      throw err
    } finally {
      clearTimeout(timer)
      signal.removeEventListener('abort', stop)
      f.close()
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
      const pending = await this.#rb.asks.pending({ run })
      if (pending.length === 0) throw new AskNotFoundError(`(any pending ask of run ${run})`)
      if (pending.length > 1) {
        throw new InvalidArgumentError(
          `run ${run} has ${pending.length} pending asks: say which with "event": { "ask_id": … }`,
        )
      }
      askId = pending[0].id
    }
    const ask = await this.#rb.asks.get(askId)
    if (ask.run !== run) throw new AskNotFoundError(askId)
    const answered = await this.#rb.asks.answer(askId, response, by === undefined ? {} : { by })
    return json(200, { ok: true, ask: answered })
  }
}
