/*
 * The queue benchmark's workloads, written once per implementation in that library's own
 * idiom (ours, the peers, and a hand-written floor). Each scenario returns a checksum so the
 * work cannot be optimised away and a wrong implementation is caught. `queue-worker.ts` runs
 * one implementation × scenario per process; `queue.ts` orchestrates and reports.
 *
 * Where a peer lacks a feature the scenario is either emulated the closest honest way (said
 * in `notes`) or reported n/a with the reason.
 */
import { EventEmitter, on } from 'node:events'
import { DroppingBuffer, FixedBuffer, Repeater, SlidingBuffer } from '@repeaterjs/repeater'
import { Effect, Fiber, Queue } from 'effect'
import { pushable, pushableV } from 'it-pushable'
import { AsyncQueue } from '../src/queue/index.js'

export const SCENARIOS = {
  S1: 'buffered: push all, then drain',
  S2: 'handoff: consumer already waiting for every message',
  S3: 'bounded 1024: producer waits for room',
  S4: 'fan-in: 4 async producers (one await per message), 1 consumer',
  S5: 'batch take: bursts of 64',
  S6a: 'drop-oldest: push onto a full queue of 1024',
  S6b: 'drop-newest: push onto a full queue of 1024',
} as const
export type ScenarioId = keyof typeof SCENARIOS

/**
 * An already resolved promise: `await TICK` yields one microtask without allocating, and
 * `TICK.then(f)` schedules a producer step (Node's queueMicrotask wraps each call in an
 * AsyncResource, a cost that would drown what is measured).
 */
const TICK: Promise<void> = Promise.resolve()

export const CAP = 1024
export const BURST = 64
export const PRODUCERS = 4

type Run = (n: number) => Promise<number>
export interface Impl {
  readonly name: string
  /** A scenario is a function, or a string saying why it is n/a. */
  readonly scenarios: Record<ScenarioId, Run | string>
  /** How a scenario was emulated, when it was. */
  readonly notes?: Partial<Record<ScenarioId, string>>
  /** Message counts for runs too slow at the full count (reported with the result). */
  readonly sizes?: Partial<Record<ScenarioId, number>>
}

/** Sum of 0..n-1, the checksum of a lossless run. */
export const sumTo = (n: number): number => (n * (n - 1)) / 2
/** Sum of the range [from, to). */
export const sumRange = (from: number, to: number): number => sumTo(to) - sumTo(from)

// ---- ours ------------------------------------------------------------------------------------

const ours: Impl = {
  name: 'runbus',
  notes: { S3: 'push; when full, await onSizeLessThan(512)' },
  scenarios: {
    S1: async (n) => {
      const q = new AsyncQueue<number>()
      for (let i = 0; i < n; i++) q.push(i)
      q.close()
      let sum = 0
      for await (const x of q) sum += x
      return sum
    },
    S2: async (n) => {
      const q = new AsyncQueue<number>()
      let i = 0
      const produce = (): void => {
        q.push(i++)
      }
      let sum = 0
      let c = 0
      const consumer = (async () => {
        for await (const x of q) {
          sum += x
          if (++c === n) break
          void TICK.then(produce)
        }
      })()
      void TICK.then(produce)
      await consumer
      if (q.stats.fastPath !== n) throw new Error(`fast path ${q.stats.fastPath} of ${n}`)
      return sum
    },
    S3: async (n) => {
      const q = new AsyncQueue<number>({ capacity: CAP })
      const producer = (async () => {
        // push never waits; when full, wait for the consumer to drain to half (hysteresis).
        for (let i = 0; i < n; i++) while (!q.push(i)) await q.onSizeLessThan(CAP / 2)
        q.close()
      })()
      let sum = 0
      for await (const x of q) sum += x
      await producer
      return sum
    },
    S4: async (n) => {
      const q = new AsyncQueue<number>()
      const per = n / PRODUCERS
      const producers: Promise<void>[] = []
      for (let p = 0; p < PRODUCERS; p++) {
        producers.push(
          (async () => {
            for (let i = p * per; i < (p + 1) * per; i++) {
              q.push(i)
              await TICK // each producer is an async source: yield between messages
            }
          })(),
        )
      }
      void Promise.all(producers).then(() => q.close())
      let sum = 0
      for await (const x of q) sum += x
      return sum
    },
    S5: async (n) => {
      const q = new AsyncQueue<number>()
      let next = 0
      const burst = (): void => {
        for (let k = 0; k < BURST; k++) q.push(next++)
      }
      let sum = 0
      let c = 0
      void TICK.then(burst)
      for await (const batch of q.batches()) {
        for (let k = 0; k < batch.length; k++) sum += batch[k]
        c += batch.length
        if (c === n) break
        if (c % BURST === 0) void TICK.then(burst)
      }
      return sum
    },
    S6a: async (n) => {
      const q = new AsyncQueue<number>({ capacity: CAP, policy: 'drop-oldest' })
      for (let i = 0; i < n; i++) q.push(i)
      q.close()
      let sum = 0
      for await (const x of q) sum += x
      return sum
    },
    S6b: async (n) => {
      const q = new AsyncQueue<number>({ capacity: CAP, policy: 'drop-newest' })
      for (let i = 0; i < n; i++) q.push(i)
      q.close()
      let sum = 0
      for await (const x of q) sum += x
      return sum
    },
  },
}

// ---- the floor: a minimal hand-written promise queue (array + resolver list) -------------------

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined }

class FloorQueue<T> implements AsyncIterableIterator<T> {
  items: (T | undefined)[] = []
  head = 0 // Array#shift is O(n) on large arrays: a head index is the minimum a floor needs
  waiters: ((r: IteratorResult<T, undefined>) => void)[] = []
  senders: [T, () => void][] = []
  ended = false
  constructor(readonly capacity = Infinity) {}
  push(x: T): void {
    const w = this.waiters.shift()
    if (w !== undefined) w({ value: x, done: false })
    else this.items.push(x)
  }
  get size(): number {
    return this.items.length - this.head
  }
  shift(): T {
    const value = this.items[this.head] as T
    this.items[this.head++] = undefined
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return value
  }
  send(x: T): Promise<void> {
    if (this.waiters.length > 0 || this.size < this.capacity) {
      this.push(x)
      return Promise.resolve()
    }
    return new Promise((resolve) => this.senders.push([x, resolve]))
  }
  end(): void {
    this.ended = true
    for (const w of this.waiters.splice(0)) w(DONE)
  }
  next(): Promise<IteratorResult<T, undefined>> {
    if (this.size > 0) {
      const value = this.shift()
      const s = this.senders.shift()
      if (s !== undefined) {
        this.items.push(s[0])
        s[1]()
      }
      return Promise.resolve({ value, done: false })
    }
    if (this.ended) return Promise.resolve(DONE)
    return new Promise((resolve) => this.waiters.push(resolve))
  }
  [Symbol.asyncIterator](): this {
    return this
  }
}

const floor: Impl = {
  name: 'floor',
  scenarios: {
    S1: async (n) => {
      const q = new FloorQueue<number>()
      for (let i = 0; i < n; i++) q.push(i)
      q.end()
      let sum = 0
      for await (const x of q) sum += x
      return sum
    },
    S2: async (n) => {
      const q = new FloorQueue<number>()
      let i = 0
      const produce = (): void => q.push(i++)
      let sum = 0
      let c = 0
      const consumer = (async () => {
        for await (const x of q) {
          sum += x
          if (++c === n) break
          void TICK.then(produce)
        }
      })()
      void TICK.then(produce)
      await consumer
      return sum
    },
    S3: async (n) => {
      const q = new FloorQueue<number>(CAP)
      const producer = (async () => {
        for (let i = 0; i < n; i++) await q.send(i)
        q.end()
      })()
      let sum = 0
      for await (const x of q) sum += x
      await producer
      return sum
    },
    S4: async (n) => {
      const q = new FloorQueue<number>()
      const per = n / PRODUCERS
      const producers: Promise<void>[] = []
      for (let p = 0; p < PRODUCERS; p++) {
        producers.push(
          (async () => {
            for (let i = p * per; i < (p + 1) * per; i++) {
              q.push(i)
              await TICK
            }
          })(),
        )
      }
      void Promise.all(producers).then(() => q.end())
      let sum = 0
      for await (const x of q) sum += x
      return sum
    },
    S5: async (n) => {
      // Batch take: swap the array out.
      let items: number[] = []
      let waiter: ((b: number[]) => void) | undefined
      let next = 0
      const burst = (): void => {
        for (let k = 0; k < BURST; k++) {
          if (waiter !== undefined) {
            const w = waiter
            waiter = undefined
            w([next++])
          } else items.push(next++)
        }
      }
      const takeAll = (): Promise<number[]> => {
        if (items.length > 0) {
          const b = items
          items = []
          return Promise.resolve(b)
        }
        return new Promise((resolve) => (waiter = resolve))
      }
      let sum = 0
      let c = 0
      void TICK.then(burst)
      while (c < n) {
        const batch = await takeAll()
        for (let k = 0; k < batch.length; k++) sum += batch[k]
        c += batch.length
        if (c % BURST === 0 && c < n) void TICK.then(burst)
      }
      return sum
    },
    S6a: async (n) => {
      const q = new FloorQueue<number>()
      for (let i = 0; i < n; i++) {
        if (q.size >= CAP) q.shift()
        q.push(i)
      }
      q.end()
      let sum = 0
      for await (const x of q) sum += x
      return sum
    },
    S6b: async (n) => {
      const q = new FloorQueue<number>()
      for (let i = 0; i < n; i++) if (q.size < CAP) q.push(i)
      q.end()
      let sum = 0
      for await (const x of q) sum += x
      return sum
    },
  },
}

// ---- node:events on() ----------------------------------------------------------------------------

/** An emitter that honours events.on's highWaterMark by pausing its producers. */
class PausableEmitter extends EventEmitter {
  paused = false
  private wake: (() => void)[] = []
  pause(): void {
    this.paused = true
  }
  resume(): void {
    this.paused = false
    for (const w of this.wake.splice(0)) w()
  }
  waitResume(): Promise<void> {
    return new Promise((resolve) => this.wake.push(resolve))
  }
}

const eventsOn: Impl = {
  name: 'events.on',
  notes: {
    S3: 'highWaterMark 1024 pauses the emitter; producers await resume',
    S5: 'no batch API: consumed item by item',
  },
  scenarios: {
    S1: async (n) => {
      const ee = new EventEmitter()
      const it = on(ee, 'data')
      for (let i = 0; i < n; i++) ee.emit('data', i)
      let sum = 0
      let c = 0
      for await (const [x] of it) {
        sum += x as number
        if (++c === n) break
      }
      return sum
    },
    S2: async (n) => {
      const ee = new EventEmitter()
      const it = on(ee, 'data')
      let i = 0
      const produce = (): void => {
        ee.emit('data', i++)
      }
      let sum = 0
      let c = 0
      void TICK.then(produce)
      for await (const [x] of it) {
        sum += x as number
        if (++c === n) break
        void TICK.then(produce)
      }
      return sum
    },
    S3: async (n) => {
      const ee = new PausableEmitter()
      const it = on(ee, 'data', { highWaterMark: CAP })
      const producer = (async () => {
        for (let i = 0; i < n; i++) {
          if (ee.paused) await ee.waitResume()
          ee.emit('data', i)
        }
      })()
      let sum = 0
      let c = 0
      for await (const [x] of it) {
        sum += x as number
        if (++c === n) break
      }
      await producer
      return sum
    },
    S4: async (n) => {
      const ee = new EventEmitter()
      const it = on(ee, 'data')
      const per = n / PRODUCERS
      const producers: Promise<void>[] = []
      for (let p = 0; p < PRODUCERS; p++) {
        producers.push(
          (async () => {
            for (let i = p * per; i < (p + 1) * per; i++) {
              ee.emit('data', i)
              await TICK
            }
          })(),
        )
      }
      let sum = 0
      let c = 0
      for await (const [x] of it) {
        sum += x as number
        if (++c === n) break
      }
      await Promise.all(producers)
      return sum
    },
    S5: async (n) => {
      const ee = new EventEmitter()
      const it = on(ee, 'data')
      let next = 0
      const burst = (): void => {
        for (let k = 0; k < BURST; k++) ee.emit('data', next++)
      }
      let sum = 0
      let c = 0
      void TICK.then(burst)
      for await (const [x] of it) {
        sum += x as number
        if (++c === n) break
        if (c % BURST === 0) void TICK.then(burst)
      }
      return sum
    },
    S6a: 'no overflow policy',
    S6b: 'no overflow policy',
  },
}

// ---- it-pushable ---------------------------------------------------------------------------------

const itPushable: Impl = {
  name: 'it-pushable',
  notes: {
    S3: 'unbounded: producer awaits onEmpty() once 1024 are buffered',
    S5: 'pushableV (yields arrays)',
    S6b: 'emulated: push only while readableLength < 1024',
  },
  scenarios: {
    S1: async (n) => {
      const p = pushable<number>({ objectMode: true })
      for (let i = 0; i < n; i++) p.push(i)
      p.end()
      let sum = 0
      for await (const x of p) sum += x
      return sum
    },
    S2: async (n) => {
      const p = pushable<number>({ objectMode: true })
      let i = 0
      const produce = (): void => {
        p.push(i++)
      }
      let sum = 0
      let c = 0
      void TICK.then(produce)
      for await (const x of p) {
        sum += x
        if (++c === n) break
        void TICK.then(produce)
      }
      return sum
    },
    S3: async (n) => {
      const p = pushable<number>({ objectMode: true })
      const producer = (async () => {
        for (let i = 0; i < n; i++) {
          p.push(i)
          if (p.readableLength >= CAP) await p.onEmpty()
        }
        p.end()
      })()
      let sum = 0
      for await (const x of p) sum += x
      await producer
      return sum
    },
    S4: async (n) => {
      const p = pushable<number>({ objectMode: true })
      const per = n / PRODUCERS
      const producers: Promise<void>[] = []
      for (let k = 0; k < PRODUCERS; k++) {
        producers.push(
          (async () => {
            for (let i = k * per; i < (k + 1) * per; i++) {
              p.push(i)
              await TICK
            }
          })(),
        )
      }
      void Promise.all(producers).then(() => p.end())
      let sum = 0
      for await (const x of p) sum += x
      return sum
    },
    S5: async (n) => {
      const p = pushableV<number>({ objectMode: true })
      let next = 0
      const burst = (): void => {
        for (let k = 0; k < BURST; k++) p.push(next++)
      }
      let sum = 0
      let c = 0
      void TICK.then(burst)
      for await (const batch of p) {
        for (let k = 0; k < batch.length; k++) sum += batch[k]
        c += batch.length
        if (c === n) break
        if (c % BURST === 0) void TICK.then(burst)
      }
      return sum
    },
    S6a: 'no overflow policy, and no way to drop its oldest item from outside',
    S6b: async (n) => {
      const p = pushable<number>({ objectMode: true })
      for (let i = 0; i < n; i++) if (p.readableLength < CAP) p.push(i)
      p.end()
      let sum = 0
      for await (const x of p) sum += x
      return sum
    },
  },
}

// ---- @repeaterjs/repeater -------------------------------------------------------------------

const REPEATER_N = 32_768
const repeater: Impl = {
  name: 'repeater',
  // ~6 s per million messages; its FixedBuffer shifts an array, so S1 is quadratic.
  sizes: {
    S1: 16_384,
    S2: REPEATER_N,
    S3: REPEATER_N,
    S4: REPEATER_N,
    S5: REPEATER_N,
    S6a: REPEATER_N,
    S6b: REPEATER_N,
  },
  notes: {
    S1: 'FixedBuffer(n): push all inside the executor (its buffer shifts an array: quadratic)',
    S4: '4 producers await push(), FixedBuffer(1024) (unbounded, its array-shifting buffer is quadratic)',
    S5: 'no batch API: consumed item by item',
    S6a: 'SlidingBuffer(1024)',
    S6b: 'DroppingBuffer(1024)',
  },
  scenarios: {
    S1: async (n) => {
      const r = new Repeater<number>((push, stop) => {
        for (let i = 0; i < n; i++) void push(i)
        stop()
      }, new FixedBuffer(n))
      let sum = 0
      for await (const x of r) sum += x
      return sum
    },
    S2: async (n) => {
      let sum = 0
      let c = 0
      let produce: () => void = () => {}
      const r = new Repeater<number>((push) => {
        let i = 0
        produce = () => void push(i++)
        void TICK.then(produce)
      })
      for await (const x of r) {
        sum += x
        if (++c === n) break
        void TICK.then(produce)
      }
      return sum
    },
    S3: async (n) => {
      const r = new Repeater<number>(async (push, stop) => {
        for (let i = 0; i < n; i++) await push(i)
        stop()
      }, new FixedBuffer(CAP))
      let sum = 0
      for await (const x of r) sum += x
      return sum
    },
    S4: async (n) => {
      const per = n / PRODUCERS
      const r = new Repeater<number>(async (push, stop) => {
        const producers: Promise<void>[] = []
        for (let k = 0; k < PRODUCERS; k++) {
          producers.push(
            (async () => {
              for (let i = k * per; i < (k + 1) * per; i++) await push(i)
            })(),
          )
        }
        await Promise.all(producers)
        stop()
      }, new FixedBuffer(CAP))
      let sum = 0
      for await (const x of r) sum += x
      return sum
    },
    S5: async (n) => {
      let sum = 0
      let c = 0
      let burst: () => void = () => {}
      const r = new Repeater<number>((push) => {
        let next = 0
        burst = () => {
          for (let k = 0; k < BURST; k++) void push(next++)
        }
        void TICK.then(burst)
      }, new FixedBuffer(BURST))
      for await (const x of r) {
        sum += x
        if (++c === n) break
        if (c % BURST === 0) void TICK.then(burst)
      }
      return sum
    },
    S6a: async (n) => {
      const r = new Repeater<number>((push, stop) => {
        for (let i = 0; i < n; i++) void push(i)
        stop()
      }, new SlidingBuffer(CAP))
      let sum = 0
      for await (const x of r) sum += x
      return sum
    },
    S6b: async (n) => {
      const r = new Repeater<number>((push, stop) => {
        for (let i = 0; i < n; i++) void push(i)
        stop()
      }, new DroppingBuffer(CAP))
      let sum = 0
      for await (const x of r) sum += x
      return sum
    },
  },
}

// ---- effect (v4 Queue) ------------------------------------------------------------------------

const effect: Impl = {
  name: 'effect',
  sizes: { S2: 102_400 },
  notes: {
    S1: 'offerUnsafe, then yield* Queue.take per item',
    S3: 'Queue.bounded(1024), forked producer fiber, yield* Queue.offer',
    S4: "4 forked producer fibers (yield* Queue.offer), interleaved by effect's scheduler",
    S5: 'Queue.takeAll',
    S6a: 'Queue.sliding(1024)',
    S6b: 'Queue.dropping(1024)',
  },
  scenarios: {
    S1: (n) =>
      Effect.runPromise(
        Effect.gen(function* () {
          const q = yield* Queue.unbounded<number>()
          for (let i = 0; i < n; i++) Queue.offerUnsafe(q, i)
          let sum = 0
          for (let c = 0; c < n; c++) sum += yield* Queue.take(q)
          return sum
        }),
      ),
    S2: (n) =>
      Effect.runPromise(
        Effect.gen(function* () {
          const q = yield* Queue.unbounded<number>()
          let i = 0
          const produce = (): void => {
            Queue.offerUnsafe(q, i++)
          }
          let sum = 0
          void TICK.then(produce)
          for (let c = 1; c <= n; c++) {
            sum += yield* Queue.take(q)
            if (c < n) void TICK.then(produce)
          }
          return sum
        }),
      ),
    S3: (n) =>
      Effect.runPromise(
        Effect.gen(function* () {
          const q = yield* Queue.bounded<number>(CAP)
          const producer = yield* Effect.forkChild(
            Effect.gen(function* () {
              for (let i = 0; i < n; i++) yield* Queue.offer(q, i)
            }),
          )
          let sum = 0
          for (let c = 0; c < n; c++) sum += yield* Queue.take(q)
          yield* Fiber.join(producer)
          return sum
        }),
      ),
    S4: (n) =>
      Effect.runPromise(
        Effect.gen(function* () {
          const q = yield* Queue.unbounded<number>()
          const per = n / PRODUCERS
          const fibers = []
          for (let k = 0; k < PRODUCERS; k++) {
            fibers.push(
              yield* Effect.forkChild(
                Effect.gen(function* () {
                  for (let i = k * per; i < (k + 1) * per; i++) yield* Queue.offer(q, i)
                }),
              ),
            )
          }
          let sum = 0
          for (let c = 0; c < n; c++) sum += yield* Queue.take(q)
          for (const f of fibers) yield* Fiber.join(f)
          return sum
        }),
      ),
    S5: (n) =>
      Effect.runPromise(
        Effect.gen(function* () {
          const q = yield* Queue.unbounded<number>()
          let next = 0
          const burst = (): void => {
            for (let k = 0; k < BURST; k++) Queue.offerUnsafe(q, next++)
          }
          let sum = 0
          let c = 0
          void TICK.then(burst)
          while (c < n) {
            const batch = yield* Queue.takeAll(q)
            for (let k = 0; k < batch.length; k++) sum += batch[k]
            c += batch.length
            if (c % BURST === 0 && c < n) void TICK.then(burst)
          }
          return sum
        }),
      ),
    S6a: (n) =>
      Effect.runPromise(
        Effect.gen(function* () {
          const q = yield* Queue.sliding<number>(CAP)
          for (let i = 0; i < n; i++) Queue.offerUnsafe(q, i)
          let sum = 0
          for (const x of yield* Queue.takeAll(q)) sum += x
          return sum
        }),
      ),
    S6b: (n) =>
      Effect.runPromise(
        Effect.gen(function* () {
          const q = yield* Queue.dropping<number>(CAP)
          for (let i = 0; i < n; i++) Queue.offerUnsafe(q, i)
          let sum = 0
          for (const x of yield* Queue.takeAll(q)) sum += x
          return sum
        }),
      ),
  },
}

export const IMPLS: readonly Impl[] = [ours, floor, eventsOn, itPushable, repeater, effect]

/** The checksum a correct run of `scenario` over `n` messages produces. */
export function expectedSum(scenario: ScenarioId, n: number): number {
  if (scenario === 'S6a') return sumRange(n - CAP, n)
  if (scenario === 'S6b') return sumTo(CAP)
  return sumTo(n)
}
