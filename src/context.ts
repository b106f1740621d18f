/**
 * The state one runbus instance shares between its parts (runs, bus, asks): the backend,
 * the limits, and the registry of live resources that `rb.close()` must release.
 *
 * Invariant: every follower, subscription, waiter and inbox watch registers itself here
 * while alive and removes itself when it ends, so `close()` can end them all and the counts
 * in `rb.stats()` are exact. Internal: not exported from the package.
 */
import type { Backend } from './contract/contract.js'
import { ClosedError } from './events/errors.js'

/** Something `rb.close()` must end. */
export interface Resource {
  /** Ends the resource now with `reason` (a `ClosedError`). Must not throw. */
  close(reason: Error): void
  /** Optional: work to finish before close (a run handle storing what is pending). */
  drain?(): Promise<void>
}

/** Kinds of live resources, counted in `rb.stats()`. */
export type ResourceKind =
  'follower' | 'subscription' | 'waiter' | 'ask' | 'armed' | 'inbox' | 'run' | 'feed'

/** Internal shared state of one runbus instance. */
export interface Context {
  readonly backend: Backend
  readonly maxPayloadBytes: number
  readonly maxEvents: number
  /** Inbox messages kept per run (backends that trim inboxes). */
  readonly maxInboxMessages: number
  readonly ttlMs: number
  /** Events per history read when following. */
  readonly pageSize: number
  /** Live events a follower may buffer before it falls back to re-reading the log. */
  readonly followerBuffer: number
  /** The shared run feeds: recent events kept per feed, linger after the last cursor left. */
  readonly feed: { readonly recent: number; readonly lingerMs: number }
  closed: boolean
  readonly live: Record<ResourceKind, Set<Resource>>
  readonly counters: {
    followerOverflows: number
    followerRereads: number
    gaps: number
    emitFailures: number
    inboxReadRetries: number
  }
  /** Throws `ClosedError` after `rb.close()`. */
  checkOpen(): void
  /** Registers a live resource; returns its release function (idempotent). */
  track(kind: ResourceKind, r: Resource): () => void
}

/** Builds a context. Internal: called by `createRunbus`. */
export function createContext(init: {
  backend: Backend
  maxPayloadBytes: number
  maxEvents: number
  maxInboxMessages: number
  ttlMs: number
  pageSize: number
  followerBuffer: number
  feed?: { recent: number; lingerMs: number }
}): Context {
  const ctx: Context = {
    ...init,
    feed: init.feed ?? { recent: 256, lingerMs: 0 },
    closed: false,
    live: {
      follower: new Set(),
      subscription: new Set(),
      waiter: new Set(),
      ask: new Set(),
      armed: new Set(),
      inbox: new Set(),
      run: new Set(),
      feed: new Set(),
    },
    counters: {
      followerOverflows: 0,
      followerRereads: 0,
      gaps: 0,
      emitFailures: 0,
      inboxReadRetries: 0,
    },
    checkOpen() {
      if (ctx.closed) throw new ClosedError()
    },
    track(kind, r) {
      const set = ctx.live[kind]
      set.add(r)
      return () => {
        set.delete(r)
      }
    },
  }
  return ctx
}
