/*
 * The queue benchmark's adapter for it-pushable: the plain calls (bench/queue-plain.ts) mapped
 * onto its API. Imported only by the worker process that measures it (bench/queue-impls.ts loads
 * it on demand), so no other row runs with this package loaded: loading `effect`'s index alone
 * slows a plain promise queue in the same process by 7-30%, unevenly
 * across implementations (it grows the young generation from 1 MB to 16 MB; README, Numbers).
 */
import { pushable, pushableV } from 'it-pushable'
import type { PlainQueue } from '../queue-plain.js'

export function itPushableQueue(capacity: number, batch: boolean): PlainQueue {
  if (batch) {
    const v = pushableV<number>({ objectMode: true })
    return {
      push: (x) => {
        v.push(x)
        return true
      },
      send: async (x) => void v.push(x),
      close: () => void v.end(),
      [Symbol.asyncIterator]: () => {
        throw new Error('S5 iterates batches')
      },
      batches: () => v,
    }
  }
  const p = pushable<number>({ objectMode: true })
  return {
    push: (x) => {
      if (p.readableLength >= capacity) return false
      p.push(x)
      return true
    },
    send: async (x) => {
      while (p.readableLength >= capacity) await p.onEmpty()
      p.push(x)
    },
    close: () => void p.end(),
    [Symbol.asyncIterator]: () => p[Symbol.asyncIterator](),
  }
}
