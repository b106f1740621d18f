import { getEventListeners } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { InvalidArgumentError, createRunbus, memoryBackend, type Runbus } from './index.js'

const open: Runbus[] = []
afterEach(async () => {
  for (const rb of open.splice(0)) await rb.close()
})

const listeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length

describe('createRunbus', () => {
  it('validates its options', () => {
    expect(() => createRunbus({ limits: { maxPayloadBytes: 0 } })).toThrow(InvalidArgumentError)
    expect(() => createRunbus({ retention: { maxEvents: 1.5 } })).toThrow(InvalidArgumentError)
    expect(() => createRunbus({ follow: { bufferSize: -1 } })).toThrow(InvalidArgumentError)
    const rb = createRunbus({ retention: { ttlMs: Infinity } })
    open.push(rb)
  })

  it('waits leave no listener on the caller’s signal once they end', async () => {
    const rb = createRunbus()
    open.push(rb)
    const ac = new AbortController()
    const { signal } = ac
    const run = await rb.runs.create({ id: 'l' })
    await run.append('a')

    const f = rb.runs.follow('l', { signal })
    await f.next()
    expect(listeners(signal)).toBe(1)
    f.close()
    expect(listeners(signal)).toBe(0)

    const w = rb.bus.waitFor('x', { signal })
    await rb.bus.publish('x', 1)
    await w
    expect(listeners(signal)).toBe(0)

    const sub = rb.bus.subscribe('y', { signal })
    sub.close()
    expect(listeners(signal)).toBe(0)

    const asked = run.ask({ kind: 'text', prompt: '?', signal })
    let pending = await rb.asks.pending({ run: 'l' })
    while (pending.length === 0) pending = await rb.asks.pending({ run: 'l' })
    await rb.asks.answer(pending[0].id, 'ok')
    expect(await asked).toBe('ok')
    expect(listeners(signal)).toBe(0)

    run.emit('b')
    await run.flush({ signal, timeout: 1_000 })
    expect(listeners(signal)).toBe(0)
    expect(rb.stats()).toMatchObject({ followers: 0, subscriptions: 0, waiters: 0, asks: 0 })
  })

  it('a backend passed in is not closed by rb.close(); the default one is', async () => {
    const backend = memoryBackend()
    const rb = createRunbus({ backend })
    await rb.runs.create({ id: 'kept' })
    await rb.close()
    await rb.close()
    expect(backend.stats().runs).toBe(1)
    await backend.close()

    const own = createRunbus()
    await own.runs.create({ id: 'gone' })
    await own.close()
    await expect(own.backend.runs.getRun('gone')).rejects.toMatchObject({ code: 'closed' })
  })

  it('two instances in one process never see each other', async () => {
    const a = createRunbus()
    const b = createRunbus()
    open.push(a, b)
    await a.runs.create({ id: 'same' })
    await b.runs.create({ id: 'same' })
    const sub = b.bus.subscribe('ch')
    await a.bus.publish('ch', 1)
    sub.close()
    const got: unknown[] = []
    for await (const m of sub) got.push(m)
    expect(got).toEqual([])
  })
})
