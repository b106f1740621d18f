import { afterEach, describe, expect, it } from 'vitest'
import { epochTagOf, eventIdOf } from '../events/envelope.js'
import {
  createRunbus,
  memoryBackend,
  type Backend,
  type LogListener,
  type MemoryBackend,
  type Runbus,
  type RunEvent,
} from '../index.js'

const open: Array<{ rb: Runbus; backend: MemoryBackend }> = []
afterEach(async () => {
  for (const { rb, backend } of open.splice(0)) {
    await rb.close()
    await backend.close()
  }
})

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
})
