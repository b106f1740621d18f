import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { checkChannel, checkPattern, compilePattern, matchPattern } from './patterns.js'
import { InvalidArgumentError } from '../events/errors.js'

describe('patterns', () => {
  it.each([
    ['a.b', 'a.b', true],
    ['a.b', 'a.c', false],
    ['a.*', 'a.b', true],
    ['a.*', 'a.b.c', false],
    ['a.*', 'a', false],
    ['*.b', 'x.b', true],
    ['a.>', 'a.b', true],
    ['a.>', 'a.b.c.d', true],
    ['a.>', 'a', false],
    ['>', 'a', true],
    ['>', 'a.b', true],
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['a.*.c.>', 'a.b.c.d', true],
    ['a.*.c.>', 'a.b.c', false],
  ])('%s matches %s: %s', (pattern, channel, expected) => {
    expect(matchPattern(pattern, channel)).toBe(expected)
  })

  it('refuses malformed names', () => {
    for (const bad of ['', 'a..b', '.a', 'a.', 'a b', 'a.*', 'a?', 'a[1]', 'x'.repeat(257)]) {
      expect(() => checkChannel(bad), bad).toThrow(InvalidArgumentError)
    }
    for (const bad of ['', 'a.>.b', 'a*', '>>', 'a..*']) {
      expect(() => checkPattern(bad), bad).toThrow(InvalidArgumentError)
    }
    expect(checkPattern('a.*.>')).toBe('a.*.>')
  })

  it('property: agrees with a segment-by-segment reference', () => {
    const seg = fc.constantFrom('a', 'b', 'c')
    const channel = fc.array(seg, { minLength: 1, maxLength: 5 }).map((s) => s.join('.'))
    const pattern = fc
      .tuple(fc.array(fc.constantFrom('a', 'b', '*'), { minLength: 0, maxLength: 4 }), fc.boolean())
      .filter(([segs, rest]) => segs.length > 0 || rest)
      .map(([segs, rest]) => [...segs, ...(rest ? ['>'] : [])].join('.'))
    fc.assert(
      fc.property(pattern, channel, (p, c) => {
        const ps = p.split('.')
        const cs = c.split('.')
        const rest = ps[ps.length - 1] === '>'
        const fixed = rest ? ps.slice(0, -1) : ps
        const expected =
          (rest ? cs.length > fixed.length : cs.length === fixed.length) &&
          fixed.every((s, i) => s === '*' || s === cs[i])
        expect(compilePattern(p)(c)).toBe(expected)
      }),
    )
  })
})
