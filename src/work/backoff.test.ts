import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { backoffDelay } from './backoff.js'

describe('backoffDelay', () => {
  it('is full jitter: uniform in [0, min(max, base · 2^(attempt-1))]', () => {
    expect(backoffDelay(1, { base: 1000, max: 60_000 }, () => 0)).toBe(0)
    expect(backoffDelay(1, { base: 1000, max: 60_000 }, () => 0.999999)).toBe(999)
    expect(backoffDelay(3, { base: 1000, max: 60_000 }, () => 0.5)).toBe(2000)
    expect(backoffDelay(30, { base: 1000, max: 60_000 }, () => 0.5)).toBe(30_000)
  })

  it('never exceeds the cap, never negative, for any attempt', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -5, max: 10_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, base, max, r) => {
          const d = backoffDelay(attempt, { base, max }, () => r)
          const cap = Math.min(max, base * 2 ** Math.min(Math.max(0, attempt - 1), 60))
          return Number.isInteger(d) && d >= 0 && d <= cap
        },
      ),
    )
  })
})
