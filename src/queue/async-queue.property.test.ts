/*
 * Model-based test: random sequences of every queue operation run against AsyncQueue and
 * against a plain model (an array plus FIFO lists of waiters). After each step every promise's
 * outcome so far, every synchronous result and every stats field must match.
 * Time is fake: timeouts fire only on an explicit `advance` step, in deadline order.
 */
import { getEventListeners } from 'node:events'
import fc from 'fast-check'
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import { AbortedError, QueueClosedError, QueueFullError, TimeoutError } from '../events/errors.js'
import { AsyncQueue, type OverflowPolicy, type QueueIterator, type QueueStats } from './index.js'

type Cmd =
  | { op: 'push'; v: number }
  | { op: 'burst'; vs: number[] }
  | { op: 'send'; v: number; timeout?: number; cancellable: boolean }
  | { op: 'take'; timeout?: number; cancellable: boolean }
  | { op: 'takeBatch'; max: number; timeout?: number; cancellable: boolean }
  | { op: 'tryTake' }
  | { op: 'tryTakeBatch'; max: number }
  | { op: 'next'; slot: 0 | 1 }
  | { op: 'return'; slot: 0 | 1 }
  | { op: 'cancel'; pick: number }
  | { op: 'advance'; ms: number }
  | { op: 'close' }
  | { op: 'abort' }

/** How a promise settled, in comparable form. */
type Outcome = { ok: unknown } | { err: string } | 'pending'

const CANCEL = new Error('cancelled by the test')
const ABORT = new Error('queue aborted by the test')

function classify(error: unknown): string {
  if (error === CANCEL) return 'cancel'
  if (error === ABORT) return 'abort'
  if (error instanceof QueueClosedError) return 'closed'
  if (error instanceof TimeoutError) return 'timeout'
  if (error instanceof QueueFullError) return 'full'
  if (error instanceof AbortedError) return 'aborted'
  return `other: ${String(error)}`
}

const timeoutArb = fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined })
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('push' as const), v: fc.nat(999) }), weight: 6 },
  {
    arbitrary: fc.record({
      op: fc.constant('burst' as const),
      vs: fc.array(fc.nat(999), { minLength: 2, maxLength: 6 }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('send' as const),
      v: fc.nat(999),
      timeout: timeoutArb,
      cancellable: fc.boolean(),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('take' as const),
      timeout: timeoutArb,
      cancellable: fc.boolean(),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('takeBatch' as const),
      max: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(Infinity)),
      timeout: timeoutArb,
      cancellable: fc.boolean(),
    }),
    weight: 2,
  },
  { arbitrary: fc.constant({ op: 'tryTake' as const }), weight: 2 },
  {
    arbitrary: fc.record({
      op: fc.constant('tryTakeBatch' as const),
      max: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(Infinity)),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('next' as const),
      slot: fc.constantFrom(0 as const, 1 as const),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('return' as const),
      slot: fc.constantFrom(0 as const, 1 as const),
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ op: fc.constant('cancel' as const), pick: fc.nat(20) }), weight: 2 },
  {
    arbitrary: fc.record({
      op: fc.constant('advance' as const),
      ms: fc.integer({ min: 1, max: 20 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.constant({ op: 'close' as const }), weight: 1 },
  { arbitrary: fc.constant({ op: 'abort' as const }), weight: 1 },
)

// ---- the model ------------------------------------------------------------------------------

type Kind = 'take' | 'batch' | 'next' | 'nextBatch' | 'send'
interface MWaiter {
  id: number
  kind: Kind
  max: number
  item: number
  slot: number
  deadline: number // Infinity when none
  seq: number // creation order, breaks deadline ties like setTimeout does
  controller: AbortController | undefined
}

class Model {
  state: 'open' | 'closed' | 'aborted' = 'open'
  reason = ''
  buf: number[] = []
  consumers: MWaiter[] = []
  producers: MWaiter[] = []
  outcomes = new Map<number, Outcome>()
  now = 0
  seq = 0
  finished = [false, false]
  /** A batch waiter served during this step keeps absorbing pushes of the same step. */
  filling: { w: MWaiter; batch: number[] } | undefined = undefined
  s = { enqueued: 0, dequeued: 0, fastPath: 0, oldest: 0, newest: 0, aborted: 0, highWater: 0 }

  constructor(
    readonly capacity: number,
    readonly policy: OverflowPolicy,
  ) {}

  stats(): QueueStats {
    const s = this.s
    return {
      enqueued: s.enqueued,
      dequeued: s.dequeued,
      fastPath: s.fastPath,
      dropped: { oldest: s.oldest, newest: s.newest, aborted: s.aborted },
      size: this.buf.length,
      highWater: s.highWater,
      waitingConsumers: this.consumers.length,
      waitingProducers: this.producers.length,
    }
  }

  private store(v: number): void {
    this.buf.push(v)
    this.s.enqueued++
    if (this.buf.length > this.s.highWater) this.s.highWater = this.buf.length
  }

  private settle(w: MWaiter, o: Outcome): void {
    this.outcomes.set(w.id, o)
  }

  private deliver(w: MWaiter, v: number): void {
    this.s.enqueued++
    this.s.dequeued++
    this.s.fastPath++
    if (w.kind === 'batch' || w.kind === 'nextBatch') {
      const batch = [v]
      this.settle(w, { ok: w.kind === 'batch' ? batch : { done: false, value: batch } })
      if (w.max > 1) this.filling = { w, batch }
      return
    }
    this.settle(w, { ok: w.kind === 'take' ? v : { done: false, value: v } })
  }

  /** The end of a synchronous run: a filling batch is handed over. */
  endStep(): void {
    this.filling = undefined
  }

  private admit(): void {
    while (this.producers.length > 0 && this.buf.length < this.capacity) {
      const w = this.producers.shift()!
      this.store(w.item)
      this.settle(w, { ok: undefined })
    }
  }

  private shift(): number {
    const v = this.buf.shift()!
    this.s.dequeued++
    this.admit()
    return v
  }

  private takeN(max: number): number[] {
    const out = this.buf.splice(0, Math.min(max, this.buf.length))
    this.s.dequeued += out.length
    this.admit()
    return out
  }

  /** Synchronous result of push: 'true' | 'false' | 'throw:<class>'. */
  push(v: number): string {
    if (this.state !== 'open') return 'throw:closed'
    if (this.consumers.length > 0) {
      this.deliver(this.consumers.shift()!, v)
      return 'true'
    }
    if (this.filling !== undefined) {
      this.filling.batch.push(v)
      this.s.enqueued++
      this.s.dequeued++
      this.s.fastPath++
      if (this.filling.batch.length >= this.filling.w.max) this.filling = undefined
      return 'true'
    }
    if (this.buf.length < this.capacity) {
      this.store(v)
      return 'true'
    }
    switch (this.policy) {
      case 'drop-oldest':
        this.buf.shift()
        this.s.oldest++
        this.store(v)
        return 'true'
      case 'drop-newest':
        this.s.newest++
        return 'false'
      case 'error':
        return 'throw:full'
      default:
        return 'false'
    }
  }

  private waiter(
    id: number,
    kind: Kind,
    max: number,
    item: number,
    slot: number,
    timeout?: number,
  ): MWaiter {
    return {
      id,
      kind,
      max,
      item,
      slot,
      deadline: timeout === undefined ? Infinity : this.now + timeout,
      seq: this.seq++,
      controller: undefined,
    }
  }

  /** Returns the waiter if the call waits. */
  send(id: number, v: number, timeout: number | undefined): MWaiter | undefined {
    if (this.state !== 'open') {
      this.outcomes.set(id, { err: 'closed' })
      return undefined
    }
    const full = this.consumers.length === 0 && this.buf.length >= this.capacity
    if (!full || this.policy !== 'block') {
      const r = this.push(v)
      this.outcomes.set(id, r === 'throw:full' ? { err: 'full' } : { ok: undefined })
      return undefined
    }
    const w = this.waiter(id, 'send', 0, v, -1, timeout)
    this.producers.push(w)
    this.outcomes.set(id, 'pending')
    return w
  }

  take(
    id: number,
    kind: Kind,
    max: number,
    slot: number,
    timeout: number | undefined,
  ): MWaiter | undefined {
    if (this.buf.length > 0) {
      const value =
        kind === 'take'
          ? this.shift()
          : kind === 'batch'
            ? this.takeN(max)
            : { done: false, value: kind === 'next' ? this.shift() : this.takeN(max) }
      this.outcomes.set(id, { ok: value })
      return undefined
    }
    if (this.state === 'aborted') {
      this.outcomes.set(id, { err: this.reason })
      return undefined
    }
    if (this.state === 'closed') {
      const iter = kind === 'next' || kind === 'nextBatch'
      this.outcomes.set(id, iter ? { ok: { done: true, value: undefined } } : { err: 'closed' })
      return undefined
    }
    const w = this.waiter(id, kind, max, 0, slot, timeout)
    this.consumers.push(w)
    this.outcomes.set(id, 'pending')
    return w
  }

  tryTake(): number | undefined {
    return this.buf.length > 0 ? this.shift() : undefined
  }

  tryTakeBatch(max: number): number[] {
    return this.buf.length > 0 ? this.takeN(max) : []
  }

  private remove(w: MWaiter): boolean {
    const list = w.kind === 'send' ? this.producers : this.consumers
    const at = list.indexOf(w)
    if (at < 0) return false
    list.splice(at, 1)
    return true
  }

  cancel(w: MWaiter): void {
    if (this.remove(w)) this.settle(w, { err: 'cancel' })
  }

  advance(ms: number): void {
    const until = this.now + ms
    for (;;) {
      const due = [...this.consumers, ...this.producers]
        .filter((w) => w.deadline <= until)
        .sort((a, b) => a.deadline - b.deadline || a.seq - b.seq)
      const w = due[0]
      if (w === undefined) break
      this.now = w.deadline
      this.remove(w)
      this.settle(w, { err: 'timeout' })
    }
    this.now = until
  }

  returnIter(slot: number): void {
    this.finished[slot] = true
    for (const w of this.consumers.filter((c) => c.slot === slot)) {
      this.remove(w)
      this.settle(w, { ok: { done: true, value: undefined } })
    }
  }

  close(): void {
    if (this.state !== 'open') return
    this.state = 'closed'
    for (const w of this.producers.splice(0)) this.settle(w, { err: 'closed' })
    if (this.buf.length === 0) {
      for (const w of this.consumers.splice(0)) {
        const iter = w.kind === 'next' || w.kind === 'nextBatch'
        this.settle(w, iter ? { ok: { done: true, value: undefined } } : { err: 'closed' })
      }
    }
  }

  abort(): void {
    if (this.state === 'aborted') return
    this.state = 'aborted'
    this.reason = 'abort'
    this.s.aborted += this.buf.length
    this.buf = []
    for (const w of [...this.producers.splice(0), ...this.consumers.splice(0)]) {
      this.settle(w, { err: 'abort' })
    }
  }
}

// ---- the runner -----------------------------------------------------------------------------

async function flush(): Promise<void> {
  for (let i = 0; i < 8; i++) await Promise.resolve()
}

function syncResult(fn: () => unknown): string {
  try {
    return JSON.stringify(fn() ?? null)
  } catch (error) {
    return `throw:${classify(error)}`
  }
}

async function runSequence(capacity: number, policy: OverflowPolicy, cmds: Cmd[]): Promise<void> {
  const q = new AsyncQueue<number>({ capacity, policy })
  const m = new Model(capacity, policy)
  const real = new Map<number, Outcome>()
  const controllers: AbortController[] = []
  const waiting: MWaiter[] = [] // model waiters, in creation order, for 'cancel'
  const iters: [QueueIterator<number>, QueueIterator<number[]>] = [
    q[Symbol.asyncIterator](),
    q.batches(3),
  ]
  let nextId = 0

  const watch = (id: number, p: Promise<unknown>): void => {
    real.set(id, 'pending')
    p.then(
      (ok) => real.set(id, { ok }),
      (error: unknown) => real.set(id, { err: classify(error) }),
    )
  }

  const options = (timeout: number | undefined, cancellable: boolean) => {
    const controller = cancellable ? new AbortController() : undefined
    if (controller !== undefined) controllers.push(controller)
    return { controller, opts: { timeout, signal: controller?.signal } }
  }

  const remember = (w: MWaiter | undefined, controller: AbortController | undefined): void => {
    if (w !== undefined) {
      w.controller = controller
      waiting.push(w)
    }
  }

  for (const [step, cmd] of cmds.entries()) {
    const where = `step ${step}: ${JSON.stringify(cmd)}`
    switch (cmd.op) {
      case 'push': {
        const expected = m.push(cmd.v)
        const got = syncResult(() => q.push(cmd.v))
        expect(got.replace('throw:', 'throw:'), where).toBe(
          expected.startsWith('throw') ? expected : JSON.stringify(expected === 'true'),
        )
        break
      }
      case 'burst': {
        for (const v of cmd.vs) {
          const expected = m.push(v)
          const got = syncResult(() => q.push(v))
          expect(got, where).toBe(
            expected.startsWith('throw') ? expected : JSON.stringify(expected === 'true'),
          )
        }
        // Stats are exact mid-burst too, while a batch consumer is still filling.
        expect(q.stats, where).toEqual(m.stats())
        break
      }
      case 'send': {
        const id = nextId++
        const { controller, opts } = options(cmd.timeout, cmd.cancellable)
        remember(m.send(id, cmd.v, cmd.timeout), controller)
        watch(id, q.send(cmd.v, opts))
        break
      }
      case 'take':
      case 'takeBatch': {
        const id = nextId++
        const { controller, opts } = options(cmd.timeout, cmd.cancellable)
        const batch = cmd.op === 'takeBatch'
        remember(
          m.take(id, batch ? 'batch' : 'take', batch ? cmd.max : 1, -1, cmd.timeout),
          controller,
        )
        watch(id, batch ? q.takeBatch(cmd.max, opts) : q.take(opts))
        break
      }
      case 'tryTake':
        expect(q.tryTake(), where).toEqual(m.tryTake())
        break
      case 'tryTakeBatch':
        expect(q.tryTakeBatch(cmd.max), where).toEqual(m.tryTakeBatch(cmd.max))
        break
      case 'next': {
        const id = nextId++
        if (m.finished[cmd.slot]) m.outcomes.set(id, { ok: { done: true, value: undefined } })
        else
          remember(
            m.take(id, cmd.slot === 0 ? 'next' : 'nextBatch', 3, cmd.slot, undefined),
            undefined,
          )
        watch(id, iters[cmd.slot].next())
        break
      }
      case 'return': {
        m.returnIter(cmd.slot)
        await iters[cmd.slot].return()
        // A fresh iterator takes the slot, so later 'next' steps keep exercising the queue.
        m.finished[cmd.slot] = false
        if (cmd.slot === 0) iters[0] = q[Symbol.asyncIterator]()
        else iters[1] = q.batches(3)
        break
      }
      case 'cancel': {
        const live = waiting.filter(
          (w) => w.controller !== undefined && m.outcomes.get(w.id) === 'pending',
        )
        const w = live[cmd.pick % Math.max(1, live.length)]
        if (w !== undefined) {
          m.cancel(w)
          w.controller!.abort(CANCEL)
        }
        break
      }
      case 'advance':
        m.advance(cmd.ms)
        vi.advanceTimersByTime(cmd.ms)
        break
      case 'close':
        m.close()
        q.close()
        break
      case 'abort':
        m.abort()
        q.abort(ABORT)
        break
    }
    m.endStep()
    await flush()
    expect(real, where).toEqual(m.outcomes)
    expect(q.stats, where).toEqual(m.stats())
    expect(q.size, where).toBe(m.buf.length)
    expect(q.state, where).toBe(m.state)
    // Invariants the implementation documents.
    const st = q.stats
    expect(st.enqueued).toBe(st.dequeued + st.size + st.dropped.oldest + st.dropped.aborted)
    if (st.waitingConsumers > 0) expect(st.size).toBe(0)
    if (st.waitingProducers > 0) expect(st.size).toBe(capacity)
    // Exactly the live waiters hold timers and signal listeners.
    const live = [...m.consumers, ...m.producers]
    expect(vi.getTimerCount(), where).toBe(live.filter((w) => w.deadline !== Infinity).length)
    const listening = controllers.filter((c) => getEventListeners(c.signal, 'abort').length > 0)
    expect(listening.length, where).toBe(live.filter((w) => w.controller !== undefined).length)
  }

  // Ending leaves nothing behind.
  q.abort(ABORT)
  m.abort()
  await flush()
  expect(real).toEqual(m.outcomes)
  expect(vi.getTimerCount()).toBe(0)
  for (const c of controllers) expect(getEventListeners(c.signal, 'abort')).toHaveLength(0)
}

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

it('AsyncQueue behaves like its model under random operation sequences', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(1, 2, 3, 5, Infinity),
      fc.constantFrom<OverflowPolicy>('block', 'drop-oldest', 'drop-newest', 'error'),
      fc.array(cmdArb, { minLength: 1, maxLength: 60 }),
      async (capacity, policy, cmds) => {
        vi.clearAllTimers()
        await runSequence(capacity, policy, cmds)
      },
    ),
    { numRuns: 3000 },
  )
}, 60_000)
