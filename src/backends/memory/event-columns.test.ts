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
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const cols = new EventColumns()
        const model: Entry[] = []
        for (const o of ops) {
          if ('push' in o) {
            for (const e of o.push) {
              cols.push(e.type, e.data, e.ts, e.size)
              model.push(e)
            }
          } else {
            const gone = model.splice(0, o.drop)
            expect(cols.dropOldest(o.drop)).toBe(gone.reduce((n, e) => n + e.size, 0))
          }
          expect(cols.length).toBe(model.length)
          expect(cols.bytes).toBe(model.reduce((n, e) => n + e.size, 0))
          for (let i = 0; i < model.length; i++) {
            expect(cols.typeAt(i)).toBe(model[i].type)
            expect(cols.dataAt(i)).toBe(model[i].data)
            expect(cols.tsAt(i)).toBe(model[i].ts)
          }
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
})
