import { afterEach, describe, expect, it, vi } from 'vitest'
import { z } from 'zod'
import { AskTimeoutError, TimeoutError, createRunbus, type Runbus } from '../index.js'

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
