import { describe, expect, it, vi } from 'vitest'
import type { WorkAckResult, WorkStore } from '../contract/work-contract.js'
import { AckBatcher } from './ack-batcher.js'

function fakeStore() {
  const calls: string[][] = []
  const gates: Array<() => void> = []
  const store = {
    ack: (_q: string, _c: string, leases: string[]): Promise<WorkAckResult> => {
      calls.push(leases)
      return new Promise((resolve) =>
        gates.push(() => resolve({ acked: leases.length - 1, late: leases.slice(-1) })),
      )
    },
  } as unknown as WorkStore
  return { store, calls, gates }
}

describe('AckBatcher', () => {
  it('coalesces acks of the same turn into one call, and those arriving meanwhile into the next', async () => {
    const { store, calls, gates } = fakeStore()
    const b = new AckBatcher(store, 'q', 'c', { windowMs: 0 })
    const first = ['a', 'b', 'c'].map((l) => b.ack(l))
    await Promise.resolve()
    expect(calls).toEqual([['a', 'b', 'c']])
    // While the first call is out, more acks queue up: one call after it returns.
    const second = ['d', 'e'].map((l) => b.ack(l))
    await Promise.resolve()
    expect(calls).toHaveLength(1)
    gates[0]()
    expect(await Promise.all(first)).toEqual([true, true, false]) // 'c' was late
    await new Promise((r) => setImmediate(r))
    expect(calls).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ])
    const drained = b.drained()
    gates[1]()
    expect(await Promise.all(second)).toEqual([true, false])
    await drained
  })

  it('rejects every ack of a batch whose call failed, and keeps going', async () => {
    let n = 0
    const store = {
      ack: (_q: string, _c: string, leases: string[]) =>
        ++n === 1
          ? Promise.reject(new Error('down'))
          : Promise.resolve({ acked: leases.length, late: [] }),
    } as unknown as WorkStore
    const b = new AckBatcher(store, 'q', 'c')
    const r = await Promise.allSettled([b.ack('a'), b.ack('b')])
    expect(r.map((x) => x.status)).toEqual(['rejected', 'rejected'])
    expect(await b.ack('c')).toBe(true)
    await b.drained()
  })

  it('waits up to the window for more acks, sends at once at maxBatch or when drained', async () => {
    vi.useFakeTimers()
    try {
      const { store, calls, gates } = fakeStore()
      const b = new AckBatcher(store, 'q', 'c', { windowMs: 5, maxBatch: 3 })
      void b.ack('a')
      await vi.advanceTimersByTimeAsync(3)
      void b.ack('b')
      expect(calls).toEqual([])
      await vi.advanceTimersByTimeAsync(2)
      expect(calls).toEqual([['a', 'b']])
      gates[0]()
      await vi.advanceTimersByTimeAsync(0)
      // maxBatch reached: no waiting.
      for (const l of ['c', 'd', 'e']) void b.ack(l)
      expect(calls).toEqual([
        ['a', 'b'],
        ['c', 'd', 'e'],
      ])
      gates[1]()
      await vi.advanceTimersByTimeAsync(0)
      // drained() does not wait out the window.
      void b.ack('f')
      const drained = b.drained()
      expect(calls[2]).toEqual(['f'])
      gates[2]()
      await drained
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })
})
