/**
 * In-process run logs: one array per run plus its watchers.
 *
 * Invariants:
 * - Seqs are consecutive from 1; `events[i].seq === firstSeq + i` for the retained window
 *   (`head` indexes the first retained entry so trimming is O(1) amortised, no shift()).
 * - Watchers get each appended batch synchronously, before `append` resolves, in append
 *   order; the same (shared) array goes to every watcher, so fan-out copies nothing.
 * - Data is stored as `JSON.parse(draft.json)`: readers see exactly what a Redis backend
 *   would hand them, never the emitter's live object.
 * - An ended run is deleted `ttlMs` after its end (one unref'd timer per ended run, cleared
 *   on close).
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
import { idOfSeq } from '../../events/envelope.js'
import {
  ClosedError,
  RunEndedError,
  RunExistsError,
  RunNotFoundError,
} from '../../events/errors.js'

interface MemRun {
  readonly id: string
  readonly meta: Record<string, unknown> | undefined
  readonly createdAt: number
  readonly maxEvents: number
  status: RunStatus
  endedAt: number | undefined
  error: string | undefined
  lastSeq: number
  trimmed: number
  /** Retained events live at events[head..]. */
  events: RunEvent[]
  head: number
  inbox: InboxMessage[]
  expiry: ReturnType<typeof setTimeout> | undefined
}

type InboxListener = { onMessages(messages: InboxMessage[]): void }

/** Counters the memory run store exposes for tests and metrics. */
export interface MemoryRunStats {
  /** Runs stored now. */
  runs: number
  /** Events retained now, over all runs. */
  events: number
  /** Events removed by `maxEvents` trimming, ever. */
  trimmed: number
  /** Runs removed by their TTL, ever. */
  expired: number
  /** Active `watch` listeners. */
  watchers: number
  /** Active `watchInbox` listeners. */
  inboxWatchers: number
  /** Pending TTL timers. */
  timers: number
}

/** The memory run store, with its close and stats hooks. */
export interface MemoryRunLogStore extends RunLogStore {
  stats(): MemoryRunStats
  close(): void
}

/** Creates an in-process run store. Internal: used by `memoryBackend()`. */
export function createMemoryRunStore(): MemoryRunLogStore {
  const runs = new Map<string, MemRun>()
  const watchers = new Map<string, Set<LogListener>>()
  const inboxWatchers = new Map<string, Set<InboxListener>>()
  let closed = false
  let trimmedTotal = 0
  let expiredTotal = 0
  let retained = 0

  function open(): void {
    if (closed) throw new ClosedError('memory backend is closed')
  }

  function must(run: string): MemRun {
    open()
    const r = runs.get(run)
    if (r === undefined) throw new RunNotFoundError(run)
    return r
  }

  function info(r: MemRun): RunInfo {
    const out: RunInfo = {
      id: r.id,
      status: r.status,
      createdAt: r.createdAt,
      lastSeq: r.lastSeq,
      firstSeq: r.lastSeq - (r.events.length - r.head) + 1,
      trimmed: r.trimmed,
    }
    if (r.meta !== undefined) out.meta = structuredClone(r.meta)
    if (r.endedAt !== undefined) out.endedAt = r.endedAt
    if (r.error !== undefined) out.error = r.error
    return out
  }

  function deliver(run: string, batch: RunEvent[]): void {
    const set = watchers.get(run)
    if (set === undefined) return
    for (const w of [...set]) {
      try {
        w.onEvents(batch)
      } catch (err) {
        // A listener that throws must not break the append or other listeners.
        try {
          w.onError?.(err instanceof Error ? err : new Error(String(err)))
        } catch {
          /* nothing more to do */
        }
      }
    }
  }

  function store(r: MemRun, batch: RunEvent[]): void {
    for (const e of batch) r.events.push(e)
    retained += batch.length
    const over = r.events.length - r.head - r.maxEvents
    if (over > 0) {
      for (let i = r.head; i < r.head + over; i++) (r.events as unknown[])[i] = undefined
      r.head += over
      r.trimmed += over
      trimmedTotal += over
      retained -= over
      // Compact once the dead prefix dominates, keeping trimming O(1) amortised.
      if (r.head > 1024 && r.head * 2 > r.events.length) {
        r.events = r.events.slice(r.head)
        r.head = 0
      }
    }
  }

  function toEvent(r: MemRun, seq: number, d: EventDraft): RunEvent {
    return { id: idOfSeq(seq), run: r.id, seq, type: d.type, data: JSON.parse(d.json), ts: d.ts }
  }

  function addWatcher<L>(map: Map<string, Set<L>>, run: string, l: L): Unsubscribe {
    let set = map.get(run)
    if (set === undefined) map.set(run, (set = new Set()))
    set.add(l)
    return () => {
      const s = map.get(run)
      if (s === undefined || !s.delete(l)) return
      if (s.size === 0) map.delete(run)
    }
  }

  const store_: MemoryRunLogStore = {
    async createRun(init: RunInit): Promise<RunInfo> {
      open()
      if (runs.has(init.id)) throw new RunExistsError(init.id)
      const r: MemRun = {
        id: init.id,
        meta:
          init.meta === undefined
            ? undefined
            : (JSON.parse(JSON.stringify(init.meta)) as Record<string, unknown>),
        createdAt: init.ts,
        maxEvents: init.maxEvents,
        status: 'running',
        endedAt: undefined,
        error: undefined,
        lastSeq: 0,
        trimmed: 0,
        events: [],
        head: 0,
        inbox: [],
        expiry: undefined,
      }
      runs.set(init.id, r)
      return info(r)
    },

    async getRun(run: string): Promise<RunInfo | undefined> {
      open()
      const r = runs.get(run)
      return r === undefined ? undefined : info(r)
    },

    async listRuns(query: { status?: RunStatus; limit: number }): Promise<RunInfo[]> {
      open()
      const out: RunInfo[] = []
      const all = [...runs.values()]
      for (let i = all.length - 1; i >= 0 && out.length < query.limit; i--) {
        const r = all[i]
        if (query.status === undefined || r.status === query.status) out.push(info(r))
      }
      return out
    },

    async append(run: string, drafts: EventDraft[]): Promise<RunEvent[]> {
      const r = must(run)
      if (r.status !== 'running') throw new RunEndedError(run)
      const batch = new Array<RunEvent>(drafts.length)
      // Parse everything first: the batch is stored whole or not at all.
      for (let i = 0; i < drafts.length; i++) batch[i] = toEvent(r, r.lastSeq + 1 + i, drafts[i])
      r.lastSeq += drafts.length
      store(r, batch)
      deliver(run, batch)
      return batch
    },

    async endRun(run: string, end: RunEnd, ts: number, ttlMs: number): Promise<RunEvent<RunEnd>> {
      const r = must(run)
      if (r.status !== 'running') throw new RunEndedError(run)
      const data: RunEnd =
        end.error === undefined ? { status: end.status } : { status: end.status, error: end.error }
      const seq = ++r.lastSeq
      const ev: RunEvent<RunEnd> = { id: idOfSeq(seq), run, seq, type: 'end', data, ts }
      r.status = end.status
      r.endedAt = ts
      if (end.error !== undefined) r.error = end.error
      store(r, [ev])
      if (Number.isFinite(ttlMs)) {
        r.expiry = setTimeout(
          () => {
            r.expiry = undefined
            if (runs.get(run) === r) {
              runs.delete(run)
              retained -= r.events.length - r.head
              expiredTotal++
            }
          },
          Math.max(0, ttlMs),
        )
        r.expiry.unref?.()
      }
      deliver(run, [ev])
      return ev
    },

    async read(run: string, afterSeq: number, limit: number): Promise<LogPage> {
      const r = must(run)
      const firstSeq = r.lastSeq - (r.events.length - r.head) + 1
      const from = Math.max(afterSeq + 1, firstSeq)
      const start = r.head + (from - firstSeq)
      const events = from > r.lastSeq ? [] : r.events.slice(start, start + Math.max(0, limit))
      return { events, firstSeq, lastSeq: r.lastSeq, ended: r.status !== 'running' }
    },

    async watch(run: string, listener: LogListener): Promise<Unsubscribe> {
      open()
      return addWatcher(watchers, run, listener)
    },

    async sendInbox(run: string, draft: EventDraft): Promise<InboxMessage> {
      const r = must(run)
      if (r.status !== 'running')
        throw new RunEndedError(run, `run ${JSON.stringify(run)} has ended: its inbox is closed`)
      const seq = r.inbox.length + 1
      const msg: InboxMessage = {
        id: idOfSeq(seq),
        run,
        seq,
        type: draft.type,
        data: JSON.parse(draft.json),
        ts: draft.ts,
      }
      r.inbox.push(msg)
      const set = inboxWatchers.get(run)
      if (set !== undefined) {
        for (const w of [...set]) {
          try {
            w.onMessages([msg])
          } catch {
            /* a failing listener must not break the send */
          }
        }
      }
      return msg
    },

    async readInbox(run: string, afterSeq: number, limit: number): Promise<InboxMessage[]> {
      const r = must(run)
      return r.inbox.slice(Math.max(0, afterSeq), Math.max(0, afterSeq) + Math.max(0, limit))
    },

    async watchInbox(run: string, listener: InboxListener): Promise<Unsubscribe> {
      open()
      return addWatcher(inboxWatchers, run, listener)
    },

    stats(): MemoryRunStats {
      let w = 0
      for (const s of watchers.values()) w += s.size
      let iw = 0
      for (const s of inboxWatchers.values()) iw += s.size
      let timers = 0
      for (const r of runs.values()) if (r.expiry !== undefined) timers++
      return {
        runs: runs.size,
        events: retained,
        trimmed: trimmedTotal,
        expired: expiredTotal,
        watchers: w,
        inboxWatchers: iw,
        timers,
      }
    },

    close(): void {
      closed = true
      for (const r of runs.values()) if (r.expiry !== undefined) clearTimeout(r.expiry)
      runs.clear()
      watchers.clear()
      inboxWatchers.clear()
      retained = 0
    },
  }
  return store_
}
