import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  epochOfId,
  epochTagOf,
  epochTagOfId,
  EventIds,
  eventIdOf,
  idOfSeq,
  parseEventId,
  sameEpoch,
  seqOfId,
} from './envelope.js'

describe('event ids', () => {
  it('round-trip seq and incarnation; distinct incarnations give distinct ids', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        (seq, a, b) => {
          const id = eventIdOf(seq, epochTagOf(a))
          expect(parseEventId(id)).toEqual({ seq, epoch: a })
          expect(seqOfId(id)).toBe(seq)
          expect(epochOfId(id)).toBe(a)
          expect(eventIdOf(seq, epochTagOfId(id))).toBe(id)
          if (a !== b) expect(eventIdOf(seq, epochTagOf(b))).not.toBe(id)
        },
      ),
    )
  })

  it('accepts plain decimal ids as "incarnation unknown"', () => {
    expect(parseEventId('0')).toEqual({ seq: 0, epoch: undefined })
    expect(parseEventId(idOfSeq(42))).toEqual({ seq: 42, epoch: undefined })
    expect(epochTagOfId('42')).toBe('')
    expect(sameEpoch(undefined, 1)).toBe(true)
    expect(sameEpoch(1, undefined)).toBe(true)
  })

  it('refuses what runbus never issued', () => {
    for (const bad of [
      '',
      '-1',
      '01',
      '1.',
      '.abc',
      '1.0a',
      '1.A',
      '1.a.b',
      '1-0',
      ' 1',
      '99999999999999999',
      '1.zzzzzzzzzzz',
      'abc',
    ]) {
      expect(parseEventId(bad), bad).toBeUndefined()
      expect(seqOfId(bad), bad).toBeUndefined()
    }
  })

  it('an unknown or unusable creation time tags nothing; fractions compare by whole ms', () => {
    expect(epochTagOf(undefined)).toBe('')
    expect(epochTagOf(Number.NaN)).toBe('')
    expect(epochTagOf(-1)).toBe('')
    expect(epochTagOf(Infinity)).toBe('')
    expect(epochTagOf(1000.7)).toBe(epochTagOf(1000))
    expect(sameEpoch(1000, 1000.7)).toBe(true)
    expect(sameEpoch(1000, 1001)).toBe(false)
  })

  it('EventIds makes the same ids as eventIdOf, in any order, from 0 to the largest safe seq', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.array(fc.integer({ min: -25, max: 25 }), { maxLength: 40 }),
        (start, epoch, steps) => {
          const tag = epochTagOf(epoch)
          const ids = new EventIds(tag)
          // A run of consecutive seqs (a batch), then jumps back and forth from it.
          let seq = Math.min(start, Number.MAX_SAFE_INTEGER - 30)
          for (let i = 0; i < 25; i++) expect(ids.of(seq + i)).toBe(eventIdOf(seq + i, tag))
          for (const step of steps) {
            seq = Math.max(0, Math.min(Number.MAX_SAFE_INTEGER, seq + step))
            expect(ids.of(seq)).toBe(eventIdOf(seq, tag))
          }
        },
      ),
    )
    const plain = new EventIds('')
    for (const seq of [0, 1, 9, 10, 11, 99, 100, 101, 1e6, Number.MAX_SAFE_INTEGER]) {
      expect(plain.of(seq)).toBe(String(seq))
    }
  })
})
