/**
 * The core's budgets, enforced on every backend: the instance wraps its backend's run store
 * in this before any part uses it, so run handles, asks, the hub and `rb.runs` all go
 * through the same checks.
 *
 * - Bytes per run (`limits.maxRunBytes`): encoded JSON of the events appended to one run
 *   over its life, through this instance. A batch that would pass it is refused whole
 *   (`InsufficientStorageError`, budget `run`).
 * - Bytes per inbox (`limits.maxInboxBytes`): the same for messages sent to a run's inbox.
 * - Running runs per owner (`limits.maxRunningRunsPerOwner`): runs created with an `owner`
 *   (the hub passes its token's subject) that have not ended. The next create is refused
 *   (`QuotaExceededError`) until one ends.
 * - Idle running runs (`limits.runIdleMs`): a run this instance created or wrote to that
 *   got no event for that long is ended `failed` with error `abandoned: …` (readers see the
 *   `end` event). A pending ask holds its run until the ask expires. Before ending a run the
 *   sweep re-reads it, so events appended by another process keep it alive.
 *
 * Invariants: the accounting holds only running runs (an ended or vanished run is
 * forgotten), so it is bounded by the runs alive; a refused write changes no counter but its
 * refusal count; the byte reservation is taken before the backend call and given back if it
 * fails, so concurrent writers cannot overshoot a budget together.
 */
import type { Backend, EventDraft, RunInit, RunLogStore } from './contract/contract.js'
import {
  InsufficientStorageError,
  QuotaExceededError,
  RunEndedError,
  RunNotFoundError,
} from './events/errors.js'
import { draftBytes as jsonBytes } from './contract/shared-draft.js'

/** The budgets of one instance (checked by `createRunbus`). */
export interface Budgets {
  maxRunBytes: number
  maxInboxBytes: number
  maxRunningRunsPerOwner: number
  runIdleMs: number
  /** TTL given to runs the idle sweep ends. */
  ttlMs: number
}

/** Refusals and idle ends, summed into `rb.stats()`. */
export interface BudgetCounters {
  runBytesRefused: number
  inboxBytesRefused: number
  quotaRefused: number
  runsAbandoned: number
}

interface Tracked {
  owner: string | undefined
  bytes: number
  inboxBytes: number
  /** Epoch ms until which the run counts as active. */
  activeUntil: number
  lastSeq: number
}

/** How long an ask without a timeout holds its run (the ask's own default lifetime). */
const OPEN_ASK_HOLD_MS = 7 * 24 * 3600 * 1000

/** How long a tracked run may be quiet before the sweep checks it is still running. */
const CHECK_MS = 60_000

/** A backend whose run store enforces the budgets; `stop()` clears the idle sweep. */
export interface BudgetedBackend extends Backend {
  /** Runs tracked now (running, created or written through this instance). */
  tracked(): number
  stop(): void
}

/** Wraps `backend` (its other parts pass through). Internal: called by `createRunbus`. */
export function withBudgets(
  backend: Backend,
  budgets: Budgets,
  counters: BudgetCounters,
): BudgetedBackend {
  const inner = backend.runs
  const tracked = new Map<string, Tracked>()
  const byOwner = new Map<string, Set<string>>()

  function track(run: string, owner?: string): Tracked {
    let t = tracked.get(run)
    if (t === undefined) {
      t = { owner, bytes: 0, inboxBytes: 0, activeUntil: Date.now(), lastSeq: 0 }
      tracked.set(run, t)
      if (owner !== undefined) {
        let set = byOwner.get(owner)
        if (set === undefined) byOwner.set(owner, (set = new Set()))
        set.add(run)
      }
    }
    return t
  }

  function forget(run: string): void {
    const t = tracked.get(run)
    if (t === undefined) return
    tracked.delete(run)
    if (t.owner !== undefined) {
      const set = byOwner.get(t.owner)
      set?.delete(run)
      if (set?.size === 0) byOwner.delete(t.owner)
    }
  }

  function settled(run: string, err: unknown): void {
    if (err instanceof RunEndedError || err instanceof RunNotFoundError) forget(run)
  }

  async function running(owner: string): Promise<number> {
    const set = byOwner.get(owner)
    if (set === undefined) return 0
    // Runs may have ended in another process: look before refusing.
    for (const run of [...set]) {
      const info = await inner.getRun(run).catch(() => null)
      if (info === undefined || (info !== null && info.status !== 'running')) forget(run)
    }
    return byOwner.get(owner)?.size ?? 0
  }

  function draftBytes(drafts: readonly EventDraft[]): number {
    let n = 0
    for (const d of drafts) n += jsonBytes(d)
    return n
  }

  function holdFor(drafts: readonly EventDraft[], now: number): number {
    let until = now
    for (const d of drafts) {
      if (d.type !== 'ask') continue
      const exp = (d.data as { expiresAt?: unknown } | null)?.expiresAt
      until = Math.max(until, typeof exp === 'number' ? exp : now + OPEN_ASK_HOLD_MS)
    }
    return until
  }

  const runs: RunLogStore = {
    get inboxTrimmed() {
      return inner.inboxTrimmed
    },
    getRun: (run) => inner.getRun(run),
    listRuns: (query) => inner.listRuns(query),
    read: (run, afterSeq, limit) => inner.read(run, afterSeq, limit),
    watch: (run, listener) => inner.watch(run, listener),
    readInbox: (run, afterSeq, limit) => inner.readInbox(run, afterSeq, limit),
    watchInbox: (run, listener) => inner.watchInbox(run, listener),
    createRun: async (init: RunInit) => {
      const owner = init.owner

      if (owner !== undefined && Number.isFinite(budgets.maxRunningRunsPerOwner)) {
        const limit = budgets.maxRunningRunsPerOwner
        if ((byOwner.get(owner)?.size ?? 0) >= limit && (await running(owner)) >= limit) {
          counters.quotaRefused++
          throw new QuotaExceededError(
            limit,
            `${JSON.stringify(owner)} already has ${limit} running runs (the quota): end one first`,
          )
        }
      }
      if (tracked.has(init.id)) {
        // The id is taken by a run we know is running: let the backend refuse it.
        return inner.createRun(init)
      }
      const t = track(init.id, owner)
      try {
        const info = await inner.createRun(init)
        t.lastSeq = info.lastSeq
        return info
      } catch (err) {
        if (tracked.get(init.id) === t) forget(init.id)
        throw err
      }
    },
    append: async (run, drafts) => {
      const t = track(run)
      const size = draftBytes(drafts)
      if (t.bytes + size > budgets.maxRunBytes) {
        counters.runBytesRefused++
        throw new InsufficientStorageError(
          'run',
          budgets.maxRunBytes,
          `run ${JSON.stringify(run)} is over its budget of ${budgets.maxRunBytes} bytes (limits.maxRunBytes): ${t.bytes} stored, ${size} more refused`,
        )
      }
      t.bytes += size
      try {
        const out = await inner.append(run, drafts)
        const now = Date.now()
        t.activeUntil = Math.max(t.activeUntil, holdFor(drafts, now))
        const last = out.at(-1)
        if (last !== undefined) t.lastSeq = Math.max(t.lastSeq, last.seq)
        return out
      } catch (err) {
        t.bytes -= size
        settled(run, err)
        throw err
      }
    },
    endRun: async (run, end, ts, ttlMs) => {
      try {
        return await inner.endRun(run, end, ts, ttlMs)
      } finally {
        forget(run)
      }
    },
    sendInbox: async (run, draft) => {
      const t = tracked.get(run)
      const size = jsonBytes(draft)
      const used = t?.inboxBytes ?? 0
      if (used + size > budgets.maxInboxBytes) {
        counters.inboxBytesRefused++
        throw new InsufficientStorageError(
          'inbox',
          budgets.maxInboxBytes,
          `the inbox of run ${JSON.stringify(run)} is over its budget of ${budgets.maxInboxBytes} bytes (limits.maxInboxBytes): ${used} stored, ${size} more refused`,
        )
      }
      // Untracked runs are tracked from their first message (a created-elsewhere run).
      const tt = t ?? track(run)
      tt.inboxBytes += size
      try {
        return await inner.sendInbox(run, draft)
      } catch (err) {
        tt.inboxBytes -= size
        settled(run, err)
        throw err
      }
    },
  }

  let sweep: ReturnType<typeof setInterval> | undefined
  let sweeping = false
  async function sweepIdle(): Promise<void> {
    if (sweeping) return
    sweeping = true
    try {
      const now = Date.now()
      for (const [run, t] of [...tracked]) {
        // Runs quiet for a while are looked at (they may have ended elsewhere), and ended
        // once quiet for runIdleMs.
        if (now - t.activeUntil < Math.min(budgets.runIdleMs, CHECK_MS)) continue
        let info
        try {
          info = await inner.getRun(run)
        } catch {
          continue // the backend is away: try again next sweep
        }
        if (info === undefined || info.status !== 'running') {
          forget(run)
          continue
        }
        if (info.lastSeq > t.lastSeq) {
          // Another process wrote to it.
          t.lastSeq = info.lastSeq
          t.activeUntil = Date.now()
          continue
        }
        if (now - t.activeUntil < budgets.runIdleMs) continue
        try {
          await inner.endRun(
            run,
            {
              status: 'failed',
              error: `abandoned: no event for ${budgets.runIdleMs} ms (limits.runIdleMs)`,
            },
            Date.now(),
            budgets.ttlMs,
          )
          counters.runsAbandoned++
          forget(run)
        } catch (err) {
          settled(run, err)
        }
      }
    } finally {
      sweeping = false
    }
  }
  sweep = setInterval(
    () => void sweepIdle(),
    Math.max(10, Math.min(CHECK_MS, Math.floor(budgets.runIdleMs / 4))),
  )
  sweep.unref?.()

  return {
    name: backend.name,
    durable: backend.durable,
    runs,
    broadcast: backend.broadcast,
    kv: backend.kv,
    work: backend.work,
    ping: () => backend.ping(),
    close: () => backend.close(),
    tracked: () => tracked.size,
    stop() {
      if (sweep !== undefined) clearInterval(sweep)
      sweep = undefined
      tracked.clear()
      byOwner.clear()
    },
  }
}
