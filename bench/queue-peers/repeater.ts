/*
 * The queue benchmark's adapter for @repeaterjs/repeater: the plain calls (bench/queue-plain.ts)
 * mapped onto its API. Imported only by the worker process that measures it (bench/queue-
 * impls.ts loads it on demand), so no other row runs with this package loaded: loading
 * `effect`'s index alone slows a plain promise queue in the same process by 7-30%, unevenly
 * across implementations (it grows the young generation from 1 MB to 16 MB; README, Numbers).
 */
import { DroppingBuffer, FixedBuffer, Repeater, SlidingBuffer } from '@repeaterjs/repeater'
import { TICK, type PlainQueue, type Policy } from '../queue-plain.js'

/** A repeater started at once (its executor runs on the first next()), seen as a PlainQueue. */
export function repeaterQueue(capacity: number, policy: Policy, n: number): PlainQueue {
  let pushFn: (x: number) => Promise<unknown> = () => TICK
  let stopFn: () => void = () => {}
  const buffer =
    policy === 'drop-oldest'
      ? new SlidingBuffer(capacity)
      : policy === 'drop-newest'
        ? new DroppingBuffer(capacity)
        : new FixedBuffer(capacity === Infinity ? n : capacity)
  const r = new Repeater<number>((push, stop) => {
    pushFn = push
    stopFn = stop
  }, buffer)
  const it = r[Symbol.asyncIterator]()
  // Starts the executor now, so push works before iteration; the consumer gets this first.
  let first: Promise<IteratorResult<number>> | undefined = it.next()
  let buffered = 0
  return {
    push: (x) => {
      // No synchronous non-waiting offer: under block, every item goes through send (push).
      if (policy === 'block' && capacity !== Infinity && buffered >= capacity) return false
      buffered++
      void pushFn(x).then(() => buffered--)
      return true
    },
    send: async (x) => {
      buffered++
      await pushFn(x)
      buffered--
    },
    close: () => stopFn(),
    [Symbol.asyncIterator]: () => ({
      next: () => {
        if (first !== undefined) {
          const f = first
          first = undefined
          return f
        }
        return it.next()
      },
      return: () => it.return(),
    }),
  }
}
