import { setTimeout as delay } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import {
  InsufficientStorageError,
  InvalidArgumentError,
  QuotaExceededError,
  createRunbus,
  memoryBackend,
  type Runbus,
  type RunbusOptions,
} from './index.js'

const open: Runbus[] = []
afterEach(async () => {
  for (const rb of open.splice(0)) await rb.close()
})
function make(options: RunbusOptions = {}): Runbus {
  const rb = createRunbus(options)
  open.push(rb)
  return rb
}

const nested = (n: number): unknown => {
  let v: unknown = 1
  for (let i = 0; i < n; i++) v = [v]
  return v
}

describe('budgets', () => {
  it('refuses appends past the per-run byte budget whole, and counts them', async () => {
    const rb = make({ limits: { maxRunBytes: 1000 } })
    const run = await rb.runs.create({ id: 'r' })
    await run.append('t', 'x'.repeat(600))
    await expect(
      run.appendMany([
        { type: 't', data: 'y'.repeat(100) },
        { type: 't', data: 'z'.repeat(400) },
      ]),
    ).rejects.toMatchObject({ code: 'insufficient_storage', budget: 'run', limit: 1000 })
    const page = await rb.runs.read('r')
    expect(page.events.map((e) => (e.data as string).length)).toEqual([600])
    expect(rb.stats().runBytesRefused).toBe(1)
    // A smaller write still fits, and the run can always end.
    await run.append('t', 'ok')
    await run.end()
  })

  it('refuses inbox messages past the per-inbox byte budget', async () => {
    const rb = make({ limits: { maxInboxBytes: 100 } })
    await rb.runs.create({ id: 'r' })
    await rb.runs.send('r', { type: 'steer', data: 'a'.repeat(80) })
    const err = await rb.runs.send('r', { type: 'steer', data: 'b'.repeat(30) }).catch((e) => e)
    expect(err).toBeInstanceOf(InsufficientStorageError)
    expect(err).toMatchObject({ budget: 'inbox' })
    expect(rb.stats().inboxBytesRefused).toBe(1)
  })

  it('limits running runs per owner until one ends', async () => {
    const rb = make({ limits: { maxRunningRunsPerOwner: 2 } })
    const a = await rb.runs.create({ owner: 'alice' })
    await rb.runs.create({ owner: 'alice' })
    await expect(rb.runs.create({ owner: 'alice' })).rejects.toBeInstanceOf(QuotaExceededError)
    await rb.runs.create({ owner: 'bob' }) // others are not affected
    await rb.runs.create() // nor runs without owner
    expect(rb.stats().quotaRefused).toBe(1)
    await a.end()
    await rb.runs.create({ owner: 'alice' })
  })

  it('sees runs ended by another instance before refusing the quota', async () => {
    const backend = memoryBackend()
    const rb = make({ backend, ownBackend: true, limits: { maxRunningRunsPerOwner: 1 } })
    const other = make({ backend })
    const run = await rb.runs.create({ id: 'x', owner: 'o' })
    expect(run.id).toBe('x')
    const h = await other.runs.open('x')
    await h.end()
    await rb.runs.create({ owner: 'o' })
  })

  it('ends idle running runs as failed/abandoned, visibly to readers', async () => {
    const rb = make({ limits: { runIdleMs: 80 } })
    const run = await rb.runs.create({ id: 'idle' })
    await run.append('t', 'hi')
    const seen: string[] = []
    for await (const e of rb.runs.follow('idle')) seen.push(e.type)
    expect(seen).toEqual(['t', 'end'])
    const s = await rb.runs.get('idle')
    expect(s.status).toBe('failed')
    expect(s.error).toMatch(/^abandoned: no event for 80 ms/)
    expect(rb.stats().runsAbandoned).toBe(1)
  })

  it('keeps a run that keeps emitting, and one waiting on an ask', async () => {
    const rb = make({ limits: { runIdleMs: 60 } })
    const busy = await rb.runs.create({ id: 'busy' })
    const asking = await rb.runs.create({ id: 'asking' })
    void asking.ask({ kind: 'confirm', prompt: 'ok?', timeout: 10_000 }).catch(() => undefined)
    for (let i = 0; i < 10; i++) {
      busy.text(String(i))
      await delay(20)
    }
    await busy.flush()
    expect((await rb.runs.get('busy')).status).toBe('running')
    expect((await rb.runs.get('asking')).status).toBe('running')
  })

  it('memory backend: refuses writes past the instance budget, nothing half-stored', async () => {
    const backend = memoryBackend({ maxBytes: 64 * 1024 })
    const rb = make({ backend, ownBackend: true })
    const run = await rb.runs.create({ id: 'm' })
    let refused: unknown
    for (let i = 0; i < 100 && refused === undefined; i++) {
      await run.append('t', 'x'.repeat(4000)).catch((e: unknown) => (refused = e))
    }
    expect(refused).toBeInstanceOf(InsufficientStorageError)
    expect(refused).toMatchObject({ budget: 'instance' })
    const before = backend.stats()
    expect(before.bytes).toBeLessThanOrEqual(64 * 1024)
    await expect(
      run.appendMany([
        { type: 't', data: 'a' },
        { type: 't', data: 'b'.repeat(10_000) },
      ]),
    ).rejects.toBeInstanceOf(InsufficientStorageError)
    expect(backend.stats().events).toBe(before.events)
    expect(backend.stats().storageRefused).toBe(2)
    // The run still ends, and trimming/expiry gives the bytes back.
    await run.end()
    await rb.runs.create({ id: 'n' })
  })

  it('memory backend: trims inboxes; a reader behind the trim skips ahead, counted', async () => {
    const backend = memoryBackend()
    const rb = make({ backend, ownBackend: true, retention: { maxInboxMessages: 3 } })
    await rb.runs.create({ id: 'i' })
    for (let i = 1; i <= 5; i++) await rb.runs.send('i', { type: 'm', data: i })
    expect(backend.stats().inboxTrimmed).toBe(2)
    const late = await rb.runs.open('i')
    const got: unknown[] = []
    const it = late.inbox[Symbol.asyncIterator]()
    for (let i = 0; i < 3; i++) got.push((await it.next()).value?.data)
    expect(got).toEqual([3, 4, 5])
    expect(late.stats.inboxDropped).toBe(2)
  })

  it('checks option names', () => {
    expect(() => createRunbus({ limit: {} } as unknown as RunbusOptions)).toThrow(
      /unknown option "limit"/,
    )
    expect(() => createRunbus({ limits: { maxRunByte: 1 } } as unknown as RunbusOptions)).toThrow(
      /limits.maxRunByte/,
    )
    expect(() => createRunbus({ limits: { runIdleMs: 0 } })).toThrow(InvalidArgumentError)
    expect(() => memoryBackend({ max: 1 } as never)).toThrow(InvalidArgumentError)
    // The documented follow options are known (they were refused as unknown once).
    expect(() => createRunbus({ follow: { recent: 0, lingerMs: 100 } })).not.toThrow()
  })

  it('ownBackend closes the backend with the instance', async () => {
    const backend = memoryBackend()
    const rb = createRunbus({ backend, ownBackend: true })
    await rb.runs.create({ id: 'a' })
    await rb.close()
    await expect(backend.runs.getRun('a')).rejects.toMatchObject({ code: 'closed' })
    const shared = memoryBackend()
    const rb2 = createRunbus({ backend: shared })
    await rb2.close()
    expect(await shared.runs.getRun('a')).toBeUndefined() // still open
    await shared.close()
  })
})

describe('JSON depth', () => {
  it('refuses data, meta and inbox messages nested deeper than 64 levels', async () => {
    const rb = make()
    const run = await rb.runs.create({ id: 'd' })
    run.emit('ok', nested(63))
    await run.flush()
    expect(() => run.emit('deep', nested(65))).toThrow(/nests deeper than 64 levels/)
    expect(() => run.emit('deeper', nested(100_000))).toThrow(InvalidArgumentError)
    await expect(rb.runs.create({ meta: { a: nested(2300) } })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(rb.runs.send('d', { type: 'm', data: nested(70) })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(rb.bus.publish('c', nested(70))).rejects.toBeInstanceOf(InvalidArgumentError)
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(() => run.emit('cycle', cyclic)).toThrow(InvalidArgumentError)
    expect((await rb.runs.list()).map((r) => r.id)).toEqual(['d'])
  })
})

describe('work queue input', () => {
  it('refuses items without data and add(undefined)', async () => {
    const rb = make()
    const q = rb.work.queue<unknown>('jobs')
    await expect(q.addMany([{ i: 1 } as never])).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(q.add(undefined)).rejects.toThrow(/job data \[0\] is undefined/)
    await expect(q.addMany([{ data: 1 }, {} as never])).rejects.toThrow(/\[1\]/)
    expect((await rb.backend.work.stats('jobs')).waiting).toBe(0)
    await q.add(null)
    expect((await rb.backend.work.stats('jobs')).waiting).toBe(1)
  })
})
