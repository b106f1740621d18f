import { afterEach, describe, expect, it, vi } from 'vitest'
import { createRunbus, memoryBackend, type MemoryBackend, type Runbus } from '../../index.js'

const opened: Array<{ rb: Runbus; backend: MemoryBackend }> = []
function setup(options: Parameters<typeof createRunbus>[0] = {}): {
  rb: Runbus
  backend: MemoryBackend
} {
  const backend = memoryBackend()
  const rb = createRunbus({ ...options, backend })
  opened.push({ rb, backend })
  return { rb, backend }
}

afterEach(async () => {
  vi.useRealTimers()
  for (const { rb, backend } of opened.splice(0)) {
    await rb.close()
    await backend.close()
  }
})

describe('memory backend', () => {
  it('followers release their backend watch on break, close, abort and rb.close()', async () => {
    const { rb, backend } = setup()
    const run = await rb.runs.create({ id: 'r' })
    await run.append('a')
    for await (const _ of rb.runs.follow('r')) break
    expect(backend.stats().watchers).toBe(0)

    const f = rb.runs.follow('r')
    await f.next()
    expect(backend.stats().watchers).toBe(1)
    f.close()
    expect(backend.stats().watchers).toBe(0)

    const ac = new AbortController()
    const g = rb.runs.follow('r', { signal: ac.signal })
    await g.next()
    const pending = g.next()
    ac.abort(new Error('bye'))
    await expect(pending).rejects.toThrow('bye')
    expect(backend.stats().watchers).toBe(0)

    const h = rb.runs.follow('r')
    await h.next()
    expect(backend.stats()).toMatchObject({ watchers: 1, inboxWatchers: 1 })
    await rb.close()
    expect(backend.stats()).toMatchObject({ watchers: 0, inboxWatchers: 0, subscriptions: 0 })
  })

  it('bus subscriptions share one backend subscription per pattern and release it', async () => {
    const { rb, backend } = setup()
    const a = rb.bus.subscribe('x.*')
    const b = rb.bus.subscribe('x.*')
    const waitFails = expect(rb.bus.waitFor('x.*', { filter: () => false })).rejects.toMatchObject({
      code: 'closed',
    })
    expect(backend.stats().subscriptions).toBe(1)
    a.close()
    b.close()
    expect(backend.stats().subscriptions).toBe(1)
    await rb.close()
    await waitFails
    expect(backend.stats().subscriptions).toBe(0)
  })

  it('a backend interruption reaches every subscriber: counted and reported', async () => {
    const { rb, backend } = setup()
    const seen: Array<{ since: number; until: number }> = []
    const sub = rb.bus.subscribe('y.>', { onInterrupted: (info) => seen.push(info) })
    const other = rb.bus.subscribe('z')
    await Promise.all([sub.ready, other.ready])
    backend.interruptBroadcast({ since: 1, until: 2 })
    expect(seen).toEqual([{ since: 1, until: 2 }])
    expect(sub.stats.interrupted).toBe(1)
    expect(other.stats.interrupted).toBe(1)
    // The subscription still works after the interruption.
    await rb.bus.publish('y.a', 1)
    sub.close()
    const got: unknown[] = []
    for await (const m of sub) got.push(m.data)
    expect(got).toEqual([1])
  })

  it('expires ended runs after their TTL and clears timers on close (fake timers)', async () => {
    vi.useFakeTimers()
    const { rb, backend } = setup({ retention: { ttlMs: 60_000 } })
    const run = await rb.runs.create({ id: 'ttl' })
    await run.end()
    expect(backend.stats()).toMatchObject({ runs: 1, timers: 1 })
    await vi.advanceTimersByTimeAsync(59_999)
    expect(backend.stats().runs).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(backend.stats()).toMatchObject({ runs: 0, timers: 0, expired: 1 })

    const other = await rb.runs.create({ id: 'ttl2' })
    await other.end()
    expect(vi.getTimerCount()).toBeGreaterThan(0)
    await rb.close()
    await backend.close()
    expect(vi.getTimerCount()).toBe(0)
  })

  it('kv: set-if-absent is atomic, TTL expires, the sweeper stops when no TTL key is left', async () => {
    vi.useFakeTimers()
    const backend = memoryBackend()
    expect(await backend.kv.setIfAbsent('k', '1', 1000)).toBe(true)
    expect(await backend.kv.setIfAbsent('k', '2')).toBe(false)
    expect(await backend.kv.get('k')).toBe('1')
    expect(vi.getTimerCount()).toBe(1)
    await vi.advanceTimersByTimeAsync(1000)
    expect(await backend.kv.get('k')).toBeUndefined()
    expect(vi.getTimerCount()).toBe(0)
    expect(await backend.kv.setIfAbsent('k', '3')).toBe(true)
    await backend.kv.delete('k')
    expect(await backend.kv.get('k')).toBeUndefined()
    await backend.close()
    await expect(backend.kv.get('k')).rejects.toMatchObject({ code: 'closed' })
  })

  it('append is all-or-nothing and watchers get each batch once, in order, shared', async () => {
    const backend = memoryBackend()
    await backend.runs.createRun({ id: 'b', maxEvents: 100, ts: 0 })
    const batches: unknown[][] = []
    const batches2: unknown[][] = []
    const off = await backend.runs.watch('b', { onEvents: (e) => batches.push(e) })
    const off2 = await backend.runs.watch('b', { onEvents: (e) => batches2.push(e) })
    const draft = (n: number): { type: string; data: number; json: string; ts: number } => ({
      type: 't',
      data: n,
      json: String(n),
      ts: 0,
    })
    await backend.runs.append('b', [draft(1), draft(2)])
    await expect(
      backend.runs.append('b', [draft(3), { type: 't', data: 0, json: '{bad', ts: 0 }]),
    ).rejects.toThrow()
    await backend.runs.append('b', [draft(3)])
    expect(batches.map((b) => b.length)).toEqual([2, 1])
    expect(batches[0]).toBe(batches2[0])
    expect((await backend.runs.read('b', 0, 10)).events.map((e) => e.seq)).toEqual([1, 2, 3])
    off()
    off2()
    expect(backend.stats().watchers).toBe(0)
    await backend.close()
  })
})
