import { afterEach, describe, expect, it } from 'vitest'
import { epochTagOf, eventIdOf, seqOfId } from '../events/envelope.js'
import {
  createRunbus,
  memoryBackend,
  type Backend,
  type LogListener,
  type MemoryBackend,
  type Runbus,
  type RunEvent,
} from '../index.js'
import { PARKED } from './follow.js'

const open: Array<{ rb: Runbus; backend: MemoryBackend }> = []
afterEach(async () => {
  for (const { rb, backend } of open.splice(0)) {
    await rb.close()
    await backend.close()
  }
})

/**
 * A memory backend whose watch swallows one live batch in `n`, as a backend that lost its
 * place would: the cursor must find each hole and repair it from the log.
 */
function swallowingBackend(n: number): { inner: MemoryBackend; backend: MemoryBackend } {
  const inner = memoryBackend()
  const runs = Object.create(inner.runs) as Backend['runs']
  runs.watch = (run, l) => {
    let batches = 0
    return inner.runs.watch(run, {
      onEvents: (events) => {
        if (++batches % n !== 0) l.onEvents(events)
      },
    })
  }
  return { inner, backend: { ...inner, runs } as MemoryBackend }
}

/**
 * A run on a {@link swallowingBackend} (one live batch in `swallowEvery` lost), `history`
 * events already stored, and a follower from its start that has not read yet.
 */
async function followAfterHistory(
  id: string,
  history: number,
  swallowEvery: number,
  follow: { pageSize: number; bufferSize: number },
) {
  const { inner, backend } = swallowingBackend(swallowEvery)
  const rb = createRunbus({ backend, follow })
  open.push({ rb, backend: inner })
  const run = await rb.runs.create({ id })
  for (let i = 0; i < history; i++) run.emit('n', i) // history before the reader
  await run.flush()
  return { rb, run, f: rb.runs.follow(id) }
}

describe('follower', () => {
  it('a follower that does not read keeps at most bufferSize live events, then re-reads the log', async () => {
    const backend = memoryBackend()
    const rb = createRunbus({ backend, follow: { bufferSize: 10, pageSize: 50 } })
    open.push({ rb, backend })
    const run = await rb.runs.create({ id: 'slow' })
    const f = rb.runs.follow('slow')
    expect(
      (
        await (async () => {
          run.emit('n', 0)
          return f.next()
        })()
      ).value,
    ).toMatchObject({ seq: 1 })
    for (let i = 1; i <= 500; i++) {
      run.emit('n', i)
      if (i % 5 === 0) await run.flush()
    }
    await run.end()
    expect(f.stats.overflows).toBeGreaterThan(0)
    expect(rb.stats().followerOverflows).toBe(f.stats.overflows)
    const seqs: number[] = [1]
    for await (const e of f) seqs.push(e.seq)
    expect(seqs).toEqual(Array.from({ length: 502 }, (_, i) => i + 1))
    expect(backend.stats().watchers).toBe(0)
  })

  it('re-reads the log when the backend reports a gap or delivers a hole', async () => {
    const inner = memoryBackend()
    let listener: LogListener | undefined
    const runs = Object.create(inner.runs) as Backend['runs']
    // Swallow every other live batch, as a backend that lost its place would.
    runs.watch = (run, l) => {
      let n = 0
      listener = l
      return inner.runs.watch(run, {
        onEvents: (events) => {
          if (n++ % 2 === 0) l.onEvents(events)
        },
      })
    }
    const rb = createRunbus({ backend: { ...inner, runs } })
    open.push({ rb, backend: inner })
    const run = await rb.runs.create({ id: 'holes' })
    const seen: RunEvent[] = []
    const done = (async () => {
      for await (const e of rb.runs.follow('holes')) seen.push(e)
    })()
    for (let i = 0; i < 20; i++) await run.append('n', i)
    listener?.onGap?.(0)
    await run.end()
    await done
    expect(seen.map((e) => e.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1))
  })

  it('many followers share one backend watch and its batch: no per-follower copy', async () => {
    const backend = memoryBackend()
    const rb = createRunbus({ backend })
    open.push({ rb, backend })
    const run = await rb.runs.create({ id: 'fan' })
    const followers = Array.from({ length: 5 }, () => rb.runs.follow('fan', { after: 'now' }))
    const firsts = followers.map((f) => f.next())
    // Establish every follower before appending: one watch for the five.
    await Promise.all(followers.map((f) => f.ready))
    expect(backend.stats().watchers).toBe(1)
    expect(rb.stats().feeds).toBe(1)
    const e = await run.append('x', { big: 'payload' })
    const got = await Promise.all(firsts)
    for (const g of got) expect(g.value).toBe(got[0].value)
    expect(got[0].value).toMatchObject({ seq: e.seq })
    for (const f of followers) f.close()
  })
})

describe('follower batches', () => {
  it('hands the backend batch over whole to every follower, and break closes', async () => {
    const backend = memoryBackend()
    const rb = createRunbus({ backend })
    open.push({ rb, backend })
    const run = await rb.runs.create({ id: 'b' })
    const fa = rb.runs.follow('b', { after: 'now' })
    const fb = rb.runs.follow('b', { after: 'now' })
    const a = fa.batches()
    const b = fb.batches()
    const na = a.next()
    const nb = b.next()
    await Promise.all([fa.ready, fb.ready])
    expect(backend.stats().watchers).toBe(1)
    for (let i = 0; i < 5; i++) run.emit('n', i)
    await run.flush()
    const [ra, rb_] = await Promise.all([na, nb])
    expect(ra.value).toBe(rb_.value)
    expect(ra.value!.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5])
    await run.end()
    expect((await a.next()).value!.map((e) => e.type)).toEqual(['end'])
    expect((await a.next()).done).toBe(true)
    await b.return!()
    expect(backend.stats().watchers).toBe(0)
    expect(rb.stats()).toMatchObject({ followers: 0, feeds: 0 })
  })

  it('starts with the gap, then history in pages, then live', async () => {
    const backend = memoryBackend()
    const rb = createRunbus({ backend, retention: { maxEvents: 10 }, follow: { pageSize: 4 } })
    open.push({ rb, backend })
    const run = await rb.runs.create({ id: 'g' })
    for (let i = 0; i < 15; i++) run.emit('n', i)
    await run.end()
    const batches: RunEvent[][] = []
    for await (const batch of rb.runs.follow('g').batches()) batches.push([...batch])
    expect(batches.map((x) => x.map((e) => e.seq))).toEqual([
      [6],
      [7, 8, 9, 10],
      [11, 12, 13, 14],
      [15, 16],
    ])
    const tag = epochTagOf((await rb.runs.get('g')).createdAt)
    expect(batches[0][0]).toMatchObject({
      type: 'gap',
      id: eventIdOf(6, tag),
      data: { from: eventIdOf(1, tag), to: eventIdOf(6, tag) },
    })
  })

  describe('the synchronous live path (setLive)', () => {
    it('hands live batches to a parked reader at once, the same array to every reader, and ends its nextBatch on the end', async () => {
      const backend = memoryBackend()
      const rb = createRunbus({ backend })
      open.push({ rb, backend })
      const run = await rb.runs.create({ id: 'live' })
      const followers = [
        rb.runs.follow('live', { after: 'now' }),
        rb.runs.follow('live', { after: 'now' }),
      ]
      const handed: Array<Array<readonly RunEvent[]>> = [[], []]
      const pending = followers.map((f, i) => {
        f.setLive({
          wake: () => {},
          offer: (events) => {
            handed[i].push(events)
            return true
          },
        })
        return f.nextBatch()
      })
      await Promise.all(followers.map((f) => f.ready))
      await new Promise((r) => setImmediate(r)) // both parked in nextBatch
      for (let i = 0; i < 5; i++) run.emit('n', i)
      const stored = await run.appendMany([{ type: 'n', data: 5 }])
      // Handed over during the append itself, before it resolved: no queue, no wake-up.
      expect(stored[0].seq).toBe(6)
      expect(handed[0].flat().map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6])
      expect(handed[0][0]).toBe(handed[1][0])
      expect(followers[0].stats.delivered).toBe(6)
      expect(followers[0].position).toBe(6)
      await run.end()
      for (const p of pending) expect((await p).done).toBe(true)
      expect(
        handed[1]
          .flat()
          .map((e) => e.type)
          .at(-1),
      ).toBe('end')
      expect(rb.stats()).toMatchObject({ followers: 0, feeds: 0 })
    })

    it('never hands over a batch while an earlier one is on its way to the reader', async () => {
      const backend = memoryBackend()
      const rb = createRunbus({ backend })
      open.push({ rb, backend })
      await rb.runs.create({ id: 'order' })
      const f = rb.runs.follow('order', { after: 'now' })
      await f.ready
      const seqs: number[] = []
      let refuse = true
      f.setLive({
        wake: () => {},
        offer: (events) => {
          if (refuse) {
            refuse = false
            return false
          }
          for (const e of events) seqs.push(e.seq)
          return true
        },
      })
      const draft = (i: number) => ({ type: 'n', data: i, json: String(i), ts: Date.now() })
      const first = f.nextBatch()
      // Appended once nextBatch resolved with seq 1 and before its reader ran: seq 2 must wait
      // for the reader's next call, not overtake seq 1 through the live path.
      const racing = first.then(() => backend.runs.append('order', [draft(2)]))
      await new Promise((r) => setImmediate(r)) // parked
      await backend.runs.append('order', [draft(1)]) // refused: it wakes the reader
      for (let r = await first; ; r = await f.nextBatch()) {
        for (const e of r.value!) seqs.push(e.seq)
        if (seqs.length >= 2) break
      }
      await racing
      expect(seqs).toEqual([1, 2])
      f.close()
    })

    it('refusals, holes and history mix with nextBatch into every seq exactly once, in order', async () => {
      // Swallow one live batch in seven, as a backend that lost its place would.
      const { rb, run, f } = await followAfterHistory('mix', 50, 7, {
        pageSize: 16,
        bufferSize: 40,
      })
      const seqs: number[] = []
      let calls = 0
      let viaLive = 0
      f.setLive({
        wake: () => {},
        offer: (events) => {
          // Refuse one offer in three, as a full socket would.
          if (++calls % 3 === 0) return false
          viaLive += events.length
          for (const e of events) seqs.push(e.seq)
          return true
        },
      })
      const reading = (async () => {
        for (;;) {
          const r = await f.nextBatch()
          if (r.done) return
          for (const e of r.value) seqs.push(e.seq)
          // Sometimes a slow reader: the buffer may overflow into a re-read.
          if (seqs.length % 5 === 0) await new Promise((res) => setImmediate(res))
        }
      })()
      for (let burst = 0; burst < 60; burst++) {
        for (let i = 0; i < 1 + (burst % 9); i++) run.emit('n', burst)
        await (burst % 2 === 0 ? run.flush() : new Promise((res) => setImmediate(res)))
      }
      await run.end()
      await reading
      const last = (await rb.runs.tail('mix'))!
      expect(seqOfId(last)).toBeGreaterThan(50)
      expect(seqs).toEqual(Array.from({ length: seqOfId(last)! }, (_, i) => i + 1))
      expect(viaLive).toBeGreaterThan(0)
      expect(viaLive).toBeLessThan(seqs.length)
      expect(f.stats.delivered).toBe(seqs.length)
    })

    it('pull() and wake(): a consumer with no promise while parked gets every seq once, in order', async () => {
      // Swallow one live batch in five: holes the cursor repairs from the log.
      const { rb, run, f } = await followAfterHistory('pull', 20, 5, {
        pageSize: 8,
        bufferSize: 30,
      })
      const seqs: number[] = []
      let parks = 0
      let wakes = 0
      let calls = 0
      let finished!: () => void
      const done = new Promise<void>((res) => (finished = res))
      const pump = (): void => {
        for (;;) {
          const r = f.pull()
          if (r === PARKED) {
            parks++
            return
          }
          if (r === null) return finished()
          if (r instanceof Promise) {
            void r.then(pump, (err: unknown) => {
              f.pullFailed(err)
              pump()
            })
            return
          }
          for (const e of r) seqs.push(e.seq)
        }
      }
      f.setLive({
        wake: () => {
          wakes++
          queueMicrotask(pump)
        },
        offer: (events) => {
          if (++calls % 3 === 0) return false // as a full socket would
          for (const e of events) seqs.push(e.seq)
          return true
        },
      })
      pump()
      for (let burst = 0; burst < 40; burst++) {
        for (let i = 0; i < 1 + (burst % 7); i++) run.emit('n', burst)
        await (burst % 2 === 0 ? run.flush() : new Promise((res) => setImmediate(res)))
      }
      await run.end()
      await done
      const last = seqOfId((await rb.runs.tail('pull'))!)!
      expect(seqs).toEqual(Array.from({ length: last }, (_, i) => i + 1))
      expect(f.stats.delivered).toBe(last)
      expect(parks).toBeGreaterThan(0)
      // Every park was ended by exactly one wake, the last one by the end.
      expect(wakes).toBe(parks)
    })

    it('pull() throws the failure once, then answers null', async () => {
      const backend = memoryBackend()
      const rb = createRunbus({ backend })
      open.push({ rb, backend })
      await rb.runs.create({ id: 'pf' })
      const f = rb.runs.follow('pf', { after: 'now' })
      await f.ready
      let woken = 0
      f.setLive({ wake: () => void woken++, offer: () => true })
      let r = f.pull()
      while (r instanceof Promise) r = (await r, f.pull()) // the first read of the log
      expect(r).toBe(PARKED)
      f.closeWith(new Error('boom'))
      expect(woken).toBe(1)
      expect(() => f.pull()).toThrow('boom')
      expect(f.pull()).toBeNull()
      await f.closed
    })
  })
})
