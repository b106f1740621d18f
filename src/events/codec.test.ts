import { describe, expect, it } from 'vitest'
import { encodePayload, utf8Length } from './codec.js'
import { InvalidArgumentError, PayloadTooLargeError } from './errors.js'

describe('encodePayload', () => {
  it('encodes once and measures UTF-8 bytes', () => {
    expect(encodePayload({ a: 1 }, 100)).toEqual({ json: '{"a":1}', size: 7 })
    expect(encodePayload(undefined, 100)).toEqual({ json: 'null', size: 4 })
    expect(utf8Length('é€😀')).toBe(2 + 3 + 4)
  })

  it('refuses over the limit with both sizes, exact at the boundary', () => {
    expect(encodePayload('x'.repeat(8), 10).size).toBe(10)
    const err = (() => {
      try {
        encodePayload('€'.repeat(4), 10, 'thing')
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(PayloadTooLargeError)
    expect(err).toMatchObject({ size: 14, limit: 10 })
    expect((err as Error).message).toContain('thing')
  })

  it('refuses what JSON cannot carry', () => {
    expect(() => encodePayload(10n, 100)).toThrow(InvalidArgumentError)
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(() => encodePayload(cyclic, 100)).toThrow(InvalidArgumentError)
  })
})
