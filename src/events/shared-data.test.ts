import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createRunbus } from '../index.js'
import { PayloadTooLargeError } from './errors.js'
import { SharedDraft, draftBytes } from '../contract/shared-draft.js'
import { plainJsonBytes, sharePlainJson, walkStackSlots } from './shared-data.js'

/** What the emit path does: freeze plain JSON data, and say whether it was. */
function freezeIfPlainJson(data: unknown): boolean {
  return sharePlainJson(data, Infinity) >= 0
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

  it('measures as plainJsonBytes does, and freezes nothing over the limit', () => {
    const data = { text: 'tok', list: [1, { deep: 'x' }] }
    const size = plainJsonBytes(data)
    expect(sharePlainJson(data, size - 1)).toBe(size)
    expect([data, data.list, data.list[1]].some((o) => Object.isFrozen(o))).toBe(false)
    expect(sharePlainJson(data, size)).toBe(size)
    expect([data, data.list, data.list[1]].every((o) => Object.isFrozen(o))).toBe(true)
  })

  it('holds on to nothing it walked: the data can be collected after the walk', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    // Large (past what the walk stack keeps), walked whole (frozen), refused over the limit,
    // found not plain halfway, and thrown out of by a getter.
    // No `expect` inside: an assertion (and an error's unformatted stack, which holds the
    // getter's receiver) could keep what it was given alive, and the test would measure that.
    const walk = (): { sizes: number[]; threw: boolean; refs: WeakRef<object>[] } => {
      const a = { text: 'tok', list: [{ deep: 1 }] }
      const b = { text: 'x'.repeat(100), more: [{}] }
      const c = { list: [{ ok: 1 }, { bad: new Date(0) }] }
      const d = Array.from({ length: 5_000 }, (_, i) => ({ i }))
      const e = {
        inner: { x: 1 },
        get boom(): number {
          throw new Error('boom')
        },
      }
      const sizes = [
        sharePlainJson(d, Infinity),
        sharePlainJson(a, Infinity),
        sharePlainJson(b, 10),
        sharePlainJson(c, Infinity),
      ]
      let threw = false
      try {
        sharePlainJson(e, Infinity)
      } catch {
        threw = !Object.isFrozen(e.inner)
      }
      const refs = [a, a.list[0], b, b.more[0], c, c.list[0], d, d[4_999], e, e.inner]
      return { sizes, threw, refs: refs.map((o) => new WeakRef(o)) }
    }
    const { sizes, threw, refs } = walk()
    expect(sizes.map(Math.sign)).toEqual([1, 1, 1, -1])
    expect(sizes[2]).toBeGreaterThan(10)
    expect(threw).toBe(true)
    // A WeakRef holds its target until the current job ends.
    await new Promise((r) => setImmediate(r))
    gc()
    expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(0)
    // The large walk's stack is not kept: what stays between walks is bounded.
    expect(
      sharePlainJson(
        Array.from({ length: 10_000 }, () => [1]),
        Infinity,
      ),
    ).toBeGreaterThan(0)
    expect(walkStackSlots()).toBeLessThanOrEqual(4_096)
  })

  it('a walk started inside a walk (a getter that emits) freezes only its own data', () => {
    /** Plain data whose getter runs `inside` while a walk reads it. */
    const withGetter = (inside: () => void) => ({
      a: { b: 1 },
      get c() {
        inside()
        return { d: 2 }
      },
      e: [3],
    })
    const frozen = (...os: object[]): boolean[] => os.map((o) => Object.isFrozen(o))

    // The outer data is refused, the inner accepted: only the inner is frozen.
    const inner = { x: [1] }
    const refusedOuter = withGetter(() => {
      expect(sharePlainJson(inner, Infinity)).toBe(JSON.stringify(inner).length)
    })
    expect(sharePlainJson(refusedOuter, 5)).toBeGreaterThan(5)
    expect(frozen(inner, inner.x)).toEqual([true, true])
    expect(frozen(refusedOuter, refusedOuter.a, refusedOuter.e)).toEqual([false, false, false])

    // The outer data is accepted, what the getter measured or refused is not frozen.
    const measured = { m: {} }
    const refused = { big: 'y'.repeat(100) }
    const outer = withGetter(() => {
      plainJsonBytes(measured)
      expect(sharePlainJson(refused, 10)).toBe(JSON.stringify(refused).length)
    })
    const bytes = sharePlainJson(outer, Infinity)
    expect(bytes).toBe(JSON.stringify(outer).length)
    expect(frozen(outer, outer.a, outer.e)).toEqual([true, true, true])
    expect(frozen(measured, measured.m, refused)).toEqual([false, false, false])
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

describe('plainJsonBytes', () => {
  const exact = (v: unknown): number => Buffer.byteLength(JSON.stringify(v))

  it('is the exact UTF-8 size of the JSON text of plain data', () => {
    const cases: unknown[] = [
      null,
      true,
      false,
      0,
      7,
      -12,
      1234567890123,
      Number.MAX_SAFE_INTEGER,
      -Number.MAX_SAFE_INTEGER,
      1e21,
      2 ** 60,
      0.1,
      -3.5e-9,
      '',
      'tok',
      'a "quoted" \\ back\nslash\t\u0001\u001f\u007f',
      'é ü 中文 😀',
      '\ud800 lone \udc00 surrogates',
      'x'.repeat(100),
      'x'.repeat(100) + 'é',
      'y'.repeat(100) + '"',
      [],
      {},
      [1, 'two', [3, [4, {}]], null, true],
      { text: 'tok', i: 42 },
      { 'ké"y': { nested: ['é', { deeper: -1.5 }] }, '': '', 1: 2 },
      Object.assign(Object.create(null) as object, { a: 1 }),
    ]
    for (const v of cases) expect(plainJsonBytes(v), JSON.stringify(v)).toBe(exact(v))
  })

  it('sizes keys exactly when the same names come back at other positions and depths', () => {
    // The walk remembers the sizes of the last keys it met at each position: draw objects
    // from a small pool of names (so positions collide often), including the empty name,
    // names past what it remembers, non-ASCII and escaped ones, and more keys than it keeps.
    const long = 'k'.repeat(64)
    const names = ['', 'a', 'text', 'é', 'a"b', long, long + 'x', '1', '0', 'tok']
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.integer(),
        fc.constantFrom(...names),
        fc.dictionary(fc.constantFrom(...names), tie('node'), { maxKeys: 6 }),
        fc.array(tie('node'), { maxLength: 3 }),
      ),
    })).node
    const wide = fc.uniqueArray(fc.constantFrom(...names, ...names.map((n) => n + '_')), {
      minLength: 17,
      maxLength: 20,
    })
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            tree,
            wide.map((ks) => Object.fromEntries(ks.map((k, i) => [k, i]))),
          ),
          { maxLength: 8 },
        ),
        (values) => {
          for (const v of values) expect(plainJsonBytes(v), JSON.stringify(v)).toBe(exact(v))
        },
      ),
      { numRuns: 500 },
    )
  })

  it('counts the digits of every integer at and around each power of ten', () => {
    for (let k = 0; k <= 16; k++) {
      const p = 10 ** k
      for (const m of [p - 1, p, p + 1]) {
        for (const n of m === 0 ? [0] : [m, -m]) {
          if (Number.isSafeInteger(n)) expect(plainJsonBytes(n), String(n)).toBe(exact(n))
        }
      }
    }
    for (const n of [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 2 ** 53 + 2]) {
      expect(plainJsonBytes(n), String(n)).toBe(exact(n))
    }
  })

  it('is -1 for data that is not plain JSON', () => {
    for (const v of [undefined, { at: new Date(0) }, [1, undefined], NaN, -0, 1n, () => 1])
      expect(plainJsonBytes(v)).toBe(-1)
  })

  it('backs the emit size limit: at the limit is accepted, one byte over is refused', async () => {
    // Mostly escapes and multi-byte characters: a bound like 6 × length would be far over.
    const text = '"é'.repeat(100)
    const size = exact({ text })
    expect(size).toBeGreaterThan(200)
    expect(size).toBeLessThan(6 * text.length)
    const rb = createRunbus({ limits: { maxPayloadBytes: size } })
    try {
      const run = await rb.runs.create({ id: 'sized' })
      run.emit('t', { text })
      await run.flush()
      const over = { text: text + 'x' }
      expect(() => run.emit('t', over)).toThrow(PayloadTooLargeError)
      expect(Object.isFrozen(over)).toBe(false)
      const page = await rb.runs.read('sized')
      expect(page.events.map((e) => e.data)).toEqual([{ text }])
    } finally {
      await rb.close()
    }
  })

  it('a shared draft makes its JSON only when asked, and knows its size', () => {
    const data = { text: 'é', n: [1, 2] }
    sharePlainJson(data, Infinity)
    const d = new SharedDraft('t', data, plainJsonBytes(data), 1)
    expect(draftBytes(d)).toBe(exact(data))
    expect(d.json).toBe(JSON.stringify(data))
    expect(d.json).toBe(d.json)
    expect(d.shared).toBe(true)
    expect(draftBytes({ type: 't', data, json: JSON.stringify(data), ts: 1 })).toBe(exact(data))
  })
})
