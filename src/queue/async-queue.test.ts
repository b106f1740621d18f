import { getEventListeners } from 'node:events'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  AbortedError,
  InvalidArgumentError,
  QueueClosedError,
  QueueFullError,
  TimeoutError,
} from '../events/errors.js'
import { AsyncQueue, type QueueStats } from './index.js'

/** Lets every already-queued microtask (promise reaction) run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve()
}

/** Records how a promise settles, without awaiting it. */
function track<T>(p: Promise<T>): { settled: boolean; value?: T; error?: unknown } {
  const s: { settled: boolean; value?: T; error?: unknown } = { settled: false }
  p.then(
    (value) => {
      s.settled = true
      s.value = value
    },
    (error: unknown) => {
      s.settled = true
      s.error = error
    },
  )
  return s
}

function expectBalanced(stats: QueueStats): void {
  expect(stats.enqueued).toBe(
    stats.dequeued + stats.size + stats.dropped.oldest + stats.dropped.aborted,
  )
}

afterEach(() => {
  vi.useRealTimers()
})

describe('AsyncQueue construction', () => {
  it('defaults to an unbounded block queue', () => {
    const q = new AsyncQueue<number>()
    expect(q.capacity).toBe(Infinity)
    expect(q.policy).toBe('block')
    expect(q.state).toBe('open')
    expect(q.closed).toBe(false)
    let accepted = 0
    for (let i = 0; i < 100_000; i++) if (q.push(i)) accepted++
    expect(accepted).toBe(100_000)
    expect(q.size).toBe(100_000)
  })

  it('refuses a bad capacity, policy or max', () => {
    expect(() => new AsyncQueue({ capacity: 0 })).toThrow(InvalidArgumentError)
    expect(() => new AsyncQueue({ capacity: 1.5 })).toThrow(InvalidArgumentError)
    expect(() => new AsyncQueue({ capacity: NaN })).toThrow(InvalidArgumentError)
    // @ts-expect-error unknown policy
    expect(() => new AsyncQueue({ policy: 'spill' })).toThrow(InvalidArgumentError)
    const q = new AsyncQueue<number>()
    expect(() => q.tryTakeBatch(0)).toThrow(InvalidArgumentError)
    expect(() => q.takeBatch(-1)).toThrow(InvalidArgumentError)
    expect(() => q.take({ timeout: -1 })).toThrow(InvalidArgumentError)
  })
})

describe('push and overflow policies', () => {
  it('block: push returns false when full and enqueues nothing', () => {
    const q = new AsyncQueue<number>({ capacity: 2 })
    expect(q.push(1)).toBe(true)
    expect(q.push(2)).toBe(true)
    expect(q.push(3)).toBe(false)
    expect(q.tryTakeBatch()).toEqual([1, 2])
    expect(q.stats).toMatchObject({ enqueued: 2, dequeued: 2, dropped: { oldest: 0, newest: 0 } })
  })

  it('drop-newest: push returns false and counts the drop', () => {
    const q = new AsyncQueue<number>({ capacity: 2, policy: 'drop-newest' })
    expect([q.push(1), q.push(2), q.push(3), q.push(4)]).toEqual([true, true, false, false])
    expect(q.tryTakeBatch()).toEqual([1, 2])
    expect(q.stats.dropped).toEqual({ oldest: 0, newest: 2, aborted: 0 })
    expect(q.stats.enqueued).toBe(2)
  })

  it('drop-oldest: push returns true and the oldest buffered item goes', () => {
    const q = new AsyncQueue<number>({ capacity: 3, policy: 'drop-oldest' })
    for (let i = 1; i <= 7; i++) expect(q.push(i)).toBe(true)
    expect(q.size).toBe(3)
    expect(q.tryTakeBatch()).toEqual([5, 6, 7])
    expect(q.stats.dropped).toEqual({ oldest: 4, newest: 0, aborted: 0 })
    expect(q.stats.enqueued).toBe(7)
    expectBalanced(q.stats)
  })

  it('error: push throws QueueFullError', () => {
    const q = new AsyncQueue<number>({ capacity: 1, policy: 'error' })
    q.push(1)
    expect(() => q.push(2)).toThrow(QueueFullError)
    try {
      q.push(2)
    } catch (error) {
      expect((error as QueueFullError).code).toBe('queue_full')
    }
    expect(q.tryTakeBatch()).toEqual([1])
  })

  it('push after close or abort throws QueueClosedError', () => {
    const a = new AsyncQueue<number>()
    a.close()
    expect(() => a.push(1)).toThrow(QueueClosedError)
    const b = new AsyncQueue<number>()
    b.abort()
    expect(() => b.push(1)).toThrow(QueueClosedError)
  })

  it('keeps FIFO order across ring wrap-around and growth', () => {
    const q = new AsyncQueue<number>()
    let next = 0
    let expected = 0
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 37 + round * 3; i++) q.push(next++)
      for (let i = 0; i < 29 + round; i++) expect(q.tryTake()).toBe(expected++)
    }
    for (const x of q.tryTakeBatch()) expect(x).toBe(expected++)
    expect(expected).toBe(next)
  })
})

describe('send', () => {
  it('waits for room under block, and keeps send order (FIFO senders)', async () => {
    const q = new AsyncQueue<number>({ capacity: 1 })
    await q.send(1)
    const s2 = track(q.send(2))
    const s3 = track(q.send(3))
    await flush()
    expect(s2.settled).toBe(false)
    expect(q.stats.waitingProducers).toBe(2)
    expect(q.push(99)).toBe(false)
    expect(await q.take()).toBe(1)
    // The first blocked sender's item moved into the buffer at once.
    expect(q.size).toBe(1)
    expect(q.stats.enqueued).toBe(2)
    await flush()
    expect(s2).toMatchObject({ settled: true })
    expect(s3.settled).toBe(false)
    expect(await q.take()).toBe(2)
    expect(await q.take()).toBe(3)
    await flush()
    expect(s3.settled).toBe(true)
    expect(q.stats.waitingProducers).toBe(0)
  })

  it('a batch take admits as many blocked senders as it freed room for', async () => {
    const q = new AsyncQueue<number>({ capacity: 3 })
    for (let i = 0; i < 3; i++) q.push(i)
    const sends = [3, 4, 5, 6, 7].map((i) => track(q.send(i)))
    expect(await q.takeBatch(2)).toEqual([0, 1])
    expect(q.stats.waitingProducers).toBe(3)
    expect(q.tryTakeBatch()).toEqual([2, 3, 4])
    expect(q.tryTakeBatch()).toEqual([5, 6, 7])
    await flush()
    expect(sends.every((s) => s.settled && s.error === undefined)).toBe(true)
  })

  it('acts as push under the other policies', async () => {
    const newest = new AsyncQueue<number>({ capacity: 1, policy: 'drop-newest' })
    await newest.send(1)
    await newest.send(2) // resolves, item refused and counted
    expect(newest.stats.dropped.newest).toBe(1)
    const oldest = new AsyncQueue<number>({ capacity: 1, policy: 'drop-oldest' })
    await oldest.send(1)
    await oldest.send(2)
    expect(oldest.tryTake()).toBe(2)
    const error = new AsyncQueue<number>({ capacity: 1, policy: 'error' })
    await error.send(1)
    await expect(error.send(2)).rejects.toBeInstanceOf(QueueFullError)
  })

  it('rejects with QueueClosedError when the queue closes while it waits, never enqueueing', async () => {
    const q = new AsyncQueue<number>({ capacity: 1 })
    q.push(1)
    const s = q.send(2)
    q.close()
    await expect(s).rejects.toBeInstanceOf(QueueClosedError)
    await expect(q.send(3)).rejects.toBeInstanceOf(QueueClosedError)
    expect(await q.take()).toBe(1)
    await expect(q.take()).rejects.toBeInstanceOf(QueueClosedError)
    expect(q.stats.enqueued).toBe(1)
  })

  it('times out without leaving a waiter or timer, and enqueues nothing', async () => {
    vi.useFakeTimers()
    const q = new AsyncQueue<number>({ capacity: 1 })
    q.push(1)
    const s = track(q.send(2, { timeout: 100 }))
    expect(vi.getTimerCount()).toBe(1)
    vi.advanceTimersByTime(99)
    await flush()
    expect(s.settled).toBe(false)
    vi.advanceTimersByTime(1)
    await flush()
    expect(s.error).toBeInstanceOf(TimeoutError)
    expect((s.error as TimeoutError).timeoutMs).toBe(100)
    expect(vi.getTimerCount()).toBe(0)
    expect(q.stats.waitingProducers).toBe(0)
    expect(q.tryTakeBatch()).toEqual([1])
    expect(q.stats.enqueued).toBe(1)
  })

  it('timeout 0 on a full queue rejects at once', async () => {
    const q = new AsyncQueue<number>({ capacity: 1 })
    q.push(1)
    await expect(q.send(2, { timeout: 0 })).rejects.toBeInstanceOf(TimeoutError)
    await q.take()
    await q.send(2, { timeout: 0 })
    expect(q.tryTake()).toBe(2)
  })

  it('aborts with the signal reason and removes its listener', async () => {
    const q = new AsyncQueue<number>({ capacity: 1 })
    q.push(1)
    const ac = new AbortController()
    const s = q.send(2, { signal: ac.signal })
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1)
    const reason = new Error('stop')
    ac.abort(reason)
    await expect(s).rejects.toBe(reason)
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0)
    expect(q.stats.waitingProducers).toBe(0)
    // An already aborted signal rejects at once, even if there is room.
    await q.take()
    await expect(q.send(3, { signal: ac.signal })).rejects.toBe(reason)
    expect(q.size).toBe(0)
  })

  it('a cancelled middle sender does not disturb the order of the others', async () => {
    const q = new AsyncQueue<number>({ capacity: 1 })
    q.push(0)
    const ac = new AbortController()
    const a = q.send(1)
    const b = q.send(2, { signal: ac.signal })
    const c = q.send(3)
    ac.abort()
    await expect(b).rejects.toBeDefined()
    expect(q.stats.waitingProducers).toBe(2)
    const got = [await q.take(), await q.take(), await q.take()]
    expect(got).toEqual([0, 1, 3])
    await Promise.all([a, c])
  })

  it('a settled send releases its signal listener too', async () => {
    const q = new AsyncQueue<number>({ capacity: 1 })
    q.push(0)
    const ac = new AbortController()
    const s = q.send(1, { signal: ac.signal, timeout: 1_000_000 })
    await q.take()
    await s
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0)
  })
})

describe('take', () => {
  it('a waiting consumer gets the next item directly (fast path)', async () => {
    const q = new AsyncQueue<number>()
    const t = q.take()
    expect(q.stats.waitingConsumers).toBe(1)
    expect(q.push(7)).toBe(true)
    expect(q.size).toBe(0)
    expect(await t).toBe(7)
    expect(q.stats).toEqual({
      enqueued: 1,
      dequeued: 1,
      fastPath: 1,
      dropped: { oldest: 0, newest: 0, aborted: 0 },
      size: 0,
      highWater: 0,
      waitingConsumers: 0,
      waitingProducers: 0,
    })
  })

  it('serves waiting consumers in the order they started waiting, one item each', async () => {
    const q = new AsyncQueue<string>()
    const a = q.take()
    const b = q.takeBatch()
    const c = q.take()
    q.push('x')
    q.push('y')
    q.push('z')
    q.push('w')
    expect(await a).toBe('x')
    // b was served 'y' first; once no one else waits, the rest of the burst joins its batch.
    expect(await b).toEqual(['y', 'w'])
    expect(await c).toBe('z')
    expect(q.tryTake()).toBeUndefined()
  })

  it('takes buffered items first, in order', async () => {
    const q = new AsyncQueue<number>()
    q.push(1)
    q.push(2)
    expect(await q.take()).toBe(1)
    expect(await q.take()).toBe(2)
    expect(q.tryTake()).toBeUndefined()
  })

  it('times out with no leftovers: no timer, no waiter, the next item is still takeable', async () => {
    vi.useFakeTimers()
    const q = new AsyncQueue<number>()
    const t = track(q.take({ timeout: 50 }))
    expect(q.stats.waitingConsumers).toBe(1)
    await vi.advanceTimersByTimeAsync(50)
    expect(t.error).toBeInstanceOf(TimeoutError)
    expect(vi.getTimerCount()).toBe(0)
    expect(q.stats.waitingConsumers).toBe(0)
    q.push(1)
    expect(q.stats.fastPath).toBe(0)
    expect(await q.take()).toBe(1)
  })

  it('a take satisfied before its timeout clears the timer', async () => {
    vi.useFakeTimers()
    const q = new AsyncQueue<number>()
    const t = q.take({ timeout: 1000 })
    expect(vi.getTimerCount()).toBe(1)
    q.push(5)
    expect(vi.getTimerCount()).toBe(0)
    expect(await t).toBe(5)
  })

  it('aborts with the signal reason, leaves no listener and swallows no later item', async () => {
    const q = new AsyncQueue<number>()
    const ac = new AbortController()
    const t = q.take({ signal: ac.signal })
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1)
    ac.abort()
    await expect(t).rejects.toMatchObject({ name: 'AbortError' })
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0)
    expect(q.stats.waitingConsumers).toBe(0)
    q.push(1)
    expect(q.tryTake()).toBe(1)
  })

  it('an already aborted signal rejects without consuming', async () => {
    const q = new AsyncQueue<number>()
    q.push(1)
    const reason = new Error('gone')
    await expect(q.take({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    await expect(q.takeBatch(5, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    expect(q.size).toBe(1)
  })

  it('a signal shared by many waits keeps only the live listeners', async () => {
    const q = new AsyncQueue<number>()
    const ac = new AbortController()
    const waits = [q.take({ signal: ac.signal }), q.take({ signal: ac.signal })]
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(2)
    q.push(1)
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1)
    expect(await waits[0]).toBe(1)
    ac.abort()
    await expect(waits[1]).rejects.toBeDefined()
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0)
  })

  it('timeout 0 on an empty queue rejects at once, on a non-empty one takes', async () => {
    const q = new AsyncQueue<number>()
    await expect(q.take({ timeout: 0 })).rejects.toBeInstanceOf(TimeoutError)
    q.push(3)
    expect(await q.take({ timeout: 0 })).toBe(3)
    expect(q.stats.waitingConsumers).toBe(0)
  })
})

describe('takeBatch and tryTakeBatch', () => {
  it('returns up to max items, all by default', async () => {
    const q = new AsyncQueue<number>()
    for (let i = 0; i < 10; i++) q.push(i)
    expect(await q.takeBatch(3)).toEqual([0, 1, 2])
    expect(await q.takeBatch()).toEqual([3, 4, 5, 6, 7, 8, 9])
    expect(q.tryTakeBatch()).toEqual([])
  })

  it('handles wrapped rings and keeps working after swapping the buffer out', () => {
    const q = new AsyncQueue<number>({ capacity: 8 })
    for (let i = 0; i < 8; i++) q.push(i)
    expect(q.tryTakeBatch(5)).toEqual([0, 1, 2, 3, 4])
    for (let i = 8; i < 13; i++) q.push(i) // wraps
    expect(q.tryTakeBatch(6)).toEqual([5, 6, 7, 8, 9, 10])
    expect(q.tryTakeBatch()).toEqual([11, 12])
    for (let i = 0; i < 8; i++) q.push(i)
    const whole = q.tryTakeBatch()
    expect(whole).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    q.push(100)
    expect(whole).toEqual([0, 1, 2, 3, 4, 5, 6, 7]) // the swapped-out array is the caller's
    expect(q.tryTakeBatch()).toEqual([100])
  })

  it('a swap on a non-power-of-two capacity keeps a valid ring (regression)', async () => {
    const q = new AsyncQueue<number>({ capacity: 3 })
    q.push(1)
    q.push(2)
    q.push(3)
    expect(q.tryTakeBatch(3)).toEqual([1, 2, 3])
    q.push(4)
    q.push(5)
    expect(await q.takeBatch(2)).toEqual([4, 5])
    for (let i = 6; i < 30; i++) {
      q.push(i)
      expect(q.tryTake()).toBe(i)
    }
  })

  it('a waiting batch consumer receives a synchronous burst as one batch, up to max', async () => {
    const q = new AsyncQueue<number>()
    const b = q.takeBatch(3)
    const next = q.take()
    for (let i = 1; i <= 5; i++) q.push(i)
    expect(q.stats).toMatchObject({ waitingConsumers: 0, fastPath: 4, size: 1 })
    // 1 to b; 2 to the take still waiting; then b's batch absorbs the burst up to max.
    expect(await b).toEqual([1, 3, 4])
    expect(await next).toBe(2)
    expect(q.tryTakeBatch()).toEqual([5])
    // The burst ends with the synchronous run: a later push starts a new batch.
    const c = q.takeBatch()
    q.push(6)
    await flush()
    q.push(7)
    expect(await c).toEqual([6])
    expect(q.tryTake()).toBe(7)
  })

  it('two waiting batch consumers in one burst both get their items (regression)', async () => {
    const q = new AsyncQueue<number>()
    const a = q.takeBatch(2)
    const b = q.takeBatch()
    q.push(1) // a starts filling
    q.push(2) // b is still waiting, so it is served; a is handed over
    q.push(3) // joins b's batch
    expect(await a).toEqual([1])
    expect(await b).toEqual([2, 3])
    expect(q.stats).toMatchObject({ enqueued: 3, dequeued: 3, fastPath: 3, waitingConsumers: 0 })
  })

  it('a filling batch is still handed over after close or abort', async () => {
    const q = new AsyncQueue<number>()
    const b = q.takeBatch()
    q.push(1)
    q.push(2)
    q.abort()
    expect(await b).toEqual([1, 2])
    const it = new AsyncQueue<number>()
    const n = it.batches().next()
    it.push(1)
    it.close()
    expect(await n).toEqual({ done: false, value: [1] })
  })

  it('a served batch wait leaves nothing behind for the wait that reuses its record', async () => {
    vi.useFakeTimers()
    const q = new AsyncQueue<number>()
    const first = new AbortController()
    // Served by a one-item handoff (max 1) and by a filling batch (max 4): both paths recycle.
    for (const max of [1, 4]) {
      const b = q.takeBatch(max, { signal: first.signal, timeout: 50 })
      q.push(max)
      q.push(max + 1)
      expect(await b).toEqual(max === 1 ? [1] : [4, 5])
      q.tryTakeBatch()
      expect(getEventListeners(first.signal, 'abort')).toHaveLength(0)
    }
    // The next waits get the recycled record: the first wait's signal and timer must not reach them.
    const take = track(q.take())
    const batch = track(q.takeBatch(2))
    first.abort(new Error('stale signal'))
    await vi.advanceTimersByTimeAsync(100)
    expect(take.settled).toBe(false)
    expect(batch.settled).toBe(false)
    q.push(7)
    q.push(8)
    await flush()
    expect(take.value).toBe(7)
    expect(batch.value).toEqual([8])
    expect(q.stats).toMatchObject({ waitingConsumers: 0, enqueued: 6, dequeued: 6 })
  })

  it('times out and aborts like take', async () => {
    vi.useFakeTimers()
    const q = new AsyncQueue<number>()
    const t = track(q.takeBatch(4, { timeout: 10 }))
    await vi.advanceTimersByTimeAsync(10)
    expect(t.error).toBeInstanceOf(TimeoutError)
    const ac = new AbortController()
    const b = q.takeBatch(4, { signal: ac.signal })
    ac.abort(new Error('x'))
    await expect(b).rejects.toThrow('x')
    expect(q.stats.waitingConsumers).toBe(0)
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0)
  })
})

describe('onSizeLessThan', () => {
  it('resolves at once under the limit, else once takes drain below it', async () => {
    const q = new AsyncQueue<number>({ capacity: 4 })
    await q.onSizeLessThan(1)
    for (let i = 0; i < 4; i++) q.push(i)
    const half = track(q.onSizeLessThan(2))
    const empty = track(q.onSizeLessThan(1))
    expect(q.stats.waitingProducers).toBe(0)
    q.tryTake()
    q.tryTake()
    await flush()
    expect(half.settled).toBe(false)
    q.tryTake()
    await flush()
    expect([half.settled, half.error]).toEqual([true, undefined])
    expect(empty.settled).toBe(false)
    expect(await q.takeBatch()).toEqual([3])
    await flush()
    expect([empty.settled, empty.error]).toEqual([true, undefined])
  })

  it('drives a hot producer with hysteresis and loses nothing', async () => {
    const q = new AsyncQueue<number>({ capacity: 8 })
    const producer = (async () => {
      for (let i = 0; i < 100; i++) while (!q.push(i)) await q.onSizeLessThan(4)
      q.close()
    })()
    const got: number[] = []
    for await (const x of q) got.push(x)
    await producer
    expect(got).toEqual([...Array(100).keys()])
  })

  it('rejects on close, abort, timeout and signal, leaving nothing behind', async () => {
    vi.useFakeTimers()
    const q = new AsyncQueue<number>({ capacity: 1 })
    q.push(1)
    const t = track(q.onSizeLessThan(1, { timeout: 5 }))
    await vi.advanceTimersByTimeAsync(5)
    expect(t.error).toBeInstanceOf(TimeoutError)
    const ac = new AbortController()
    const s = q.onSizeLessThan(1, { signal: ac.signal })
    ac.abort(new Error('no'))
    await expect(s).rejects.toThrow('no')
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0)
    const c = q.onSizeLessThan(1)
    q.close()
    await expect(c).rejects.toBeInstanceOf(QueueClosedError)
    await expect(q.onSizeLessThan(5)).rejects.toBeInstanceOf(QueueClosedError)
    const a = new AsyncQueue<number>({ capacity: 1 })
    a.push(1)
    const w = a.onSizeLessThan(1)
    a.abort()
    await expect(w).rejects.toBeInstanceOf(AbortedError)
    expect(vi.getTimerCount()).toBe(0)
    expect(() => a.onSizeLessThan(0)).toThrow(InvalidArgumentError)
  })
})

describe('lowWaterMark', () => {
  it('holds push refused until the buffer drains to the mark, then fills to capacity', () => {
    const q = new AsyncQueue<number>({ capacity: 4, lowWaterMark: 1 })
    expect(q.lowWaterMark).toBe(1)
    for (let i = 0; i < 4; i++) expect(q.push(i)).toBe(true)
    expect(q.push(4)).toBe(false) // full: refused, and now held until size <= 1
    expect(q.tryTake()).toBe(0)
    expect(q.push(5)).toBe(false) // size 3: room, but above the mark
    expect(q.tryTake()).toBe(1)
    expect(q.push(6)).toBe(false) // size 2
    expect(q.tryTake()).toBe(2) // size 1: at the mark, released
    expect(q.push(7)).toBe(true)
    expect(q.push(8)).toBe(true)
    expect(q.push(9)).toBe(true)
    expect(q.stats.size).toBe(4)
    expect(q.push(10)).toBe(false)
    expect(q.tryTakeBatch(10)).toEqual([3, 7, 8, 9])
    expect(q.push(11)).toBe(true) // a batch drain to below the mark releases as well
    expect(q.stats).toMatchObject({ enqueued: 8, dequeued: 7, size: 1, highWater: 4 })
    expect(q.stats.dropped).toEqual({ oldest: 0, newest: 0, aborted: 0 })
    expectBalanced(q.stats)
  })

  it('admits blocked senders in order once, at the mark, instead of once per freed slot', async () => {
    const q = new AsyncQueue<number>({ capacity: 4, lowWaterMark: 2 })
    for (let i = 0; i < 4; i++) q.push(i)
    const sends = [4, 5, 6, 7, 8].map((i) => track(q.send(i)))
    expect(q.stats.waitingProducers).toBe(5)
    expect(q.tryTake()).toBe(0) // size 3, above the mark: nobody admitted
    await flush()
    expect(sends.map((s) => s.settled)).toEqual([false, false, false, false, false])
    expect(q.stats.waitingProducers).toBe(5)
    expect(q.tryTake()).toBe(1) // size 2: at the mark, senders fill the buffer again
    await flush()
    expect(sends.map((s) => s.settled)).toEqual([true, true, false, false, false])
    expect(q.stats).toMatchObject({ size: 4, waitingProducers: 3 })
    expect(q.push(99)).toBe(false) // senders still wait, so push is held too
    const out: number[] = []
    while (q.stats.size > 0 || q.stats.waitingProducers > 0) {
      const v = q.tryTake()
      if (v === undefined) break
      out.push(v)
      await flush()
    }
    expect(out).toEqual([2, 3, 4, 5, 6, 7, 8])
    expect(sends.every((s) => s.settled && s.error === undefined)).toBe(true)
    expect(q.stats).toMatchObject({ enqueued: 9, dequeued: 9, size: 0, waitingProducers: 0 })
    expectBalanced(q.stats)
  })

  it('holds send after a refused push, and releases a timed-out sender’s hold at the mark', async () => {
    vi.useFakeTimers()
    const q = new AsyncQueue<number>({ capacity: 2, lowWaterMark: 0 })
    q.push(1)
    q.push(2)
    const late = track(q.send(3, { timeout: 10 }))
    await vi.advanceTimersByTimeAsync(10)
    expect(late.error).toBeInstanceOf(TimeoutError)
    expect(q.tryTake()).toBe(1)
    const held = track(q.send(4)) // size 1 > mark 0: waits
    await flush()
    expect(held.settled).toBe(false)
    expect(q.tryTake()).toBe(2)
    await flush()
    expect(held.settled).toBe(true)
    expect(q.tryTake()).toBe(4)
    expect(q.stats).toMatchObject({ enqueued: 3, dequeued: 3, size: 0, waitingProducers: 0 })
  })

  it('is capacity - 1 by default, which admits a sender per freed slot', async () => {
    const q = new AsyncQueue<number>({ capacity: 3 })
    expect(q.lowWaterMark).toBe(2)
    for (let i = 0; i < 3; i++) q.push(i)
    const s = track(q.send(3))
    expect(q.tryTake()).toBe(0)
    await flush()
    expect(s.settled).toBe(true)
    expect(q.stats.size).toBe(3)
  })

  it('rejects a mark outside [0, capacity), on an unbounded queue or a non-block policy', () => {
    expect(() => new AsyncQueue({ capacity: 4, lowWaterMark: 4 })).toThrow(
      /0 to capacity - 1 \(3\)/,
    )
    expect(() => new AsyncQueue({ capacity: 4, lowWaterMark: -1 })).toThrow(InvalidArgumentError)
    expect(() => new AsyncQueue({ capacity: 4, lowWaterMark: 1.5 })).toThrow(InvalidArgumentError)
    expect(() => new AsyncQueue({ capacity: 4, lowWaterMark: NaN })).toThrow(InvalidArgumentError)
    expect(() => new AsyncQueue({ lowWaterMark: 1 })).toThrow(/finite capacity/)
    expect(() => new AsyncQueue({ capacity: 4, policy: 'drop-oldest', lowWaterMark: 1 })).toThrow(
      /'block' policy/,
    )
    // @ts-expect-error a string is not a mark
    expect(() => new AsyncQueue({ capacity: 4, lowWaterMark: '2' })).toThrow(InvalidArgumentError)
  })
})

describe('close', () => {
  it('lets consumers drain what is left, then ends them', async () => {
    const q = new AsyncQueue<number>()
    q.push(1)
    q.push(2)
    q.close()
    expect(q.state).toBe('closed')
    expect(q.closed).toBe(true)
    expect(await q.take()).toBe(1)
    expect(await q.takeBatch()).toEqual([2])
    await expect(q.take()).rejects.toBeInstanceOf(QueueClosedError)
    await expect(q.takeBatch()).rejects.toBeInstanceOf(QueueClosedError)
    expect(q.tryTake()).toBeUndefined()
  })

  it('rejects waiting takes and ends waiting iterators', async () => {
    const q = new AsyncQueue<number>()
    const t = q.take()
    const it = q[Symbol.asyncIterator]()
    const n = it.next()
    q.close()
    await expect(t).rejects.toBeInstanceOf(QueueClosedError)
    expect(await n).toEqual({ done: true, value: undefined })
    expect(q.stats.waitingConsumers).toBe(0)
  })

  it('is idempotent and resolves onClose', async () => {
    const q = new AsyncQueue<number>()
    const closed = track(q.onClose())
    q.push(1)
    q.close()
    q.close()
    await flush()
    expect(closed.settled).toBe(true)
    expect(q.size).toBe(1)
    await q.onClose()
  })
})

describe('abort', () => {
  it('discards the buffer and rejects every waiter with the reason', async () => {
    const q = new AsyncQueue<number>({ capacity: 2 })
    q.push(1)
    q.push(2)
    const s = q.send(3)
    const reason = new Error('boom')
    q.abort(reason)
    await expect(s).rejects.toBe(reason)
    expect(q.size).toBe(0)
    expect(q.state).toBe('aborted')
    expect(q.stats.dropped.aborted).toBe(2)
    expectBalanced(q.stats)
    await expect(q.take()).rejects.toBe(reason)
    await expect(q.takeBatch()).rejects.toBe(reason)
    // A producer after the abort learns why: the reason is the closed error's cause.
    const refused = (() => {
      try {
        q.push(4)
      } catch (err) {
        return err
      }
    })()
    expect(refused).toBeInstanceOf(QueueClosedError)
    expect((refused as QueueClosedError).cause).toBe(reason)
    const waiting = new AsyncQueue<number>()
    const t = waiting.take()
    const it = waiting.batches()
    const n = it.next()
    waiting.abort()
    await expect(t).rejects.toBeInstanceOf(AbortedError)
    await expect(n).rejects.toBeInstanceOf(AbortedError)
  })

  it('is idempotent: only the first reason counts; close after abort is a no-op', async () => {
    const q = new AsyncQueue<number>()
    const first = new Error('first')
    q.abort(first)
    q.abort(new Error('second'))
    q.close()
    expect(q.state).toBe('aborted')
    await expect(q.take()).rejects.toBe(first)
  })

  it('after close, discards what was not yet drained', async () => {
    const q = new AsyncQueue<number>()
    q.push(1)
    q.close()
    q.abort()
    expect(q.stats.dropped.aborted).toBe(1)
    await expect(q.take()).rejects.toBeInstanceOf(AbortedError)
  })

  it('leaves no timers or listeners behind', async () => {
    vi.useFakeTimers()
    const q = new AsyncQueue<number>()
    const ac = new AbortController()
    const waits = [q.take({ timeout: 100, signal: ac.signal }), q.takeBatch(2, { timeout: 100 })]
    q.abort()
    await Promise.allSettled(waits)
    expect(vi.getTimerCount()).toBe(0)
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0)
  })
})

describe('async iteration', () => {
  it('yields items until closed and drained', async () => {
    const q = new AsyncQueue<number>()
    const seen: number[] = []
    const done = (async () => {
      for await (const x of q) seen.push(x)
    })()
    q.push(1)
    q.push(2)
    await flush()
    q.push(3)
    q.close()
    await done
    expect(seen).toEqual([1, 2, 3])
  })

  it('throws the abort reason', async () => {
    const q = new AsyncQueue<number>()
    const reason = new Error('cut')
    const done = (async () => {
      for await (const _ of q) {
        /* nothing */
      }
    })()
    q.abort(reason)
    await expect(done).rejects.toBe(reason)
  })

  it('breaking out releases the consumer; the queue stays open for others', async () => {
    const q = new AsyncQueue<number>()
    q.push(1)
    q.push(2)
    for await (const x of q) {
      expect(x).toBe(1)
      break
    }
    expect(q.stats.waitingConsumers).toBe(0)
    expect(q.closed).toBe(false)
    expect(q.tryTake()).toBe(2)
  })

  it('return() releases a pending next(), which ends as done and swallows nothing', async () => {
    const q = new AsyncQueue<number>()
    const it = q[Symbol.asyncIterator]()
    const pending = it.next()
    expect(q.stats.waitingConsumers).toBe(1)
    await it.return()
    expect(await pending).toEqual({ done: true, value: undefined })
    expect(q.stats.waitingConsumers).toBe(0)
    q.push(9)
    expect(await it.next()).toEqual({ done: true, value: undefined })
    expect(q.tryTake()).toBe(9)
  })

  it('await using disposes the iterator', async () => {
    const q = new AsyncQueue<number>()
    let pending: Promise<IteratorResult<number[]>> | undefined
    {
      await using it = q.batches()
      pending = it.next()
    }
    expect(await pending).toEqual({ done: true, value: undefined })
    expect(q.stats.waitingConsumers).toBe(0)
  })

  it('batches(max) yields arrays of at most max, each non-empty', async () => {
    const q = new AsyncQueue<number>()
    for (let i = 0; i < 10; i++) q.push(i)
    q.close()
    const got: number[][] = []
    for await (const batch of q.batches(4)) got.push(batch)
    expect(got).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ])
  })

  it('a waiting batch iterator gets the burst directly', async () => {
    const q = new AsyncQueue<number>()
    const it = q.batches()
    const n = it.next()
    q.push(1)
    q.push(2)
    expect(await n).toEqual({ done: false, value: [1, 2] })
    expect(q.stats.fastPath).toBe(2)
  })

  it('many iterators share the items, each item to one', async () => {
    const q = new AsyncQueue<number>()
    const seen: number[][] = [[], [], []]
    const loops = seen.map(async (mine) => {
      for await (const x of q) mine.push(x)
    })
    await flush()
    for (let i = 0; i < 30; i++) q.push(i)
    q.close()
    await Promise.all(loops)
    expect(seen.flat().sort((a, b) => a - b)).toEqual([...Array(30).keys()])
    expect(seen.every((s) => s.length > 0)).toBe(true)
  })
})

describe('the plain for-await and send() slots', () => {
  // The first waiting item iterator and the first blocked option-less send() are kept in
  // slots in front of the waiter lists: these pin that they keep the lists' rules.
  it('a waiting iterator is served before a take that waited after it, and counts as waiting', async () => {
    const q = new AsyncQueue<number>()
    const it = q[Symbol.asyncIterator]()
    const first = track(it.next())
    const second = track(q.take())
    expect(q.stats.waitingConsumers).toBe(2)
    q.push(1)
    q.push(2)
    await flush()
    expect(first.value).toEqual({ value: 1, done: false })
    expect(second.value).toBe(2)
    expect(q.stats).toMatchObject({ waitingConsumers: 0, fastPath: 2, size: 0 })
  })

  it('an iterator that waits after a take does not pass it', async () => {
    const q = new AsyncQueue<number>()
    const take = track(q.take())
    const next = track(q[Symbol.asyncIterator]().next())
    q.push(1)
    q.push(2)
    await flush()
    expect(take.value).toBe(1)
    expect(next.value).toEqual({ value: 2, done: false })
  })

  it('two pending next() calls and a second iterator take items in call order', async () => {
    const q = new AsyncQueue<number>()
    const a = q[Symbol.asyncIterator]()
    const b = q[Symbol.asyncIterator]()
    const got = [track(a.next()), track(b.next()), track(a.next())]
    expect(q.stats.waitingConsumers).toBe(3)
    for (const x of [10, 20, 30]) q.push(x)
    await flush()
    expect(got.map((g) => g.value)).toEqual([
      { value: 10, done: false },
      { value: 20, done: false },
      { value: 30, done: false },
    ])
  })

  it('send() with room hands its item to the waiting iterator', async () => {
    const q = new AsyncQueue<number>({ capacity: 4 })
    const next = track(q[Symbol.asyncIterator]().next())
    await q.send(7)
    await flush()
    expect(next.value).toEqual({ value: 7, done: false })
    expect(q.stats).toMatchObject({ size: 0, fastPath: 1, waitingConsumers: 0 })
  })

  it('return() releases the waiting iterator; the next item goes to the consumer behind it', async () => {
    const q = new AsyncQueue<number>()
    const it = q[Symbol.asyncIterator]()
    const pending = track(it.next())
    const take = track(q.take())
    await it.return()
    await flush()
    expect(pending.value).toEqual({ done: true, value: undefined })
    q.push(5)
    await flush()
    expect(take.value).toBe(5)
  })

  it('close ends the waiting iterator; abort rejects it with the reason', async () => {
    const closed = new AsyncQueue<number>()
    const ended = track(closed[Symbol.asyncIterator]().next())
    closed.close()
    await flush()
    expect(ended.value).toEqual({ done: true, value: undefined })

    const aborted = new AsyncQueue<number>()
    const failed = track(aborted[Symbol.asyncIterator]().next())
    const reason = new Error('stop')
    aborted.abort(reason)
    await flush()
    expect(failed.error).toBe(reason)
    expect(aborted.stats.waitingConsumers).toBe(0)
  })

  it('blocked senders are accepted in call order, plain and timed alike, and counted', async () => {
    const q = new AsyncQueue<number>({ capacity: 1 })
    q.push(0)
    const plain = track(q.send(1))
    const timed = track(q.send(2, { timeout: 60_000 }))
    const plainAgain = track(q.send(3))
    expect(q.stats.waitingProducers).toBe(3)
    const got: number[] = []
    for (let i = 0; i < 4; i++) got.push(await q.take())
    await flush()
    expect(got).toEqual([0, 1, 2, 3])
    expect([plain.settled, timed.settled, plainAgain.settled]).toEqual([true, true, true])
    expect(q.stats).toMatchObject({ waitingProducers: 0, size: 0 })
    expectBalanced(q.stats)
  })

  it('a plain send that blocks after a timed one does not pass it', async () => {
    const q = new AsyncQueue<number>({ capacity: 1 })
    q.push(0)
    void q.send(1, { timeout: 60_000 })
    void q.send(2)
    const got: number[] = []
    for (let i = 0; i < 3; i++) got.push(await q.take())
    expect(got).toEqual([0, 1, 2])
  })

  it('close rejects the blocked plain send with QueueClosedError and never enqueues it', async () => {
    const q = new AsyncQueue<number>({ capacity: 1 })
    q.push(0)
    const blocked = track(q.send(1))
    q.close()
    await flush()
    expect(blocked.error).toBeInstanceOf(QueueClosedError)
    expect(q.stats).toMatchObject({ enqueued: 1, size: 1, waitingProducers: 0 })
    expect(await q.take()).toBe(0)
  })

  it('abort rejects the blocked plain send with the reason', async () => {
    const q = new AsyncQueue<number>({ capacity: 1 })
    q.push(0)
    const blocked = track(q.send(1))
    const reason = new Error('gone')
    q.abort(reason)
    await flush()
    expect(blocked.error).toBe(reason)
    expect(q.stats).toMatchObject({ enqueued: 1, waitingProducers: 0 })
    expectBalanced(q.stats)
  })
})

describe('stats', () => {
  it('counts exactly at every step', async () => {
    const q = new AsyncQueue<number>({ capacity: 2, policy: 'drop-oldest' })
    const t = q.take()
    q.push(1) // fast path
    await t
    q.push(2)
    q.push(3)
    q.push(4) // drops 2
    expect(q.stats).toEqual({
      enqueued: 4,
      dequeued: 1,
      fastPath: 1,
      dropped: { oldest: 1, newest: 0, aborted: 0 },
      size: 2,
      highWater: 2,
      waitingConsumers: 0,
      waitingProducers: 0,
    })
    q.tryTake()
    expect(q.stats).toMatchObject({ dequeued: 2, size: 1, highWater: 2 })
    expectBalanced(q.stats)
  })
})

describe('memory', () => {
  it('a drained ring does not pin the memory of a past burst', () => {
    const q = new AsyncQueue<number>()
    for (let i = 0; i < 100_000; i++) q.push(i)
    expect(q.tryTakeBatch()).toHaveLength(100_000)
    // The fresh ring is small again: a single push does not need the old 128k slots.
    const internal = q as unknown as { ring: { buf: unknown[] } }
    expect(internal.ring.buf.length).toBeLessThanOrEqual(1024)
  })
})
