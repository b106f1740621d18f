import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from './errors.js'
import { backoffDelay, DEFAULT_RETRY_BACKOFF, resolveBackoff } from './jitter.js'

describe('backoffDelay', () => {
  it('is full jitter: uniform in [0, min(maxMs, initialMs · 2^(attempt-1))], attempt 1 first', () => {
    const b = { initialMs: 1000, maxMs: 60_000 }
    expect(backoffDelay(1, b, () => 0)).toBe(0)
    expect(backoffDelay(1, b, () => 0.999999)).toBe(999)
    expect(backoffDelay(3, b, () => 0.5)).toBe(2000)
    expect(backoffDelay(30, b, () => 0.5)).toBe(30_000)
    expect(backoffDelay(5000, { initialMs: 100, maxMs: 1000 }, () => 0.5)).toBe(500)
    // Attempt 0 (or below) counts as the first.
    expect(backoffDelay(0, b, () => 0.5)).toBe(500)
  })

  it('never exceeds the cap, never negative, for any attempt', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -5, max: 10_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, initialMs, maxMs, r) => {
          const d = backoffDelay(attempt, { initialMs, maxMs }, () => r)
          const cap = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, attempt - 1), 60))
          return Number.isInteger(d) && d >= 0 && d <= cap
        },
      ),
    )
  })
})

describe('resolveBackoff', () => {
  it('fills what is missing from the defaults', () => {
    expect(resolveBackoff('q', undefined, DEFAULT_RETRY_BACKOFF)).toEqual(DEFAULT_RETRY_BACKOFF)
    expect(resolveBackoff('q', { maxMs: 5 }, DEFAULT_RETRY_BACKOFF)).toEqual({
      initialMs: 1000,
      maxMs: 5,
    })
  })

  it('refuses the old names with the new one as a hint, and unknown names', () => {
    expect(() => resolveBackoff('q', { base: 10 } as never, DEFAULT_RETRY_BACKOFF)).toThrow(
      /unknown option "base" \(renamed "initialMs"/,
    )
    expect(() => resolveBackoff('q', { max: 10 } as never, DEFAULT_RETRY_BACKOFF)).toThrow(
      /unknown option "max" \(renamed "maxMs"/,
    )
    expect(() => resolveBackoff('q', { initalMs: 10 } as never, DEFAULT_RETRY_BACKOFF)).toThrow(
      InvalidArgumentError,
    )
  })

  it('refuses values that are not a finite number of ms, 0 or more', () => {
    for (const bad of [-1, Infinity, NaN, '5'])
      expect(() => resolveBackoff('q', { initialMs: bad } as never, DEFAULT_RETRY_BACKOFF)).toThrow(
        InvalidArgumentError,
      )
  })
})
