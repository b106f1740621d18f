import { describe, expect, it, vi } from 'vitest'
import { withDeadline } from './deadline.js'
import { AbortedError, TimeoutError } from './errors.js'

const never = () => new Promise<never>(() => {})

describe('withDeadline', () => {
  it('settles like the call when it is in time, and clears its timer', async () => {
    vi.useFakeTimers()
    try {
      const p = withDeadline(Promise.resolve(7), { ms: 1000 })
      await expect(p).resolves.toBe(7)
      expect(vi.getTimerCount()).toBe(0)
      await expect(withDeadline(Promise.reject(new Error('x')), { ms: 1000 })).rejects.toThrow('x')
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })

  it('rejects past the deadline with TimeoutError, or the onTimeout error; a late value goes to onLate', async () => {
    vi.useFakeTimers()
    try {
      const t = withDeadline(never(), { ms: 50 })
      const caught = t.catch((e: unknown) => e)
      await vi.advanceTimersByTimeAsync(50)
      expect(await caught).toBeInstanceOf(TimeoutError)

      let release!: (v: string) => void
      const late: string[] = []
      const u = withDeadline(new Promise<string>((r) => (release = r)), {
        ms: 10,
        onTimeout: () => new Error('custom'),
        onLate: (v) => late.push(v),
      })
      const caughtU = u.catch((e: unknown) => e)
      await vi.advanceTimersByTimeAsync(10)
      expect(((await caughtU) as Error).message).toBe('custom')
      release('conn')
      await Promise.resolve()
      expect(late).toEqual(['conn'])
    } finally {
      vi.useRealTimers()
    }
  })

  it('an abort rejects at once with the reason (or AbortedError) and stops the call', async () => {
    const ac = new AbortController()
    let inner: AbortSignal | undefined
    const p = withDeadline(
      (signal) => {
        inner = signal
        return never()
      },
      { signal: ac.signal },
    )
    ac.abort(new Error('stop'))
    await expect(p).rejects.toThrow('stop')
    expect(inner?.aborted).toBe(true)

    const pre = new AbortController()
    pre.abort()
    Object.defineProperty(pre.signal, 'reason', { value: undefined })
    await expect(withDeadline(never(), { signal: pre.signal })).rejects.toBeInstanceOf(AbortedError)
  })
})
