import { afterEach, describe, expect, it } from 'vitest'
import {
  BackendUnavailableError,
  InvalidArgumentError,
  RunEndedError,
  createRunbus,
  memoryBackend,
  type Backend,
  type EventDraft,
  type Runbus,
} from '../index.js'

/** A memory backend whose appends fail while `down` is set. */
function flaky(): { backend: Backend; down: { value: boolean }; calls: number[] } {
  const inner = memoryBackend()
  const down = { value: false }
  const calls: number[] = []
  const runs = Object.create(inner.runs) as Backend['runs']
  runs.append = (run: string, drafts: EventDraft[]) => {
    calls.push(drafts.length)
    if (down.value) return Promise.reject(new BackendUnavailableError('down'))
    return inner.runs.append(run, drafts)
  }
  return { backend: { ...inner, runs }, down, calls }
}

const open: Runbus[] = []
afterEach(async () => {
  for (const rb of open.splice(0)) await rb.close()
})

describe('run handle', () => {
  it('batches synchronous emits into one append per tick, in order', async () => {
    const { backend, calls } = flaky()
    const rb = createRunbus({ backend })
    open.push(rb)
    const run = await rb.runs.create({ id: 'b' })
    for (let i = 0; i < 10; i++) run.emit('n', i)
    await run.flush()
    for (let i = 10; i < 15; i++) run.emit('n', i)
    await run.flush()
    expect(calls).toEqual([10, 5])
    expect((await rb.runs.read('b')).events.map((e) => e.data)).toEqual([...Array(15).keys()])
    expect(rb.stats().runs).toBe(0)
  })

  it('checks every emitted type: a type that passed is not checked again, nothing else skips it', async () => {
    const rb = createRunbus()
    open.push(rb)
    const run = await rb.runs.create({ id: 't' })
    const bad: unknown[] = [undefined, '', 'end', 'ask', 'x'.repeat(1_000), 7]
    // On a fresh handle, after a valid type, and once more after each refusal.
    for (const before of [undefined, 'text', 'n']) {
      if (before !== undefined) run.emit(before, 1)
      for (const t of bad) {
        expect(() => run.emit(t as string, 1)).toThrow(InvalidArgumentError)
        expect(() => run.emit(t as string, 1)).toThrow(InvalidArgumentError)
      }
    }
    run.emit('n', 2)
    await run.flush()
    expect((await rb.runs.read('t')).events.map((e) => [e.type, e.data])).toEqual([
      ['text', 1],
      ['n', 1],
      ['n', 2],
    ])
  })

  it('data whose getter or toJSON throws is refused as InvalidArgumentError, with the cause, and nothing is stored', async () => {
    const rb = createRunbus()
    open.push(rb)
    const run = await rb.runs.create({ id: 'g' })
    const boom = new Error('boom')
    class WithToJson {
      get toJSON(): () => unknown {
        throw boom
      }
    }
    const cases: unknown[] = [
      {
        ok: 1,
        get bad(): number {
          throw boom
        },
      },
      [
        1,
        {
          nested: {
            get deep(): number {
              throw boom
            },
          },
        },
      ],
      new WithToJson(),
      {
        toJSON: () => {
          throw boom
        },
      },
    ]
    for (const data of cases) {
      let caught: unknown
      try {
        run.emit('t', data)
      } catch (err) {
        caught = err
      }
      expect(caught).toBeInstanceOf(InvalidArgumentError)
      expect((caught as InvalidArgumentError).message).toMatch(
        /data of event "t" cannot be encoded as JSON: Error: boom/,
      )
      expect((caught as InvalidArgumentError).cause).toBe(boom)
    }
    run.emit('t', 'after')
    await run.flush()
    expect((await rb.runs.read('g')).events.map((e) => e.data)).toEqual(['after'])
  })

  it('stamps ts once per batch, when it is first sent, and keeps it on a retry', async () => {
    const { backend, down } = flaky()
    const rb = createRunbus({ backend })
    open.push(rb)
    const run = await rb.runs.create({ id: 't' })
    const clock = (): number => Date.now()
    // One synchronous stretch that outlasts a clock tick: its events share the time it ended.
    const before = clock()
    run.emit('n', 1)
    while (clock() < before + 2) {
      /* synchronous work between two emits */
    }
    run.emit('n', 2)
    const ended = clock()
    await run.flush()
    const [a, b] = (await rb.runs.read('t')).events
    expect(a.ts).toBe(b.ts)
    expect(a.ts).toBeGreaterThanOrEqual(ended)
    // A batch that failed keeps the time of its first send when a later flush stores it.
    down.value = true
    run.emit('n', 3)
    await expect(run.flush()).rejects.toBeInstanceOf(BackendUnavailableError)
    const failedAt = clock()
    while (clock() < failedAt + 2) {
      /* time passes before the retry */
    }
    down.value = false
    await run.flush()
    const c = (await rb.runs.read('t', { after: b.id })).events[0]
    expect(c.data).toBe(3)
    expect(c.ts).toBeGreaterThanOrEqual(ended)
    expect(c.ts).toBeLessThanOrEqual(failedAt)
  })

  it('a failed batch is kept, flush rejects, and a later flush retries it in order', async () => {
    const { backend, down } = flaky()
    const rb = createRunbus({ backend })
    open.push(rb)
    const run = await rb.runs.create({ id: 'f' })
    run.emit('n', 1)
    await run.flush()
    down.value = true
    run.emit('n', 2)
    run.emit('n', 3)
    await expect(run.flush()).rejects.toBeInstanceOf(BackendUnavailableError)
    expect(run.stats).toMatchObject({ failures: 1, pending: 2 })
    // Still sticky: nothing is sent behind the kept events' back.
    run.emit('n', 4)
    await expect(run.flush()).rejects.toBeInstanceOf(BackendUnavailableError)
    expect(run.stats.pending).toBe(3)
    expect(rb.stats().emitFailures).toBe(2)
    down.value = false
    await run.flush()
    expect(run.stats).toMatchObject({ pending: 0, stored: 4 })
    expect((await rb.runs.read('f')).events.map((e) => e.data)).toEqual([1, 2, 3, 4])
  })

  it('append callers are told about a failure and their event is not retried', async () => {
    const { backend, down } = flaky()
    const rb = createRunbus({ backend })
    open.push(rb)
    const run = await rb.runs.create({ id: 'a' })
    down.value = true
    await expect(run.append('x', 1)).rejects.toBeInstanceOf(BackendUnavailableError)
    expect(run.stats.pending).toBe(0)
    down.value = false
    await run.flush()
    const e = await run.append('x', 2)
    expect(e.seq).toBe(1)
    expect(await run.appendMany([{ type: 'y' }, { type: 'z', data: 3 }])).toMatchObject([
      { seq: 2, type: 'y', data: null },
      { seq: 3, type: 'z', data: 3 },
    ])
  })

  it('in a failed mixed batch, appends are rejected and emits kept in order', async () => {
    const { backend, down } = flaky()
    const rb = createRunbus({ backend })
    open.push(rb)
    const run = await rb.runs.create({ id: 'mix' })
    down.value = true
    run.emit('n', 'a')
    const b = run.append('n', 'b')
    run.emit('n', 'c')
    await expect(b).rejects.toBeInstanceOf(BackendUnavailableError)
    expect(run.stats.pending).toBe(2)
    down.value = false
    const d = await run.append('n', 'd') // retries the kept emits first
    expect(d.seq).toBe(3)
    expect((await rb.runs.read('mix')).events.map((e) => e.data)).toEqual(['a', 'c', 'd'])
  })

  it('end flushes first; a flush failure leaves the run open for a retry', async () => {
    const { backend, down } = flaky()
    const rb = createRunbus({ backend })
    open.push(rb)
    const run = await rb.runs.create({ id: 'e' })
    down.value = true
    run.emit('n', 1)
    await expect(run.end()).rejects.toBeInstanceOf(BackendUnavailableError)
    expect(run.ended).toBe(false)
    down.value = false
    const end = await run.end()
    expect(end.seq).toBe(2)
  })

  it('rb.close() stores what is pending before closing', async () => {
    const backend = memoryBackend()
    const rb = createRunbus({ backend })
    const run = await rb.runs.create({ id: 'c' })
    run.emit('n', 1)
    run.emit('n', 2)
    expect(rb.stats().runs).toBe(1)
    await rb.close()
    expect((await backend.runs.read('c', 0, 10)).events.map((e) => e.data)).toEqual([1, 2])
    await backend.close()
  })
})

describe('run handle flush bounds', () => {
  it('flush({ timeout, signal }) bounds the wait; the events stay pending and are stored later', async () => {
    const inner = memoryBackend()
    let release: (() => void) | undefined
    const runs = Object.create(inner.runs) as Backend['runs']
    runs.append = async (run: string, drafts: EventDraft[]) => {
      if (release === undefined) await new Promise<void>((r) => (release = r))
      return inner.runs.append(run, drafts)
    }
    const rb = createRunbus({ backend: { ...inner, runs } })
    open.push(rb)
    const run = await rb.runs.create({ id: 's' })
    run.emit('n', 1)
    await expect(run.flush({ timeout: 10 })).rejects.toMatchObject({ code: 'timeout' })
    const ac = new AbortController()
    const aborted = run.flush({ signal: ac.signal })
    ac.abort(new Error('enough'))
    await expect(aborted).rejects.toThrow('enough')
    expect(run.stats.stored).toBe(0)
    const later = run.flush()
    release!()
    await later
    expect((await rb.runs.read('s')).events.map((e) => e.data)).toEqual([1])
  })
})

describe('run handle after the run ended elsewhere', () => {
  it('emits are refused (counted, no throw) after the backend refused a batch as ended; run.signal aborts', async () => {
    const rb = createRunbus()
    open.push(rb)
    const run = await rb.runs.create({ id: 'elsewhere' })
    const other = await rb.runs.open('elsewhere')
    await other.end()
    run.emit('n', 1)
    await expect(run.flush()).rejects.toBeInstanceOf(RunEndedError)
    expect(() => run.emit('n', 2)).not.toThrow()
    expect(run.stats.refused).toBe(1)
    expect(run.signal.reason).toBeInstanceOf(RunEndedError)
  })
})
