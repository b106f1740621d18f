import { describe, expect, it } from 'vitest'
import { INITIAL_SLOTS, Ring } from './ring.js'

/** Grows a ring whose items wrap around the end of its array, from every head position. */
describe('Ring growth', () => {
  for (let head = 0; head < INITIAL_SLOTS; head++) {
    it(`keeps order and clears every free slot when it grows with head at ${head}`, () => {
      const ring = new Ring<{ n: number }>(Infinity)
      // Move the head: push `head` items and the first kept one, take the `head` (the ring
      // rewinds only when it empties), then fill the ring to the brim and past it.
      const items = Array.from({ length: INITIAL_SLOTS + 5 }, (_, n) => ({ n }))
      for (let i = 0; i < head; i++) ring.push({ n: -1 })
      ring.push(items[0])
      for (let i = 0; i < head; i++) ring.shift()
      expect(ring.head).toBe(head)
      for (const item of items.slice(1)) ring.push(item) // the 17th item grows the full ring
      expect(ring.buf.length).toBe(INITIAL_SLOTS * 2)
      expect(ring.len).toBe(items.length)
      // Exactly the held items are in the array: a free slot keeps nothing alive.
      const held = ring.buf.filter((x) => x !== undefined)
      expect(held).toHaveLength(items.length)
      expect(new Set(held)).toEqual(new Set(items))
      const out: number[] = []
      while (ring.len > 0) out.push(ring.shift().n)
      expect(out).toEqual(items.map((x) => x.n))
      expect(ring.buf.every((x) => x === undefined)).toBe(true)
    })
  }
})
