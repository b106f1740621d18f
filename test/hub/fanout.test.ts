import { afterEach, describe, expect, it } from 'vitest'
import { memoryBackend, type MemoryBackend } from '../../src/backends/memory/index.js'
import { RunFanout } from '../../src/hub/fanout.js'
import type { StreamSink } from '../../src/hub/sink.js'
import { draft, eventually, parseSse, type Frame } from './helpers.js'

/** A sink that records frames; `stalled` makes it pretend the peer reads nothing. */
class RecordingSink implements StreamSink {
  text = ''
  queued = 0
  closed = false
  ended = false
  aborted = false
  stalled = false
  #hooks: Array<() => void> = []
  #wait: Array<() => void> = []
  write(chunk: Uint8Array): void {
    if (this.closed) return
    this.text += new TextDecoder().decode(chunk)
    if (this.stalled) this.queued += chunk.byteLength
  }
  get queuedBytes(): number {
    return this.queued
  }
  waitDrain(): Promise<void> {
    if (this.queued === 0) return Promise.resolve()
    return new Promise((r) => this.#wait.push(r))
  }
  drain(): void {
    this.queued = 0
    this.stalled = false
    for (const w of this.#wait.splice(0)) w()
  }
  end(): void {
    this.ended = true
    this.#close()
  }
  abort(): void {
    this.aborted = true
    this.#close()
  }
  #close(): void {
    if (this.closed) return
    this.closed = true
    for (const h of this.#hooks.splice(0)) h()
    for (const w of this.#wait.splice(0)) w()
  }
  onClose(cb: () => void): void {
    if (this.closed) cb()
    else this.#hooks.push(cb)
  }
  /** Parsed SSE frames: { id?, event, data }. */
  frames(): Frame[] {
    return parseSse(this.text)
  }
  seqs(): number[] {
    return this.frames()
      .filter((f) => f.event !== 'gap')
      .map((f) => f.data.seq as number)
  }
  until(pred: () => boolean, what: string): Promise<void> {
    return eventually(pred, `${what}; got ${this.text}`)
  }
}

let backend: MemoryBackend
let fanout: RunFanout
afterEach(async () => {
  fanout?.close()
  await backend?.close()
})

async function setup(
  maxEvents = 1000,
  opts: Partial<ConstructorParameters<typeof RunFanout>[1]> = {},
) {
  backend = memoryBackend()
  fanout = new RunFanout(backend.runs, { maxQueuedBytes: 4096, pageSize: 3, lingerMs: 10, ...opts })
  await backend.runs.createRun({ id: 'r1', maxEvents, ts: Date.now() })
}

describe('RunFanout', () => {
  it('replays history, then goes live, then ends with the end frame', async () => {
    await setup()
    await backend.runs.append('r1', [draft('a', 1), draft('b', 2), draft('c', 3), draft('d', 4)])
    const sink = new RecordingSink()
    await fanout.attach('r1', sink, 'sse', { afterSeq: 0, explicit: false })
    await sink.until(() => sink.seqs().length === 4, 'history')
    await backend.runs.append('r1', [draft('e', 5)])
    await sink.until(() => sink.seqs().length === 5, 'live')
    await backend.runs.endRun('r1', { status: 'completed' }, Date.now(), 60_000)
    await sink.until(() => sink.ended, 'end')
    const frames = sink.frames()
    expect(sink.seqs()).toEqual([1, 2, 3, 4, 5, 6])
    expect(frames.at(-1)).toMatchObject({
      id: '6',
      event: 'end',
      data: { type: 'end', status: 'completed' },
    })
    expect(frames[0]).toMatchObject({
      id: '1',
      event: 'a',
      data: { id: '1', run: 'r1', seq: 1, type: 'a', data: 1 },
    })
    expect(fanout.readers('r1')).toBe(0)
  })

  it('resumes after an id with no duplicate and no hole while appends interleave', async () => {
    await setup()
    await backend.runs.append('r1', [draft('a', 1), draft('b', 2), draft('c', 3)])
    const sinks = [new RecordingSink(), new RecordingSink(), new RecordingSink()]
    const attaching = sinks.map((s, i) =>
      fanout.attach('r1', s, 'sse', { afterSeq: i, explicit: true }),
    )
    // Appends race the catch-up reads of every reader.
    for (let i = 0; i < 20; i++) await backend.runs.append('r1', [draft('x', i), draft('y', i)])
    await Promise.all(attaching)
    for (let i = 0; i < 10; i++) await backend.runs.append('r1', [draft('z', i)])
    await backend.runs.endRun('r1', { status: 'completed' }, Date.now(), 60_000)
    for (const [i, s] of sinks.entries()) {
      await s.until(() => s.ended, 'end')
      const expected = Array.from({ length: 54 - i }, (_, k) => k + 1 + i)
      expect(s.seqs()).toEqual(expected)
    }
  })

  it('announces trimmed history as one gap frame when a position was asked for', async () => {
    await setup(3)
    await backend.runs.append(
      'r1',
      [1, 2, 3, 4, 5, 6].map((n) => draft('n', n)),
    )
    const sink = new RecordingSink()
    await fanout.attach('r1', sink, 'sse', { afterSeq: 1, explicit: true })
    await sink.until(() => sink.frames().length === 4, 'gap and history')
    const frames = sink.frames()
    expect(frames[0]).toMatchObject({
      id: '3',
      event: 'gap',
      data: { from: '2', to: '3', type: 'gap' },
    })
    expect(sink.seqs()).toEqual([4, 5, 6])
    // From the start (no position asked): what is retained, no gap.
    const fresh = new RecordingSink()
    await fanout.attach('r1', fresh, 'sse', { afterSeq: 0, explicit: false })
    await fresh.until(() => fresh.seqs().length === 3, 'retained')
    expect(fresh.frames().some((f) => f.event === 'gap')).toBe(false)
  })

  it('cuts a live reader that stops reading, and counts it; others go on', async () => {
    await setup()
    const slow = new RecordingSink()
    const fast = new RecordingSink()
    await fanout.attach('r1', slow, 'sse', { afterSeq: 0, explicit: false })
    await fanout.attach('r1', fast, 'sse', { afterSeq: 0, explicit: false })
    await slow.until(() => fanout.readers('r1') === 2, 'attached')
    slow.stalled = true
    const big = 'x'.repeat(1000)
    for (let i = 0; i < 10; i++) await backend.runs.append('r1', [draft('t', big)])
    await fast.until(() => fast.seqs().length === 10, 'fast reader')
    expect(slow.aborted).toBe(true)
    expect(fanout.stats.cuts).toBe(1)
    expect(fanout.readers('r1')).toBe(1)
  })

  it('shares one backend watch between all readers of a run and releases it after the last', async () => {
    await setup()
    const sinks = Array.from({ length: 50 }, () => new RecordingSink())
    await Promise.all(
      sinks.map((s) => fanout.attach('r1', s, 'ndjson', { afterSeq: 0, explicit: false })),
    )
    expect(backend.stats().watchers).toBe(1)
    await backend.runs.append('r1', [draft('a', { hello: 'world' })])
    for (const s of sinks) await s.until(() => s.text.includes('hello'), 'event')
    expect(JSON.parse(sinks[0].text.trim())).toMatchObject({
      seq: 1,
      type: 'a',
      data: { hello: 'world' },
    })
    for (const s of sinks) s.abort()
    expect(fanout.readers('r1')).toBe(0)
    await sinks[0].until(() => backend.stats().watchers === 0, 'watch released')
    expect(fanout.feeds).toBe(0)
  })

  it('a reader connecting after the end gets the history, then the end, and is not left hanging', async () => {
    await setup()
    await backend.runs.append('r1', [draft('a', 1)])
    await backend.runs.endRun('r1', { status: 'failed', error: 'boom' }, Date.now(), 60_000)
    const sink = new RecordingSink()
    await fanout.attach('r1', sink, 'sse', { afterSeq: 0, explicit: false })
    await sink.until(() => sink.ended, 'end')
    expect(sink.frames().map((f) => f.event)).toEqual(['a', 'end'])
    expect(sink.frames()[1].data).toMatchObject({ status: 'failed', error: 'boom' })
    // resuming after the end's own id: the end again, then close
    const again = new RecordingSink()
    await fanout.attach('r1', again, 'sse', { afterSeq: 2, explicit: true })
    await again.until(() => again.ended, 'end again')
    expect(again.frames().map((f) => f.event)).toEqual(['end'])
  })

  it('serves a reader resuming within recent history from memory, without a backend read', async () => {
    await setup(1000, { pageSize: 100 })
    const first = new RecordingSink()
    await fanout.attach('r1', first, 'sse', { afterSeq: 0, explicit: false })
    await first.until(() => fanout.readers('r1') === 1, 'attached')
    for (let i = 0; i < 5; i++) await backend.runs.append('r1', [draft('n', i)])
    await first.until(() => first.seqs().length === 5, 'live')
    let reads = 0
    const orig = backend.runs.read.bind(backend.runs)
    backend.runs.read = (...args) => {
      reads++
      return orig(...args)
    }
    const resumed = new RecordingSink()
    await fanout.attach('r1', resumed, 'sse', { afterSeq: 2, explicit: true })
    expect(resumed.seqs()).toEqual([3, 4, 5])
    expect(reads).toBe(0)
  })

  it('readers catching up from the same point share one backend read (a reconnect storm)', async () => {
    await setup(1000, { pageSize: 100 })
    await backend.runs.append(
      'r1',
      Array.from({ length: 10 }, (_, i) => draft('n', i)),
    )
    let reads = 0
    const orig = backend.runs.read.bind(backend.runs)
    backend.runs.read = (...args) => {
      reads++
      return orig(...args)
    }
    const sinks = Array.from({ length: 50 }, () => new RecordingSink())
    await Promise.all(
      sinks.map((s) => fanout.attach('r1', s, 'sse', { afterSeq: 3, explicit: true })),
    )
    for (const s of sinks) await s.until(() => s.seqs().length === 7, 'history')
    expect(reads).toBeLessThanOrEqual(2)
    await backend.runs.append('r1', [draft('n', 10)])
    for (const s of sinks) {
      await s.until(() => s.seqs().length === 8, 'live')
      expect(s.seqs()).toEqual([4, 5, 6, 7, 8, 9, 10, 11])
    }
  })
})
