import { afterEach, describe, expect, it, vi } from 'vitest'
import { z } from 'zod'
import {
  AskExpiredError,
  AskTimeoutError,
  InvalidArgumentError,
  PayloadTooLargeError,
  RunEndedError,
  RunNotFoundError,
  TimeoutError,
  ValidationError,
  createRunbus,
  memoryBackend,
  type Runbus,
} from '../index.js'

const open: Runbus[] = []
afterEach(async () => {
  for (const rb of open.splice(0)) await rb.close()
  vi.useRealTimers()
})

describe('asks (fake timers)', () => {
  it('a timed-out ask leaves no timer and no listener behind', async () => {
    vi.useFakeTimers()
    const rb = createRunbus()
    open.push(rb)
    const run = await rb.runs.create({ id: 't' })
    // The memory kv's sweeper runs while keys with a TTL exist (ask records have one).
    await rb.backend.kv.set('warm', 'x', 1e9)
    const before = vi.getTimerCount()
    const asked = run.ask({ kind: 'confirm', prompt: '?', timeout: 5_000 })
    const outcome = asked.catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(4_999)
    expect(rb.stats().asks).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    const err = await outcome
    expect(err).toBeInstanceOf(AskTimeoutError)
    expect((err as AskTimeoutError).timeoutMs).toBe(5_000)
    expect(rb.stats()).toMatchObject({ asks: 0, followers: 0 })
    expect(vi.getTimerCount()).toBe(before)
  })

  it('an answered ask clears its expiry timer', async () => {
    vi.useFakeTimers()
    const rb = createRunbus()
    open.push(rb)
    const run = await rb.runs.create({ id: 'a' })
    await rb.backend.kv.set('warm', 'x', 1e9)
    const before = vi.getTimerCount()
    const asked = run.ask({ kind: 'form', prompt: 'n?', schema: z.number(), timeout: 60_000 })
    await vi.advanceTimersByTimeAsync(0)
    const [p] = await rb.asks.pending({ run: 'a' })
    expect(p.expiresAt).toBe(p.createdAt + 60_000)
    await rb.asks.answer(p.id, 7)
    expect(await asked).toBe(7)
    expect(vi.getTimerCount()).toBe(before)
  })

  it('wait() with its own timeout gives up without expiring the ask', async () => {
    vi.useFakeTimers()
    const rb = createRunbus()
    open.push(rb)
    const run = await rb.runs.create({ id: 'w' })
    const asked = run.ask({ kind: 'text', prompt: '?' })
    await vi.advanceTimersByTimeAsync(0)
    const [p] = await rb.asks.pending({ run: 'w' })
    const waited = rb.asks.wait(p.id, { timeout: 100 }).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(100)
    expect(await waited).toBeInstanceOf(TimeoutError)
    expect((await rb.asks.get(p.id)).state).toBe('pending')
    await rb.asks.answer(p.id, 'hi')
    expect(await asked).toBe('hi')
  })

  it('an outcome decided in kv whose event never reached the log is still found', async () => {
    vi.useFakeTimers()
    const rb = createRunbus()
    open.push(rb)
    const run = await rb.runs.create({ id: 'crash' })
    const asked = run.ask({ kind: 'text', prompt: '?' })
    await vi.advanceTimersByTimeAsync(0)
    const [p] = await rb.asks.pending({ run: 'crash' })
    // An answering process won in kv, then died before appending the `answer` event.
    await rb.backend.kv.setIfAbsent(
      `ask:${p.id}:result`,
      JSON.stringify({ state: 'answered', answer: 'late but sure', at: Date.now() }),
    )
    await vi.advanceTimersByTimeAsync(15_000)
    expect(await asked).toBe('late but sure')
  })

  it('bus waitFor timeout leaves no timer', async () => {
    vi.useFakeTimers()
    const rb = createRunbus()
    open.push(rb)
    const before = vi.getTimerCount()
    const w = rb.bus.waitFor('a.b', { timeout: 1000 }).catch((e: unknown) => e)
    expect(vi.getTimerCount()).toBe(before + 1)
    await vi.advanceTimersByTimeAsync(1000)
    expect(await w).toBeInstanceOf(TimeoutError)
    expect(vi.getTimerCount()).toBe(before)
    expect(rb.stats()).toMatchObject({ waiters: 0, busPatterns: 0 })
  })
})

describe('asks.create', () => {
  function fresh(options: Parameters<typeof createRunbus>[0] = {}): Runbus {
    const rb = createRunbus(options)
    open.push(rb)
    return rb
  }

  it('returns the pending ask at once, with its event in the log, holding nothing', async () => {
    const rb = fresh()
    await rb.runs.create({ id: 'c' }) // the agent's handle watches the inbox
    const baseline = rb.stats()
    const a = await rb.asks.create('c', { kind: 'confirm', prompt: 'Deploy?', data: { env: 1 } })
    expect(a).toMatchObject({ run: 'c', kind: 'confirm', prompt: 'Deploy?', state: 'pending' })
    expect(a.data).toEqual({ env: 1 })
    expect(a.id).toMatch(/^ask_/)
    expect(a.expiresAt).toBeUndefined()
    expect(await rb.asks.get(a.id)).toEqual(a)
    const log = (await rb.runs.read('c')).events
    expect(log.map((e) => [e.id, e.type, e.data])).toEqual([
      [a.eventId, 'ask', { ask: a.id, kind: 'confirm', prompt: 'Deploy?', data: { env: 1 } }],
    ])
    expect((await rb.asks.pending({ run: 'c' })).map((p) => p.id)).toEqual([a.id])
    expect(rb.stats()).toEqual(baseline)
    expect(baseline).toMatchObject({ asks: 0, armedAsks: 0, followers: 0, runs: 0 })
  })

  it('a timeout expires the ask with an ask_expired event though nobody waits', async () => {
    vi.useFakeTimers()
    const rb = fresh()
    await rb.runs.create({ id: 'x' })
    await rb.backend.kv.set('warm', 'x', 1e9)
    const before = vi.getTimerCount()
    const a = await rb.asks.create('x', { kind: 'text', prompt: 'Name?', timeout: 5_000 })
    expect(a.expiresAt).toBe(a.createdAt + 5_000)
    expect(rb.stats().armedAsks).toBe(1)
    await vi.advanceTimersByTimeAsync(4_999)
    expect((await rb.asks.get(a.id)).state).toBe('pending')
    await vi.advanceTimersByTimeAsync(1)
    const log = (await rb.runs.read('x')).events
    expect(log.map((e) => e.type)).toEqual(['ask', 'ask_expired'])
    expect(log[1].data).toEqual({ ask: a.id, reason: 'timeout' })
    expect(await rb.asks.get(a.id)).toMatchObject({ state: 'expired', expiredReason: 'timeout' })
    await expect(rb.asks.answer(a.id, 'late')).rejects.toBeInstanceOf(AskExpiredError)
    await expect(rb.asks.wait(a.id)).rejects.toBeInstanceOf(AskTimeoutError)
    expect(rb.stats()).toMatchObject({ asks: 0, armedAsks: 0, followers: 0 })
    expect(vi.getTimerCount()).toBe(before)
  })

  it('answered: the timer goes, and a later wait resolves with the answer', async () => {
    vi.useFakeTimers()
    const rb = fresh()
    await rb.runs.create({ id: 'y' })
    await rb.backend.kv.set('warm', 'x', 1e9)
    const before = vi.getTimerCount()
    const a = await rb.asks.create('y', {
      kind: 'choice',
      prompt: 'Branch?',
      choices: ['main', 'dev'],
      timeout: 60_000,
    })
    expect(vi.getTimerCount()).toBe(before + 2) // its expiry, and the shared sweep
    await expect(rb.asks.answer(a.id, 'nope')).rejects.toBeInstanceOf(ValidationError)
    expect(await rb.asks.answer(a.id, 'dev', { by: 'ada' })).toMatchObject({
      state: 'answered',
      answer: 'dev',
      answeredBy: 'ada',
    })
    expect(vi.getTimerCount()).toBe(before)
    expect(rb.stats().armedAsks).toBe(0)
    expect(await rb.asks.wait(a.id)).toBe('dev')
    await vi.advanceTimersByTimeAsync(120_000)
    const log = (await rb.runs.read('y')).events
    expect(log.map((e) => e.type)).toEqual(['ask', 'answer'])
  })

  it('the sweep lets go of asks whose run ended (expired: run_ended) or answered elsewhere', async () => {
    vi.useFakeTimers()
    const backend = memoryBackend()
    const rb = fresh({ backend })
    const human = fresh({ backend })
    await rb.backend.kv.set('warm', 'x', 1e9)
    const agent = await rb.runs.create({ id: 'gone' })
    await rb.runs.create({ id: 'stays' })
    const baseline = rb.stats()
    const a = await rb.asks.create('gone', { kind: 'text', prompt: '?', timeout: 3_600_000 })
    const b = await rb.asks.create('stays', { kind: 'text', prompt: '?', timeout: 3_600_000 })
    expect(rb.stats().armedAsks).toBe(2)
    await agent.end()
    await human.asks.answer(b.id, 'elsewhere')
    expect(rb.stats().armedAsks).toBe(2) // nothing told this instance yet
    const held = vi.getTimerCount() // two expiry timers and the sweep, besides the backend's
    await vi.advanceTimersByTimeAsync(60_000)
    // (ending the run also let go of its handle's inbox watch)
    expect(rb.stats()).toEqual({ ...baseline, inboxes: baseline.inboxes - 1 })
    expect(await human.asks.get(a.id)).toMatchObject({
      state: 'expired',
      expiredReason: 'run_ended',
    })
    await expect(human.asks.answer(a.id, 'late')).rejects.toBeInstanceOf(AskExpiredError)
    expect(await human.asks.get(b.id)).toMatchObject({ state: 'answered', answer: 'elsewhere' })
    expect(vi.getTimerCount()).toBe(held - 3)
    await backend.close()
  })

  it('a wait started before the answer gets it (no timeout: nothing armed)', async () => {
    const rb = fresh()
    await rb.runs.create({ id: 'w' })
    const a = await rb.asks.create('w', { kind: 'text', prompt: '?' })
    expect(rb.stats().armedAsks).toBe(0)
    const waited = rb.asks.wait(a.id)
    await rb.asks.answer(a.id, 'hi')
    expect(await waited).toBe('hi')
    expect(rb.stats()).toMatchObject({ asks: 0, armedAsks: 0, followers: 0 })
  })

  it('with a schema: checks answers here until decided, then lets go of the schema', async () => {
    const rb = fresh()
    await rb.runs.create({ id: 's' })
    const a = await rb.asks.create('s', { kind: 'form', prompt: 'n?', schema: z.number() })
    expect(a.schema).toMatchObject({ type: 'number' })
    expect(rb.stats().armedAsks).toBe(1)
    await expect(rb.asks.answer(a.id, 'seven')).rejects.toBeInstanceOf(ValidationError)
    expect((await rb.asks.answer(a.id, 7)).answer).toBe(7)
    expect(rb.stats()).toMatchObject({ armedAsks: 0, subscriptions: 0, busPatterns: 0 })
  })

  it('errors: unknown or ended run, bad options, oversized payload; nothing left behind', async () => {
    const rb = fresh({ limits: { maxPayloadBytes: 1024 } })
    await expect(rb.asks.create('nope', { kind: 'text', prompt: '?' })).rejects.toBeInstanceOf(
      RunNotFoundError,
    )
    const run = await rb.runs.create({ id: 'e' })
    const bad = [
      { kind: 'yes-no', prompt: '?' },
      { kind: 'choice', prompt: '?' },
      { kind: 'choice', prompt: '?', choices: [] },
      { kind: 'choice', prompt: '?', choices: [1] },
      { kind: 'text', prompt: 3 },
      { kind: 'text', prompt: '?', timeout: -1 },
      { kind: 'text', prompt: '?', timeout: Infinity },
      { kind: 'form', prompt: '?', schema: { not: 'a schema' } },
    ]
    for (const options of bad) {
      await expect(
        rb.asks.create('e', options as Parameters<Runbus['asks']['create']>[1]),
      ).rejects.toBeInstanceOf(InvalidArgumentError)
    }
    await expect(rb.asks.create('bad id!', { kind: 'text', prompt: '?' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(
      rb.asks.create('e', { kind: 'text', prompt: 'x'.repeat(2000) }),
    ).rejects.toBeInstanceOf(PayloadTooLargeError)
    await run.end()
    await expect(rb.asks.create('e', { kind: 'text', prompt: '?' })).rejects.toBeInstanceOf(
      RunEndedError,
    )
    expect((await rb.runs.read('e')).events.map((e) => e.type)).toEqual(['end'])
    expect(rb.stats()).toMatchObject({ armedAsks: 0, asks: 0, runs: 0 })
  })

  it('close() releases armed asks; another instance still refuses them after expiresAt', async () => {
    const backend = memoryBackend()
    const agent = createRunbus({ backend })
    const human = fresh({ backend })
    await agent.runs.create({ id: 'd' })
    const a = await agent.asks.create('d', { kind: 'confirm', prompt: '?', timeout: 30 })
    expect(agent.stats().armedAsks).toBe(1)
    await agent.close() // the asking process goes away before the timeout
    expect(agent.stats().armedAsks).toBe(0)
    await new Promise((r) => setTimeout(r, 60))
    expect((await human.asks.get(a.id)).state).toBe('expired')
    await expect(human.asks.answer(a.id, true)).rejects.toBeInstanceOf(AskExpiredError)
    const log = (await human.runs.read('d')).events
    expect(log.map((e) => e.type)).toEqual(['ask', 'ask_expired'])
    await backend.close()
  })

  it('run.ask() is create + wait: same record and event shape', async () => {
    const rb = fresh()
    const run = await rb.runs.create({ id: 'r' })
    const asked = run.ask({ kind: 'text', prompt: 'Name?', timeout: 60_000 })
    let pending: Awaited<ReturnType<Runbus['asks']['pending']>> = []
    while (pending.length === 0) pending = await rb.asks.pending({ run: 'r' })
    const created = await rb.asks.create('r', { kind: 'text', prompt: 'Name?', timeout: 60_000 })
    const strip = (x: object): object => {
      const {
        id: _id,
        eventId: _e,
        createdAt: _c,
        expiresAt: _x,
        ...rest
      } = x as Record<string, unknown>
      return rest
    }
    expect(strip(created)).toEqual(strip(pending[0]))
    const log = (await rb.runs.read('r')).events.filter((e) => e.type === 'ask')
    expect(Object.keys(log[0].data as object).sort()).toEqual(
      Object.keys(log[1].data as object).sort(),
    )
    // run.ask's own waiter arms its expiry; create's is armed separately.
    expect(rb.stats()).toMatchObject({ asks: 1, armedAsks: 1 })
    await rb.asks.answer(pending[0].id, 'ada')
    await rb.asks.answer(created.id, 'bob')
    expect(await asked).toBe('ada')
    expect(rb.stats()).toMatchObject({ asks: 0, armedAsks: 0, followers: 0 })
  })
})
