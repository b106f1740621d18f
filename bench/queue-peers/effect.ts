/*
 * The queue benchmark's adapter for effect (v4 Queue), driven from promise code: the plain calls
 * (bench/queue-plain.ts) mapped onto its API. Imported only by the worker process that measures
 * it (bench/queue-impls.ts loads it on demand), so no other row runs with this package loaded:
 * loading `effect`'s index alone slows a plain promise queue in the same process by 7-30%, unevenly
 * across implementations (it grows the young generation from 1 MB to 16 MB; README, Numbers).
 */
import { Effect, Queue } from 'effect'
import { DONE, type PlainQueue, type Policy } from '../queue-plain.js'

export function effectQueue(capacity: number, policy: Policy): PlainQueue {
  const q = Effect.runSync(
    capacity === Infinity
      ? Queue.unbounded<number>()
      : policy === 'drop-oldest'
        ? Queue.sliding<number>(capacity)
        : policy === 'drop-newest'
          ? Queue.dropping<number>(capacity)
          : Queue.bounded<number>(capacity),
  )
  return {
    push: (x) => Queue.offerUnsafe(q, x),
    send: (x) => Effect.runPromise(Queue.offer(q, x)).then(() => {}),
    close: () => {}, // shutdown would discard what is buffered; drivers stop by count
    [Symbol.asyncIterator]: () => ({
      next: async () => ({ value: await Effect.runPromise(Queue.take(q)), done: false }),
      return: async () => DONE,
    }),
    batches: () => ({
      [Symbol.asyncIterator]: () => ({
        next: async () => ({
          value: [...(await Effect.runPromise(Queue.takeAll(q)))],
          done: false,
        }),
      }),
    }),
  }
}
