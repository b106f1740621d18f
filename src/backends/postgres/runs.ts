/**
 * Run logs on Postgres: `runs` (one row per run: status, seqs, expiry), `events` and
 * `inbox` (one row per entry, primary key (run, seq)). Rows are the truth; NOTIFY is only a
 * wake-up.
 *
 * The shared follower: every watch of this backend instance (logs and inboxes) is a tail
 * with a cursor (the last seq delivered). A NOTIFY `l<seq>:<run>` / `i<seq>:<run>` past a
 * tail's cursor makes it read rows after its cursor (coalesced: one read at a time per
 * tail, re-run when more came meanwhile). A fallback poll (`pollMs`) reads the runs' seqs of
 * every tail in ONE query and catches up any tail that fell behind, so a lost notification
 * (the listening connection dropped) delays a reader by at most `pollMs`, never stalls it.
 *
 * Event ids carry the run's incarnation (`eventIdOf(seq, epochTagOf(created_at))`): every
 * statement that hands out events reads `created_at` with them; inbox ids stay the plain seq.
 *
 * Invariants:
 * - A watch starts at the run's last seq read after LISTEN was in place, so every event
 *   appended after `watch()` resolved is delivered, once, in order.
 * - Entries trimmed before a tail read them: the tail reports `onGap(cursor)`.
 */
import type {
  EventDraft,
  LogListener,
  LogPage,
  RunInfo,
  RunInit,
  RunLogStore,
  Unsubscribe,
} from '../../contract/contract.js'
import type { InboxMessage, RunEnd, RunEvent, RunStatus } from '../../events/envelope.js'
import { epochTagOf, eventIdOf, idOfSeq } from '../../events/envelope.js'
import { DecodeError, RunEndedError, RunNotFoundError } from '../../events/errors.js'
import type { Driver, Row } from './driver.js'

const STATUSES: ReadonlySet<string> = new Set(['running', 'completed', 'failed', 'cancelled'])
const READ_PAGE = 1000

interface Tail {
  readonly kind: 'l' | 'i'
  readonly run: string
  lastSeq: number
  readonly listeners: Set<LogListener>
  reading: boolean
  again: boolean
  /** The highest seq notified while this process's own appends to the run were in flight. */
  notified: number
  /** The id tag of the incarnation last read (`created_at` → tag, computed once per run). */
  epoch: number | undefined
  tag: string
}

/** Counters of the shared follower, for tests and metrics. */
export interface PostgresFollowStats {
  /** Tails (watched logs and inboxes) now. */
  tails: number
  /** Reads of rows after a cursor. */
  reads: number
  /** Fallback polls run. */
  polls: number
  /** Tails a poll found behind (a notification was lost or late). */
  caughtUp: number
  /** Times listeners were told `onGap`. */
  gaps: number
  /** Rows that did not decode (reported to `onError`, skipped). */
  decodeErrors: number
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v)
}

/** `row` (seq, type, data, ts) as an envelope with ids tagged `tag` (`''`: plain, the inbox). */
function toEvent(run: string, row: Row, tag: string): RunEvent {
  const seq = num(row.seq)
  let data: unknown
  try {
    data = JSON.parse(row.data as string)
  } catch (cause) {
    throw new DecodeError(`run ${JSON.stringify(run)}: entry ${seq} holds data that is not JSON`, {
      cause,
    })
  }
  return { id: eventIdOf(seq, tag), run, seq, type: row.type as string, data, ts: num(row.ts) }
}

/** The Postgres implementation of `RunLogStore`. Internal: made by `postgresBackend()`. */
export class PostgresRunLog implements RunLogStore {
  private readonly tails = new Map<string, Tail>()
  /** Appends of this process in flight, by run. */
  private readonly appending = new Map<string, number>()
  private pollTimer: NodeJS.Timeout | undefined
  private closed = false
  /** Inbox messages `send_inbox_n` trimmed for this process's sends. */
  private trimmedInbox = 0
  readonly stats: PostgresFollowStats = {
    tails: 0,
    reads: 0,
    polls: 0,
    caughtUp: 0,
    gaps: 0,
    decodeErrors: 0,
  }

  constructor(
    private readonly db: Driver,
    private readonly s: string,
    private readonly ready: () => Promise<void>,
    private readonly pollMs: number,
  ) {}

  private async q(text: string, params: unknown[], what: string, run?: string): Promise<Row[]> {
    await this.ready()
    return this.db.query(text, params, what, run)
  }

  #lastEpoch: number | undefined = undefined
  #lastTag = ''

  /** The id tag of a run's `created_at` (the last one is kept: computed once per run). */
  private tagOf(epoch: number): string {
    if (epoch !== this.#lastEpoch) {
      this.#lastTag = epochTagOf(epoch)
      this.#lastEpoch = epoch
    }
    return this.#lastTag
  }

  /** The id tag of a tail's row: its run's `created_at` (inbox rows have none: plain). */
  private tailTag(tail: Tail, createdAt: unknown): string {
    if (createdAt === undefined || createdAt === null) return ''
    const epoch = num(createdAt)
    if (epoch !== tail.epoch) {
      tail.epoch = epoch
      tail.tag = epochTagOf(epoch)
    }
    return tail.tag
  }

  async createRun(init: RunInit): Promise<RunInfo> {
    const meta = init.meta === undefined ? null : JSON.stringify(init.meta)
    await this.q(
      `SELECT ${this.s}.create_run($1, $2, $3, $4, $5, $6)`,
      [
        init.id,
        meta,
        init.maxEvents,
        init.ts,
        Date.now(),
        init.maxInboxMessages !== undefined && Number.isFinite(init.maxInboxMessages)
          ? init.maxInboxMessages
          : null,
      ],
      'createRun',
      init.id,
    )
    const info: RunInfo = {
      id: init.id,
      status: 'running',
      createdAt: init.ts,
      lastSeq: 0,
      firstSeq: 1,
      trimmed: 0,
    }
    if (meta !== null) info.meta = JSON.parse(meta) as Record<string, unknown>
    return info
  }

  private toInfo(row: Row): RunInfo | undefined {
    const status = row.status as string
    if (!STATUSES.has(status)) return undefined
    const lastSeq = num(row.last_seq)
    const firstSeq = Math.min(num(row.first_seq), lastSeq + 1)
    const info: RunInfo = {
      id: row.id as string,
      status: status as RunStatus,
      createdAt: num(row.created_at),
      lastSeq,
      firstSeq,
      trimmed: Math.max(0, firstSeq - 1),
    }
    if (typeof row.meta === 'string') {
      try {
        info.meta = JSON.parse(row.meta) as Record<string, unknown>
      } catch {
        // A hand-edited meta: leave it out rather than fail the lookup.
      }
    }
    if (row.ended_at !== null && row.ended_at !== undefined) info.endedAt = num(row.ended_at)
    if (typeof row.error === 'string') info.error = row.error
    return info
  }

  private get cols(): string {
    return 'id, status, meta, created_at, ended_at, error, last_seq, first_seq'
  }

  async getRun(run: string): Promise<RunInfo | undefined> {
    const rows = await this.q(
      `SELECT ${this.cols} FROM ${this.s}.runs WHERE id = $1 AND (expires_at IS NULL OR expires_at > $2)`,
      [run, Date.now()],
      'getRun',
      run,
    )
    return rows[0] === undefined ? undefined : this.toInfo(rows[0])
  }

  async listRuns(query: { status?: RunStatus; limit: number }): Promise<RunInfo[]> {
    if (query.limit <= 0) return []
    const rows =
      query.status === undefined
        ? await this.q(
            `SELECT ${this.cols} FROM ${this.s}.runs WHERE (expires_at IS NULL OR expires_at > $1) ORDER BY ord DESC LIMIT $2`,
            [Date.now(), query.limit],
            'listRuns',
          )
        : await this.q(
            `SELECT ${this.cols} FROM ${this.s}.runs WHERE status = $3 AND (expires_at IS NULL OR expires_at > $1) ORDER BY ord DESC LIMIT $2`,
            [Date.now(), query.limit, query.status],
            'listRuns',
          )
    const out: RunInfo[] = []
    for (const r of rows) {
      const info = this.toInfo(r)
      if (info) out.push(info)
    }
    return out
  }

  async append(run: string, events: EventDraft[]): Promise<RunEvent[]> {
    if (events.length === 0) {
      const info = await this.getRun(run)
      if (!info) throw new RunNotFoundError(run)
      if (info.status !== 'running') throw new RunEndedError(run)
      return []
    }
    const n = events.length
    const types = new Array<string>(n)
    const data = new Array<string>(n)
    const ts = new Array<number>(n)
    for (let i = 0; i < n; i++) {
      const e = events[i]
      types[i] = e.type
      data[i] = e.json
      ts[i] = e.ts
    }
    // PGlite delivers our own NOTIFY before the append resolves: while it is in flight the
    // tail waits for the events in hand instead of reading them (see `stored`).
    this.appending.set(run, (this.appending.get(run) ?? 0) + 1)
    let rows: Row[]
    try {
      rows = await this.q(
        `SELECT first, epoch FROM ${this.s}.append_ep($1, $2, $3, $4, $5)`,
        [run, types, data, ts, Date.now()],
        'append',
        run,
      )
    } finally {
      const left = (this.appending.get(run) ?? 1) - 1
      if (left > 0) this.appending.set(run, left)
      else this.appending.delete(run)
      if (left === 0) queueMicrotask(() => this.caughtUpOrPull(run))
    }
    const first = num(rows[0].first)
    const tag = this.tagOf(num(rows[0].epoch))
    const out = new Array<RunEvent>(n)
    for (let i = 0; i < n; i++) {
      const e = events[i]
      const seq = first + i
      // What a reader will see: the JSON round trip, or the emitter's deeply frozen plain
      // data, which equals it (the core marks it `shared`).
      const value: unknown = e.shared === true ? e.data : JSON.parse(e.json)
      out[i] = { id: eventIdOf(seq, tag), run, seq, type: e.type, data: value, ts: e.ts }
    }
    this.stored(run, out)
    return out
  }

  /**
   * Events this process just stored: a tail of their run whose cursor is right before them
   * takes them at once, with no read (readers in the writer's process, as on PGlite or a
   * hub, pay no statement); its NOTIFY then finds the tail caught up. Any other tail is
   * left to its notification and poll, as for another process's appends.
   */
  private stored(run: string, events: RunEvent[]): void {
    const tail = this.tails.get('l' + run)
    if (tail === undefined || this.closed || events[0].seq !== tail.lastSeq + 1) return
    tail.lastSeq = events[events.length - 1].seq
    this.fanOut(tail, events, [], undefined)
  }

  async endRun(run: string, end: RunEnd, ts: number, ttlMs: number): Promise<RunEvent<RunEnd>> {
    const data: RunEnd =
      end.error === undefined ? { status: end.status } : { status: end.status, error: end.error }
    const expires = Number.isFinite(ttlMs) ? ts + Math.max(1, ttlMs) : null
    const rows = await this.q(
      `SELECT seq, epoch FROM ${this.s}.end_run_ep($1, $2, $3, $4, $5, $6, $7)`,
      [run, end.status, end.error ?? null, JSON.stringify(data), ts, expires, Date.now()],
      'endRun',
      run,
    )
    const seq = num(rows[0].seq)
    return { id: eventIdOf(seq, this.tagOf(num(rows[0].epoch))), run, seq, type: 'end', data, ts }
  }

  async read(run: string, afterSeq: number, limit: number): Promise<LogPage> {
    const rows = await this.q(
      `SELECT r.status, r.last_seq, r.first_seq, r.created_at, e.seq, e.type, e.data, e.ts
       FROM ${this.s}.runs r LEFT JOIN LATERAL (
         SELECT seq, type, data, ts FROM ${this.s}.events
         WHERE run = r.id AND seq > $2 ORDER BY seq LIMIT $3
       ) e ON true
       WHERE r.id = $1 AND (r.expires_at IS NULL OR r.expires_at > $4)`,
      [run, Math.max(0, Math.floor(afterSeq)), Math.max(1, Math.floor(limit)), Date.now()],
      'read',
      run,
    )
    if (rows.length === 0) throw new RunNotFoundError(run)
    const head = rows[0]
    const lastSeq = num(head.last_seq)
    const firstSeq = Math.min(num(head.first_seq), lastSeq + 1)
    const epoch = num(head.created_at)
    const tag = this.tagOf(epoch)
    const events: RunEvent[] = []
    for (const r of rows) {
      if (r.seq === null || r.seq === undefined) continue
      try {
        events.push(toEvent(run, r, tag))
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err
      }
    }
    return { events, firstSeq, lastSeq, ended: head.status !== 'running', epoch }
  }

  watch(run: string, listener: LogListener): Promise<Unsubscribe> {
    return this.follow('l', run, listener)
  }

  /** Inbox messages trimmed by this process's sends (see `RunLogStore.inboxTrimmed`). */
  get inboxTrimmed(): number {
    return this.trimmedInbox
  }

  async sendInbox(run: string, draft: EventDraft): Promise<InboxMessage> {
    let rows: Row[]
    try {
      rows = await this.q(
        `SELECT o_seq AS seq, o_trimmed AS trimmed FROM ${this.s}.send_inbox_n($1, $2, $3, $4, $5)`,
        [run, draft.type, draft.json, draft.ts, Date.now()],
        'sendInbox',
        run,
      )
    } catch (err) {
      if (err instanceof RunEndedError) {
        throw new RunEndedError(run, `run ${JSON.stringify(run)} has ended: its inbox is closed`)
      }
      throw err
    }
    const seq = num(rows[0].seq)
    const trimmed = num(rows[0].trimmed)
    if (trimmed > 0) this.trimmedInbox += trimmed
    return {
      id: idOfSeq(seq),
      run,
      seq,
      type: draft.type,
      data: JSON.parse(draft.json),
      ts: draft.ts,
    }
  }

  async readInbox(run: string, afterSeq: number, limit: number): Promise<InboxMessage[]> {
    const rows = await this.q(
      `SELECT r.id, i.seq, i.type, i.data, i.ts FROM ${this.s}.runs r LEFT JOIN LATERAL (
         SELECT seq, type, data, ts FROM ${this.s}.inbox WHERE run = r.id AND seq > $2
         ORDER BY seq LIMIT $3
       ) i ON true WHERE r.id = $1 AND (r.expires_at IS NULL OR r.expires_at > $4)`,
      [run, Math.max(0, Math.floor(afterSeq)), Math.max(1, Math.floor(limit)), Date.now()],
      'readInbox',
      run,
    )
    if (rows.length === 0) throw new RunNotFoundError(run)
    const out: InboxMessage[] = []
    for (const r of rows) {
      if (r.seq === null || r.seq === undefined) continue
      try {
        out.push(toEvent(run, r, ''))
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err
      }
    }
    return out
  }

  watchInbox(
    run: string,
    listener: { onMessages(messages: InboxMessage[]): void },
  ): Promise<Unsubscribe> {
    return this.follow('i', run, { onEvents: (events) => listener.onMessages(events) })
  }

  // ---- the shared follower ----

  private async follow(kind: 'l' | 'i', run: string, listener: LogListener): Promise<Unsubscribe> {
    await this.ready()
    // LISTEN first, then the cursor: whatever commits after the cursor read notifies us.
    await this.db.listen()
    const key = kind + run
    let tail = this.tails.get(key)
    if (!tail) {
      const rows = await this.db.query(
        `SELECT ${kind === 'l' ? 'last_seq' : 'inbox_seq'} AS seq FROM ${this.s}.runs WHERE id = $1`,
        [run],
        'watch',
        run,
      )
      tail = this.tails.get(key)
      if (!tail) {
        tail = {
          kind,
          run,
          lastSeq: rows[0] === undefined ? 0 : num(rows[0].seq),
          listeners: new Set(),
          reading: false,
          again: false,
          notified: 0,
          epoch: undefined,
          tag: '',
        }
        this.tails.set(key, tail)
      }
    }
    tail.listeners.add(listener)
    this.stats.tails = this.tails.size
    this.startPolling()
    const t = tail
    return () => {
      t.listeners.delete(listener)
      if (t.listeners.size === 0 && this.tails.get(key) === t) {
        this.tails.delete(key)
        this.stats.tails = this.tails.size
        if (this.tails.size === 0) this.stopPolling()
      }
    }
  }

  /** A NOTIFY payload `l<seq>:<run>` or `i<seq>:<run>`. */
  onNotify(kind: 'l' | 'i', body: string): void {
    const colon = body.indexOf(':')
    if (colon < 0) return
    const seq = Number(body.slice(0, colon))
    const run = body.slice(colon + 1)
    const tail = this.tails.get(kind + run)
    if (!tail || seq <= tail.lastSeq) return
    if (kind === 'l' && this.appending.has(run)) {
      tail.notified = Math.max(tail.notified, seq)
      return
    }
    this.pull(tail)
  }

  /** Our appends to `run` are done: a notification they held back is read now if needed. */
  private caughtUpOrPull(run: string): void {
    const tail = this.tails.get('l' + run)
    if (tail === undefined || this.appending.has(run)) return
    const seq = tail.notified
    tail.notified = 0
    if (seq > tail.lastSeq) this.pull(tail)
  }

  /** After the listening connection came back: every tail may have missed wake-ups. */
  onReconnect(): void {
    void this.poll()
  }

  private pull(tail: Tail): void {
    if (tail.reading) {
      tail.again = true
      return
    }
    tail.reading = true
    void this.drain(tail).finally(() => {
      tail.reading = false
    })
  }

  private async drain(tail: Tail): Promise<void> {
    const table = tail.kind === 'l' ? 'events' : 'inbox'
    for (;;) {
      tail.again = false
      if (this.closed || tail.listeners.size === 0) return
      let rows: Row[]
      try {
        this.stats.reads++
        rows = await this.db.query(
          tail.kind === 'l'
            ? `SELECT e.seq, e.type, e.data, e.ts, r.created_at FROM ${this.s}.events e JOIN ${this.s}.runs r ON r.id = e.run WHERE e.run = $1 AND e.seq > $2 ORDER BY e.seq LIMIT ${READ_PAGE}`
            : `SELECT seq, type, data, ts FROM ${this.s}.${table} WHERE run = $1 AND seq > $2 ORDER BY seq LIMIT ${READ_PAGE}`,
          [tail.run, tail.lastSeq],
          'follow',
          tail.run,
        )
      } catch {
        return // unreachable: the next notification or poll tries again
      }
      if (rows.length > 0) this.deliver(tail, rows)
      if (rows.length < READ_PAGE && !tail.again) return
    }
  }

  private deliver(tail: Tail, rows: Row[]): void {
    const events: RunEvent[] = []
    const errors: Error[] = []
    let gapAfter: number | undefined
    for (const row of rows) {
      const seq = num(row.seq)
      if (seq <= tail.lastSeq) continue
      if (seq > tail.lastSeq + 1 && events.length === 0 && errors.length === 0) {
        gapAfter = tail.lastSeq
      }
      tail.lastSeq = seq
      try {
        events.push(toEvent(tail.run, row, this.tailTag(tail, row.created_at)))
      } catch (err) {
        errors.push(err as Error)
      }
    }
    this.fanOut(tail, events, errors, gapAfter)
  }

  private fanOut(
    tail: Tail,
    events: RunEvent[],
    errors: Error[],
    gapAfter: number | undefined,
  ): void {
    this.stats.decodeErrors += errors.length
    if (gapAfter !== undefined) this.stats.gaps++
    for (const l of [...tail.listeners]) {
      if (!tail.listeners.has(l)) continue
      try {
        for (const err of errors) l.onError?.(err)
        if (gapAfter !== undefined) l.onGap?.(gapAfter)
        if (events.length > 0) l.onEvents(events)
      } catch {
        // A listener's failure is its own; the others still get their events.
      }
    }
  }

  private startPolling(): void {
    if (this.pollTimer !== undefined || this.closed) return
    this.pollTimer = setInterval(() => void this.poll(), this.pollMs)
    this.pollTimer.unref?.()
  }

  private stopPolling(): void {
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer)
    this.pollTimer = undefined
  }

  /** One query for the seqs of every watched run; tails found behind read their rows. */
  async poll(): Promise<void> {
    if (this.closed || this.tails.size === 0) return
    const runs = [...new Set([...this.tails.values()].map((t) => t.run))]
    this.stats.polls++
    let rows: Row[]
    try {
      rows = await this.db.query(
        `SELECT id, last_seq, inbox_seq FROM ${this.s}.runs WHERE id = ANY ($1)`,
        [runs],
        'follow (poll)',
      )
    } catch {
      return
    }
    for (const r of rows) {
      for (const kind of ['l', 'i'] as const) {
        const tail = this.tails.get(kind + (r.id as string))
        const seq = num(kind === 'l' ? r.last_seq : r.inbox_seq)
        if (tail && seq > tail.lastSeq && !tail.reading) {
          this.stats.caughtUp++
          this.pull(tail)
        }
      }
    }
  }

  close(): void {
    this.closed = true
    this.stopPolling()
    this.tails.clear()
    this.stats.tails = 0
  }
}
