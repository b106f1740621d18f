import { describe, expect, it } from 'vitest'
import type { WorkAckResult, WorkStore } from '../backends/work-contract.js'
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
    const b = new AckBatcher(store, 'q', 'c')
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
})
