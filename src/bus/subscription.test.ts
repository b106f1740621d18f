import { describe, expect, test } from 'vitest'
import { z } from 'zod'
import * as v from 'valibot'
import { createRunbus, ValidationError, type BusMessage, type StandardSchemaV1 } from '../index.js'

/** Collects `n` messages from a subscription. */
async function take<T>(sub: AsyncIterable<BusMessage<T>>, n: number): Promise<BusMessage<T>[]> {
  const out: BusMessage<T>[] = []
  for await (const m of sub) {
    out.push(m)
    if (out.length === n) break
  }
  return out
}

describe('subscriptions check a schema', () => {
  test('a typed channel never hands subscribers data a raw publisher sent in the wrong shape', async () => {
    await using rb = createRunbus()
    const orders = rb.bus.channel('orders.created', {
      schema: z.object({ id: z.string(), qty: z.number().default(1) }),
    })
    const invalid: ValidationError[] = []
    const sub = orders.subscribe({ onInvalid: (err) => invalid.push(err) })
    await sub.ready
    await rb.bus.publish('orders.created', { id: 42 }) // bypasses the channel's publish check
    await orders.publish({ id: 'o1' })
    const [first] = await take(sub, 1)
    expect(first.data).toEqual({ id: 'o1', qty: 1 }) // the schema's output, default applied
    expect(sub.stats.invalid).toBe(1)
    expect(sub.stats.received).toBe(1)
    expect(invalid).toHaveLength(1)
    expect(invalid[0]).toBeInstanceOf(ValidationError)
    expect(invalid[0].code).toBe('validation_failed')
    expect(invalid[0].issues[0].path).toEqual(['id'])
  })

  test('a plain subscribe accepts a schema too (valibot)', async () => {
    await using rb = createRunbus()
    const sub = rb.bus.subscribe('temps.*', { schema: v.object({ c: v.number() }) })
    await sub.ready
    await rb.bus.publish('temps.a', { c: 'hot' })
    await rb.bus.publish('temps.b', { c: 21 })
    const [m] = await take(sub, 1)
    expect(m).toMatchObject({ channel: 'temps.b', data: { c: 21 } })
    expect(sub.stats.invalid).toBe(1)
  })

  test('an async validator keeps arrival order, and its failures are skipped in place', async () => {
    await using rb = createRunbus()
    // Resolves after a number of turns that varies per value, so a naive implementation
    // would deliver out of order.
    const slowFor = (n: number) => (n % 3 === 0 ? 5 : n % 3 === 1 ? 0 : 2)
    const schema: StandardSchemaV1<number, number> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) => {
          for (let i = 0; i < slowFor(value as number); i++) await Promise.resolve()
          return (value as number) % 7 === 6
            ? { issues: [{ message: 'sixes are refused' }] }
            : { value: value as number }
        },
      },
    }
    const sub = rb.bus.subscribe<number>('n', { schema })
    await sub.ready
    for (let i = 0; i < 30; i++) await rb.bus.publish('n', i)
    const want = Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 7 !== 6)
    const got = await take(sub, want.length)
    expect(got.map((m) => m.data)).toEqual(want)
    expect(sub.stats.invalid).toBe(30 - want.length)
  })

  test('a transforming schema: the validated input travels, every reader gets the output', async () => {
    await using rb = createRunbus()
    const len = rb.bus.channel('words', { schema: z.string().transform((w) => w.length) })
    const sub = len.subscribe()
    await sub.ready
    const w = len.waitFor()
    await rb.bus.publish('words', 7) // raw, wrong shape: skipped by both readers
    await len.publish('four')
    const [m] = await take(sub, 1)
    const n: number = m.data
    expect(n).toBe(4)
    expect((await w).data).toBe(4)
    expect(sub.stats.invalid).toBe(1)
    await expect(len.publish(5 as unknown as string)).rejects.toBeInstanceOf(ValidationError)
  })
})
