import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { EventColumns } from './event-columns.js'

interface Entry {
  type: string
  data: unknown
  ts: number
  size: number
}

describe('EventColumns', () => {
  it('holds what a plain array of entries would, through any pushes and drops', () => {
    const op = fc.oneof(
      fc.record({
        push: fc.array(
          fc.record({
            type: fc.constantFrom('text', 'status', 'tool_call', 'a'.repeat(40)),
            data: fc.jsonValue(),
            ts: fc.integer({ min: 0, max: 2 ** 45 }),
            size: fc.integer({ min: 0, max: 2 ** 40 }),
          }),
          { maxLength: 70 },
        ),
      }),
      fc.record({ drop: fc.integer({ min: 0, max: 90 }) }),
      // Long stretches, so the columns cross and drop whole chunks (1,024 events each).
      fc.record({ many: fc.integer({ min: 0, max: 2500 }) }),
      fc.record({ drop: fc.integer({ min: 0, max: 2500 }) }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const cols = new EventColumns()
        const model: Entry[] = []
        for (const o of ops) {
          if ('push' in o) {
            for (const e of o.push) {
              cols.push(e.type, e.data, e.ts, e.size)
              model.push(e)
            }
          } else if ('many' in o) {
            for (let k = 0; k < o.many; k++) {
              const e = { type: k % 3 === 0 ? 'status' : 'text', data: { k }, ts: k, size: k % 7 }
              cols.push(e.type, e.data, e.ts, e.size)
              model.push(e)
            }
          } else {
            const gone = model.splice(0, o.drop)
            expect(cols.dropOldest(o.drop)).toBe(gone.reduce((n, e) => n + e.size, 0))
          }
          expect(cols.length).toBe(model.length)
          expect(cols.bytes).toBe(model.reduce((n, e) => n + e.size, 0))
          // The first entry that differs from the model (-1: none), checked without an
          // assertion per entry (a log here holds up to tens of thousands).
          let differs = -1
          for (let i = 0; i < model.length && differs < 0; i++) {
            const m = model[i]
            if (cols.typeAt(i) !== m.type || cols.dataAt(i) !== m.data || cols.tsAt(i) !== m.ts)
              differs = i
          }
          expect(differs).toBe(-1)
        }
      }),
    )
  })

  it('stays bounded when the oldest are dropped as fast as events come', () => {
    const cols = new EventColumns()
    for (let i = 0; i < 100_000; i++) {
      cols.push('text', i, i, 1)
      if (cols.length > 1000) cols.dropOldest(cols.length - 1000)
    }
    expect(cols.length).toBe(1000)
    expect(cols.dataAt(0)).toBe(99_000)
    expect(cols.capacity).toBeLessThanOrEqual(4096)
  })

  it('holds at most one chunk more than it retains, however long the log grows', () => {
    const cols = new EventColumns()
    for (let i = 0; i < 100_000; i++) cols.push('text', i, i, 1)
    // Doubling would hold room for 131,072 here.
    expect(cols.capacity - cols.length).toBeLessThan(1024)
    expect(cols.dataAt(99_999)).toBe(99_999)
    cols.dropOldest(99_000)
    expect(cols.capacity - cols.length).toBeLessThan(2 * 1024)
    expect(cols.dataAt(0)).toBe(99_000)
  })

  it('keeps a short log short', () => {
    const cols = new EventColumns()
    for (let i = 0; i < 3; i++) cols.push('text', i, i, 1)
    expect(cols.capacity).toBe(16)
  })
})
