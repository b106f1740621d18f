import { describe, expect, it } from 'vitest'
import { createRunbus } from '../index.js'
import { freezeDeep, isPlainJson } from './shared-data.js'

/** What the emit path does: freeze plain JSON data, and say whether it was. */
function freezeIfPlainJson(data: unknown): boolean {
  if (!isPlainJson(data)) return false
  freezeDeep(data)
  return true
}

describe('freezeIfPlainJson', () => {
  it('freezes plain JSON data deeply and says so', () => {
    const data = { text: 'tok', n: 1, ok: true, none: null, list: [1, { deep: 'x' }] }
    expect(freezeIfPlainJson(data)).toBe(true)
    expect(Object.isFrozen(data)).toBe(true)
    expect(Object.isFrozen(data.list)).toBe(true)
    expect(Object.isFrozen(data.list[1])).toBe(true)
    expect(data).toEqual(JSON.parse(JSON.stringify(data)))
    expect(freezeIfPlainJson('text')).toBe(true)
    expect(freezeIfPlainJson(Object.create(null) as object)).toBe(true)
  })

  it('leaves alone what a JSON round trip would change', () => {
    const cases: unknown[] = [
      { at: new Date(0) },
      { u: undefined },
      [1, undefined],
      // eslint-disable-next-line no-sparse-arrays
      [1, , 3],
      { n: NaN },
      { n: Infinity },
      { n: -0 },
      { f: () => 1 },
      { big: 1n },
      { toJSON: () => 'x' },
      new Map([[1, 2]]),
      undefined,
    ]
    for (const c of cases) {
      expect(freezeIfPlainJson(c), String(c)).toBe(false)
      if (typeof c === 'object' && c !== null) expect(Object.isFrozen(c)).toBe(false)
    }
    // Nothing inside is frozen either when a later part fails the check.
    const inner = { a: 1 }
    expect(freezeIfPlainJson({ inner, bad: undefined })).toBe(false)
    expect(Object.isFrozen(inner)).toBe(false)
  })
})

describe('in-process readers of the memory backend', () => {
  it('get the emitter’s frozen object, equal to the stored JSON, and cannot change it', async () => {
    const rb = createRunbus()
    try {
      const run = await rb.runs.create({ id: 'shared' })
      const data = { text: 'tok', nested: { i: 1 } }
      run.emit('text', data)
      const dated = { at: new Date(0) }
      run.emit('dated', dated)
      await run.end()
      const seen = []
      for await (const e of rb.runs.follow('shared', { after: 'start' })) seen.push(e)
      const text = seen.find((e) => e.type === 'text')!
      // No decode: the reader holds the very object emitted, frozen.
      expect(text.data).toBe(data)
      expect(Object.isFrozen(text.data)).toBe(true)
      expect(Object.isFrozen(data.nested)).toBe(true)
      expect(() => {
        ;(text.data as { text: string }).text = 'changed'
      }).toThrow(TypeError)
      expect(() => {
        data.nested.i = 2
      }).toThrow(TypeError)
      expect(text.data).toEqual({ text: 'tok', nested: { i: 1 } })
      // Not plain JSON: decoded as before (the Date became its string), the original untouched.
      const d = seen.find((e) => e.type === 'dated')!
      expect(d.data).toEqual({ at: new Date(0).toISOString() })
      expect(Object.isFrozen(dated)).toBe(false)
    } finally {
      await rb.close()
    }
  })
})
