/**
 * In-process run logs: one array per run plus its watchers.
 *
 * Invariants:
 * - Seqs are consecutive from 1; the retained window is kept as columns (`./event-columns.ts`:
 *   data in an array, type, time and charged size in typed arrays) and its `i`-th oldest
 *   entry is seq `firstSeq + i`; trimming is O(1) amortised. A read makes each event's
 *   envelope again: a retained event holds no object of its own but its data.
 * - Watchers get each appended batch synchronously, before `append` resolves, in append
 *   order; the same (shared) array goes to every watcher, so fan-out copies nothing.
 * - Readers see exactly what a Redis backend would hand them: data is `JSON.parse(draft.json)`,
 *   or, when the core marked the draft `shared` (plain JSON data, deeply frozen at emit), the
 *   emitter's frozen object itself — equal to the decoded JSON and immutable, so a reader in
 *   the emitter's process pays no decode (docs/in-process-data.md).
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
import { EventIds, epochTagOf, idOfSeq } from '../../events/envelope.js'
import {
  ClosedError,
  InsufficientStorageError,
  RunEndedError,
  RunExistsError,
  RunNotFoundError,
} from '../../events/errors.js'
import { SharedDraft } from '../../contract/shared-draft.js'
import { EventColumns } from './event-columns.js'

interface MemRun {
  readonly id: string
  readonly meta: Record<string, unknown> | undefined
  readonly createdAt: number
  /** Makes this incarnation's event ids (tag `epochTagOf(createdAt)`, computed once). */
  readonly ids: EventIds
  readonly maxEvents: number
  readonly maxInbox: number
  status: RunStatus
  endedAt: number | undefined
  error: string | undefined
  lastSeq: number
  trimmed: number
  /**
   * The retained log: event `firstSeq + i` is the `i`-th oldest entry. An event's envelope
   * (id, run, seq) is made again on each read, so a retained event keeps no object of its
   * own: only its data (shared with the emitter, or decoded once) and its typed-array slots
   * (`./event-columns.ts`). Every retained object is one more for each scavenge to copy.
   * It also holds what each retained event is charged to the instance budget.
   */
  log: EventColumns
  /** Bytes charged for the run itself (record and meta) and its retained inbox. */
  fixed: number
  inbox: InboxMessage[]
  inboxSizes: number[]
  /** Seq of the message before `inbox[0]` (messages trimmed so far). */
  inboxBase: number
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
  /** Bytes charged to the instance budget now (an estimate of what is held). */
  bytes: number
  /** The instance budget (`memoryBackend({ maxBytes })`). */
  maxBytes: number
  /** Writes refused because the instance budget was used up, ever. */
  storageRefused: number
  /** Inbox messages removed by `maxInboxMessages` trimming, ever. */
  inboxTrimmed: number
}

/**
 * What one stored event or message costs beyond its JSON (a message's envelope and object, an
 * event's column slots; kept at the envelope's size, so the budget stays on the safe side). The
 * JSON is counted as its length in UTF-16 units, or, for a shared draft (whose text is
 * never made here), its UTF-8 bytes: the same for ASCII, a little more otherwise.
 */
const ENTRY_OVERHEAD = 160
/** What a run costs before any event (its record, maps, arrays). */
const RUN_OVERHEAD = 1024

/** The memory run store, with its close and stats hooks. */
export interface MemoryRunLogStore extends RunLogStore {
  stats(): MemoryRunStats
  close(): void
}

/** The instance-wide byte budget, shared by the memory stores of one backend. */
export interface MemoryMeter {
  readonly max: number
  used: number
  refused: number
}

/** Creates an in-process run store. Internal: used by `memoryBackend()`. */
export function createMemoryRunStore(
  meter: MemoryMeter = { max: Infinity, used: 0, refused: 0 },
): MemoryRunLogStore {
  const runs = new Map<string, MemRun>()
  const watchers = new Map<string, Set<LogListener>>()
  const inboxWatchers = new Map<string, Set<InboxListener>>()
  let closed = false
  let trimmedTotal = 0
  let expiredTotal = 0
  let retained = 0
  let inboxTrimmed = 0

  /** Refuses (nothing stored) when `bytes` more would pass the budget; `force` for ends. */
  function charge(bytes: number, force = false): void {
    if (!force && meter.used + bytes > meter.max) {
      meter.refused++
      throw new InsufficientStorageError('instance', meter.max)
    }
    meter.used += bytes
  }

  function release(r: MemRun): void {
    let n = r.fixed + r.log.bytes
    for (const x of r.inboxSizes) n += x
    meter.used -= n
  }

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
      firstSeq: r.lastSeq - r.log.length + 1,
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

  function store(r: MemRun, batch: RunEvent[], sizes: number[]): void {
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i]
      r.log.push(e.type, e.data, e.ts, sizes[i])
    }
    retained += batch.length
    const over = r.log.length - r.maxEvents
    if (over > 0) {
      meter.used -= r.log.dropOldest(over)
      r.trimmed += over
      trimmedTotal += over
      retained -= over
    }
  }

  function toEvent(r: MemRun, seq: number, d: EventDraft): RunEvent {
    const data: unknown = d.shared === true ? d.data : JSON.parse(d.json)
    return { id: r.ids.of(seq), run: r.id, seq, type: d.type, data, ts: d.ts }
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
    get inboxTrimmed() {
      return inboxTrimmed
    },
    async createRun(init: RunInit): Promise<RunInfo> {
      open()
      if (runs.has(init.id)) throw new RunExistsError(init.id)
      const metaJson = init.meta === undefined ? undefined : JSON.stringify(init.meta)
      const fixed = RUN_OVERHEAD + init.id.length + (metaJson?.length ?? 0)
      charge(fixed)
      const r: MemRun = {
        id: init.id,
        meta:
          metaJson === undefined ? undefined : (JSON.parse(metaJson) as Record<string, unknown>),
        createdAt: init.ts,
        ids: new EventIds(epochTagOf(init.ts)),
        maxEvents: init.maxEvents,
        maxInbox: init.maxInboxMessages ?? Infinity,
        status: 'running',
        endedAt: undefined,
        error: undefined,
        lastSeq: 0,
        trimmed: 0,
        log: new EventColumns(),
        fixed,
        inbox: [],
        inboxSizes: [],
        inboxBase: 0,
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
      const sizes = new Array<number>(drafts.length)
      let bytes = 0
      for (let i = 0; i < drafts.length; i++) {
        const d = drafts[i]
        // A shared draft's size is known without its JSON text (which is then never made).
        const json = d instanceof SharedDraft ? d.bytes : d.json.length
        sizes[i] = json + d.type.length + ENTRY_OVERHEAD
        bytes += sizes[i]
      }
      // Checked before anything changes: the batch is stored whole or not at all.
      charge(bytes)
      try {
        for (let i = 0; i < drafts.length; i++) batch[i] = toEvent(r, r.lastSeq + 1 + i, drafts[i])
      } catch (err) {
        meter.used -= bytes
        throw err
      }
      r.lastSeq += drafts.length
      store(r, batch, sizes)
      deliver(run, batch)
      return batch
    },

    async endRun(run: string, end: RunEnd, ts: number, ttlMs: number): Promise<RunEvent<RunEnd>> {
      const r = must(run)
      if (r.status !== 'running') throw new RunEndedError(run)
      const data: RunEnd =
        end.error === undefined ? { status: end.status } : { status: end.status, error: end.error }
      const seq = ++r.lastSeq
      const ev: RunEvent<RunEnd> = { id: r.ids.of(seq), run, seq, type: 'end', data, ts }
      r.status = end.status
      r.endedAt = ts
      if (end.error !== undefined) r.error = end.error
      // A run can always end, even on a full backend: the end frees its holders.
      const endSize = ENTRY_OVERHEAD + (end.error?.length ?? 0)
      charge(endSize, true)
      store(r, [ev], [endSize])
      if (Number.isFinite(ttlMs)) {
        r.expiry = setTimeout(
          () => {
            r.expiry = undefined
            if (runs.get(run) === r) {
              runs.delete(run)
              release(r)
              retained -= r.log.length
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
      const firstSeq = r.lastSeq - r.log.length + 1
      const from = Math.max(afterSeq + 1, firstSeq)
      const n = from > r.lastSeq ? 0 : Math.min(Math.max(0, limit), r.lastSeq - from + 1)
      const events = new Array<RunEvent>(n)
      const start = from - firstSeq
      for (let i = 0; i < n; i++) {
        const at = start + i
        const seq = from + i
        events[i] = {
          id: r.ids.of(seq),
          run: r.id,
          seq,
          type: r.log.typeAt(at),
          data: r.log.dataAt(at),
          ts: r.log.tsAt(at),
        }
      }
      return {
        events,
        firstSeq,
        lastSeq: r.lastSeq,
        ended: r.status !== 'running',
        epoch: r.createdAt,
      }
    },

    async watch(run: string, listener: LogListener): Promise<Unsubscribe> {
      open()
      return addWatcher(watchers, run, listener)
    },

    async sendInbox(run: string, draft: EventDraft): Promise<InboxMessage> {
      const r = must(run)
      if (r.status !== 'running')
        throw new RunEndedError(run, `run ${JSON.stringify(run)} has ended: its inbox is closed`)
      const seq = r.inboxBase + r.inbox.length + 1
      const size = draft.json.length + draft.type.length + ENTRY_OVERHEAD
      charge(size)
      let msg: InboxMessage
      try {
        msg = {
          id: idOfSeq(seq),
          run,
          seq,
          type: draft.type,
          data: JSON.parse(draft.json),
          ts: draft.ts,
        }
      } catch (err) {
        meter.used -= size
        throw err
      }
      r.inbox.push(msg)
      r.inboxSizes.push(size)
      const over = r.inbox.length - r.maxInbox
      if (over > 0) {
        r.inbox.splice(0, over)
        for (const n of r.inboxSizes.splice(0, over)) meter.used -= n
        r.inboxBase += over
        inboxTrimmed += over
      }
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
      const from = Math.max(0, afterSeq - r.inboxBase)
      return r.inbox.slice(from, from + Math.max(0, limit))
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
        bytes: meter.used,
        maxBytes: meter.max,
        storageRefused: meter.refused,
        inboxTrimmed,
      }
    },

    close(): void {
      closed = true
      for (const r of runs.values()) if (r.expiry !== undefined) clearTimeout(r.expiry)
      for (const r of runs.values()) release(r)
      runs.clear()
      watchers.clear()
      inboxWatchers.clear()
      retained = 0
    },
  }
  return store_
}
