/**
 * In-process broadcast: publish calls every matching listener synchronously, before the
 * publish promise resolves. Exact-channel subscriptions sit in a map (one lookup per
 * publish); wildcard ones are matched with the shared pattern matcher, so the semantics are
 * those of `src/contract/patterns.ts` on every backend.
 */
import type { Broadcast, BroadcastListener, Unsubscribe } from '../../contract/contract.js'
import { ClosedError } from '../../events/errors.js'
import { compilePattern, isWildcard } from '../../contract/patterns.js'

interface Sub {
  readonly listener: BroadcastListener
  readonly match: (channel: string) => boolean
}

/** The memory broadcast, with test hooks. */
export interface MemoryBroadcast extends Broadcast {
  /** Active subscriptions. */
  subscriptions(): number
  /**
   * Tells every subscriber its connection was interrupted (`onInterrupted`), as a
   * networked backend does after a reconnect. For tests of interruption handling.
   */
  interrupt(info?: { since: number; until: number }): void
  close(): void
}

/** Creates an in-process broadcast. Internal: used by `memoryBackend()`. */
export function createMemoryBroadcast(): MemoryBroadcast {
  const exact = new Map<string, Set<Sub>>()
  const wild = new Set<Sub>()
  let count = 0
  let closed = false

  function call(sub: Sub, channel: string, payload: string): void {
    try {
      sub.listener.onMessage(channel, payload)
    } catch {
      // A throwing listener must not break the publisher or the other listeners.
    }
  }

  return {
    async publish(channel: string, payload: string): Promise<void> {
      if (closed) throw new ClosedError('memory backend is closed')
      const set = exact.get(channel)
      if (set !== undefined) for (const s of [...set]) call(s, channel, payload)
      if (wild.size > 0) for (const s of [...wild]) if (s.match(channel)) call(s, channel, payload)
    },

    async subscribe(pattern: string, listener: BroadcastListener): Promise<Unsubscribe> {
      if (closed) throw new ClosedError('memory backend is closed')
      const sub: Sub = { listener, match: compilePattern(pattern) }
      if (isWildcard(pattern)) wild.add(sub)
      else {
        let set = exact.get(pattern)
        if (set === undefined) exact.set(pattern, (set = new Set()))
        set.add(sub)
      }
      count++
      let done = false
      return () => {
        if (done) return
        done = true
        count--
        if (isWildcard(pattern)) wild.delete(sub)
        else {
          const set = exact.get(pattern)
          set?.delete(sub)
          if (set?.size === 0) exact.delete(pattern)
        }
      }
    },

    subscriptions: () => count,

    interrupt(info = { since: Date.now(), until: Date.now() }): void {
      const all = [...wild]
      for (const set of exact.values()) all.push(...set)
      for (const s of all) s.listener.onInterrupted?.(info)
    },

    close(): void {
      closed = true
      exact.clear()
      wild.clear()
      count = 0
    },
  }
}
