/*
 * The queue benchmark's workloads, written ONCE and driven the plain way a user's code drives
 * a queue: `push()` (under `block`, `await send()` only when `push()` returned false) and
 * `for await` to drain. Every implementation (ours, the peers, a hand-written floor) is seen
 * through the same small `PlainQueue` interface: ours is passed as is, each peer through the
 * thinnest adapter its API allows (said in `notes`). Each scenario returns a checksum so the
 * work cannot be optimised away and a wrong implementation is caught. `queue-worker.ts` runs
 * one implementation × scenario per fresh process; `queue.ts` orchestrates and reports.
 *
 * What this replaced (why the old bench and a user's harness disagreed): the old bench wrote
 * each scenario per implementation in that library's "best" idiom, so runbus's S3 producer
 * waited on `onSizeLessThan(512)` (one wait per 512 items) while a user's `await send()` waits
 * per item once the queue is full; the floor's S6b skipped `push()` when full; and each
 * process ran two warm-up passes and kept the best of three runs, where a user's process
 * meets the queue cold. Here every implementation runs the same driver, the first run of a
 * fresh process is the one measured, and its median over processes is reported.
 */
import { EventEmitter, on } from 'node:events'
import { AsyncQueue } from '../src/queue/index.js'
import { DONE, TICK, type Make, type PlainQueue, type Policy } from './queue-plain.js'

export const SCENARIOS = {
  S1: 'buffered: push all, then drain',
  S2: 'handoff: consumer already waiting for every message',
  S3: 'bounded 1024, block: push; await send() when push() is false',
  S4: 'fan-in: 4 async producers (one await per message), 1 consumer',
  S5: 'batch take: bursts of 64',
  S6a: 'drop-oldest: push onto a full queue of 1024',
  S6b: 'drop-newest: push onto a full queue of 1024',
} as const
export type ScenarioId = keyof typeof SCENARIOS

export const CAP = 1024
export const BURST = 64
export const PRODUCERS = 4

export interface Impl {
  readonly name: string
  /**
   * Resolves its queue constructor. Peers import their package here, on demand: the worker
   * calls this before the timed run, so each process holds only the implementation it measures.
   */
  readonly load: () => Promise<Make>
  /** The only scenarios it runs, when it is a variant of another row (blank elsewhere). */
  readonly only?: readonly ScenarioId[]
  /** Scenarios the implementation cannot run, with the reason. */
  readonly na?: Partial<Record<ScenarioId, string>>
  /** How the adapter maps the plain calls, where that is not one-to-one. */
  readonly notes?: Partial<Record<ScenarioId, string>>
  /** Message counts for runs too slow at the full count (reported with the result). */
  readonly sizes?: Partial<Record<ScenarioId, number>>
}

/** Sum of 0..n-1, the checksum of a lossless run. */
export const sumTo = (n: number): number => (n * (n - 1)) / 2
/** Sum of the range [from, to). */
export const sumRange = (from: number, to: number): number => sumTo(to) - sumTo(from)

/** How many items a scenario's consumer receives. */
export function expectedCount(scenario: ScenarioId, n: number): number {
  return scenario === 'S6a' || scenario === 'S6b' ? CAP : n
}

/** The checksum a correct run of `scenario` over `n` messages produces. */
export function expectedSum(scenario: ScenarioId, n: number): number {
  if (scenario === 'S6a') return sumRange(n - CAP, n)
  if (scenario === 'S6b') return sumTo(CAP)
  return sumTo(n)
}

// ---- the drivers: one per scenario, shared by every implementation -------------------------

/** Drains `count` items with `for await` (then breaks, which every iterator supports). */
async function drain(q: PlainQueue, count: number): Promise<number> {
  let sum = 0
  let c = 0
  for await (const x of q) {
    sum += x
    if (++c === count) break
  }
  return sum
}

type Driver = (make: Make, n: number) => Promise<number>
export const DRIVERS: Record<ScenarioId, Driver> = {
  S1: async (make, n) => {
    const q = make(Infinity, 'block', n, false)
    for (let i = 0; i < n; i++) q.push(i)
    q.close()
    return drain(q, n)
  },
  S2: async (make, n) => {
    const q = make(Infinity, 'block', n, false)
    let i = 0
    const produce = (): void => {
      q.push(i++)
    }
    let sum = 0
    let c = 0
    void TICK.then(produce)
    for await (const x of q) {
      sum += x
      if (++c === n) break
      void TICK.then(produce)
    }
    return sum
  },
  S3: async (make, n) => {
    const q = make(CAP, 'block', n, false)
    const producer = (async () => {
      for (let i = 0; i < n; i++) if (!q.push(i)) await q.send(i)
      q.close()
    })()
    const sum = await drain(q, n)
    await producer
    return sum
  },
  S4: async (make, n) => {
    const q = make(Infinity, 'block', n, false)
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
    return drain(q, n)
  },
  S5: async (make, n) => {
    const q = make(Infinity, 'block', n, true)
    let next = 0
    // The last burst stops at n (n need not be a multiple of BURST).
    const burst = (): void => {
      for (let k = 0; k < BURST && next < n; k++) q.push(next++)
    }
    let sum = 0
    let c = 0
    void TICK.then(burst)
    for await (const batch of q.batches!()) {
      for (let k = 0; k < batch.length; k++) sum += batch[k]
      c += batch.length
      if (c === n) break
      if (c % BURST === 0) void TICK.then(burst)
    }
    return sum
  },
  S6a: async (make, n) => {
    const q = make(CAP, 'drop-oldest', n, false)
    for (let i = 0; i < n; i++) q.push(i)
    q.close()
    return drain(q, CAP)
  },
  S6b: async (make, n) => {
    const q = make(CAP, 'drop-newest', n, false)
    for (let i = 0; i < n; i++) q.push(i)
    q.close()
    return drain(q, CAP)
  },
}

/** A constructor that needs no loading (ours, the floor, Node's own events.on). */
const now =
  (make: Make): (() => Promise<Make>) =>
  () =>
    Promise.resolve(make)

// ---- ours: the AsyncQueue itself, no adapter --------------------------------------------------

const ours: Impl = {
  name: 'runbus',
  load: now((capacity, policy) => new AsyncQueue<number>({ capacity, policy })),
}

/**
 * Ours with the opt-in hysteresis events.on has by default: a `block` queue that refused a
 * producer holds it until drained to `lowWaterMark` (events.on resumes its emitter at 1), so
 * the S3 producer is woken once per 1,023 items instead of once per item. Only S3 differs
 * from `runbus` (the mark applies to a bounded `block` queue alone).
 */
const oursLowWaterMark: Impl = {
  name: 'runbus-lwm',
  load: now((capacity, policy) => new AsyncQueue<number>({ capacity, policy, lowWaterMark: 1 })),
  notes: { S3: 'AsyncQueue({ capacity: 1024, lowWaterMark: 1 }), the events.on setting' },
  only: ['S3'],
}

// ---- the floor: a minimal hand-written promise queue (array + resolver lists) -----------------

class FloorQueue implements PlainQueue, AsyncIterator<number> {
  items: (number | undefined)[] = []
  head = 0 // Array#shift is O(n) on large arrays: a head index is the minimum a floor needs
  waiters: ((r: IteratorResult<number, undefined>) => void)[] = []
  senders: [number, () => void][] = []
  batchWaiter: ((b: number[]) => void) | undefined = undefined
  ended = false
  constructor(
    readonly capacity: number,
    readonly policy: Policy,
  ) {}
  get size(): number {
    return this.items.length - this.head
  }
  push(x: number): boolean {
    const w = this.waiters.shift()
    if (w !== undefined) {
      w({ value: x, done: false })
      return true
    }
    if (this.batchWaiter !== undefined) {
      const b = this.batchWaiter
      this.batchWaiter = undefined
      b([x])
      return true
    }
    if (this.size >= this.capacity) {
      if (this.policy !== 'drop-oldest') return false
      this.shift()
    }
    this.items.push(x)
    return true
  }
  send(x: number): Promise<void> {
    if (this.push(x)) return Promise.resolve()
    return new Promise((resolve) => this.senders.push([x, resolve]))
  }
  private shift(): number {
    const value = this.items[this.head] as number
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
  close(): void {
    this.ended = true
    for (const w of this.waiters.splice(0)) w(DONE)
  }
  next(): Promise<IteratorResult<number, undefined>> {
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
  return(): Promise<IteratorResult<number, undefined>> {
    return Promise.resolve(DONE)
  }
  [Symbol.asyncIterator](): this {
    return this
  }
  async *batches(): AsyncIterable<number[]> {
    for (;;) {
      if (this.size > 0) {
        const b = this.items.slice(this.head) as number[]
        this.items = []
        this.head = 0
        yield b
      } else yield await new Promise<number[]>((resolve) => (this.batchWaiter = resolve))
    }
  }
}

const floor: Impl = {
  name: 'floor',
  load: now((capacity, policy) => new FloorQueue(capacity, policy)),
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

class EventsOnQueue implements PlainQueue {
  private readonly ee = new PausableEmitter()
  private readonly it: AsyncIterator<unknown[]>
  constructor(capacity: number) {
    this.it = on(this.ee, 'data', capacity === Infinity ? {} : { highWaterMark: capacity })
  }
  push(x: number): boolean {
    if (this.ee.paused) return false
    this.ee.emit('data', x)
    return true
  }
  async send(x: number): Promise<void> {
    while (this.ee.paused) await this.ee.waitResume()
    this.ee.emit('data', x)
  }
  close(): void {}
  [Symbol.asyncIterator](): AsyncIterator<number> {
    const it = this.it
    return {
      next: async () => {
        const r = await it.next()
        return r.done === true ? DONE : { value: r.value[0] as number, done: false }
      },
      return: async () => {
        await it.return?.()
        return DONE
      },
    }
  }
}

const eventsOn: Impl = {
  name: 'events.on',
  load: now((capacity) => new EventsOnQueue(capacity)),
  notes: {
    S3: 'highWaterMark 1024 pauses the emitter (push false); send waits for resume, which events.on does at its lowWaterMark (1)',
  },
  na: { S5: 'no batch API', S6a: 'no overflow policy', S6b: 'no overflow policy' },
}

const itPushable: Impl = {
  name: 'it-pushable',
  load: async () => {
    const { itPushableQueue } = await import('./queue-peers/it-pushable.js')
    return (capacity, _policy, _n, batch) => itPushableQueue(capacity, batch)
  },
  notes: {
    S3: 'unbounded: push refuses once 1024 are buffered; send awaits onEmpty()',
    S5: 'pushableV (yields arrays)',
    S6b: 'push refuses while readableLength >= 1024',
  },
  na: { S6a: 'no overflow policy, and no way to drop its oldest item from outside' },
}

const REPEATER_N = 32_768
const repeater: Impl = {
  name: 'repeater',
  load: async () => {
    const { repeaterQueue } = await import('./queue-peers/repeater.js')
    return (capacity, policy, n) => repeaterQueue(capacity, policy, n)
  },
  // ~6 s per million messages; its FixedBuffer shifts an array, so S1 is quadratic.
  sizes: {
    S1: 16_384,
    S2: REPEATER_N,
    S3: REPEATER_N,
    S4: REPEATER_N,
    S6a: REPEATER_N,
    S6b: REPEATER_N,
  },
  notes: {
    S1: 'FixedBuffer(n) (its buffer shifts an array: quadratic)',
    S3: 'FixedBuffer(1024); push counts pending pushes to refuse when full, send awaits push()',
    S6b: 'DroppingBuffer(1024)',
  },
  na: {
    S5: 'no batch API',
    S6a: 'its executor runs on the first next(), which then takes item 0: no full queue to push onto',
  },
}

const effect: Impl = {
  name: 'effect',
  load: async () => {
    const { effectQueue } = await import('./queue-peers/effect.js')
    return (capacity, policy) => effectQueue(capacity, policy)
  },
  notes: {
    S1: 'offerUnsafe; each next() is Effect.runPromise(Queue.take)',
    S3: 'Queue.bounded(1024): offerUnsafe, send = runPromise(Queue.offer)',
    S5: 'runPromise(Queue.takeAll)',
    S6a: 'Queue.sliding(1024)',
    S6b: 'Queue.dropping(1024)',
  },
}

export const IMPLS: readonly Impl[] = [
  ours,
  oursLowWaterMark,
  floor,
  eventsOn,
  itPushable,
  repeater,
  effect,
]

/** Runs `scenario` over `n` messages on queues from `make` once; returns the checksum. */
export function runScenario(make: Make, scenario: ScenarioId, n: number): Promise<number> {
  return DRIVERS[scenario](make, n)
}
