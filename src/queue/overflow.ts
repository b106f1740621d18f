/*
 * Overflow — what a bounded AsyncQueue does with an item offered while it is full, as a
 * strategy object per policy (block, drop-oldest, drop-newest, error).
 *
 * Why it exists apart from the queue: the policy is the only part of `push`/`send` that
 * differs between queues, and each policy keeps its own count of what it dropped. The queue
 * calls `offer` only with a full, open buffer and no consumer waiting (consumers wait only on
 * an empty buffer). Every strategy has the same fields, so a queue's calls stay monomorphic
 * and inline.
 */
import { InvalidArgumentError, QueueFullError } from '../events/errors.js'
import type { Ring } from './ring.js'

/**
 * What {@link AsyncQueue.push} and {@link AsyncQueue.send} do when a bounded queue is full.
 *
 * - `block` — `push` returns `false` and enqueues nothing; `send` waits for room.
 * - `drop-oldest` — the oldest buffered item is discarded (counted in `stats.dropped.oldest`)
 *   and the new one is accepted.
 * - `drop-newest` — the new item is discarded (counted in `stats.dropped.newest`); `push`
 *   returns `false`, `send` resolves.
 * - `error` — `push` throws and `send` rejects with `QueueFullError`.
 *
 * @example
 * ```ts
 * const latest = new AsyncQueue<number>({ capacity: 100, policy: 'drop-oldest' })
 * ```
 */
export type OverflowPolicy = 'block' | 'drop-oldest' | 'drop-newest' | 'error'

/**
 * The strategy for one policy. `offer` returns whether the item was accepted (the queue
 * then counts it as enqueued).
 *
 * @internal
 * @example
 * ```ts
 * const s = overflowStrategy('drop-newest', 1024)
 * s.offer(ring, item) // false, s.newest === 1
 * ```
 */
export abstract class Overflow {
  /** Buffered items discarded to make room (`drop-oldest`). */
  oldest = 0
  /** Incoming items refused (`drop-newest`). */
  newest = 0

  constructor(
    /** The policy's name. */
    readonly policy: OverflowPolicy,
    /** Whether `send` waits for room (only `block`). */
    readonly waits: boolean,
    /** The queue's capacity, for errors. */
    readonly capacity: number,
  ) {}

  /** Handles `item` offered to the full `ring`; returns whether it was accepted. */
  abstract offer<T>(ring: Ring<T>, item: T): boolean
}

class Block extends Overflow {
  offer(): boolean {
    return false
  }
}

class DropOldest extends Overflow {
  offer<T>(ring: Ring<T>, item: T): boolean {
    ring.replaceOldest(item)
    this.oldest++
    return true
  }
}

class DropNewest extends Overflow {
  offer(): boolean {
    this.newest++
    return false
  }
}

class Fail extends Overflow {
  offer(): boolean {
    throw new QueueFullError(this.capacity)
  }
}

/**
 * The strategy for `policy` on a queue of `capacity`.
 *
 * @throws InvalidArgumentError for an unknown policy.
 * @internal
 * @example
 * ```ts
 * const s = overflowStrategy('block', 1024) // s.waits === true
 * ```
 */
export function overflowStrategy(policy: OverflowPolicy, capacity: number): Overflow {
  switch (policy) {
    case 'block':
      return new Block(policy, true, capacity)
    case 'drop-oldest':
      return new DropOldest(policy, false, capacity)
    case 'drop-newest':
      return new DropNewest(policy, false, capacity)
    case 'error':
      return new Fail(policy, false, capacity)
    default:
      throw new InvalidArgumentError(`unknown overflow policy ${JSON.stringify(policy)}`)
  }
}
