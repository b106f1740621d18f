import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { epochTagOf, eventIdOf, type RunEvent } from '../../src/events/envelope.js'
import {
  RunEndedError,
  RunExistsError,
  RunNotFoundError,
  DecodeError,
} from '../../src/events/errors.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { freshBackend, useRedis, runbusConnections } from './helpers.js'
import { until } from '../helpers/wait.js'
import { draft } from '../helpers/draft.js'

describe.skipIf(!redisAvailable())('redis run log', () => {
  const fixture = useRedis()
  const backend = fixture.backend
  let redis: TestRedis
  beforeAll(() => {
    redis = fixture.redis
  })

  it('trims the inbox to maxInboxMessages (not maxEvents)', async () => {
    const b = backend()
    await b.runs.createRun({ id: 'ibx', maxEvents: 100, maxInboxMessages: 3, ts: 1 })
    for (let i = 1; i <= 5; i++) await b.runs.sendInbox('ibx', draft('m', i))
    const kept = await b.runs.readInbox('ibx', 0, 100)
    expect(kept.map((m) => [m.seq, m.data])).toEqual([
      [3, 3],
      [4, 4],
      [5, 5],
    ])
  })

  it('creates, appends with consecutive seqs, reads, ends once', async () => {
    const b = backend()
    const info = await b.runs.createRun({ id: 'r1', maxEvents: 100, ts: 1000, meta: { a: 1 } })
    expect(info).toMatchObject({ id: 'r1', status: 'running', lastSeq: 0, firstSeq: 1, trimmed: 0 })
    await expect(b.runs.createRun({ id: 'r1', maxEvents: 100, ts: 1 })).rejects.toBeInstanceOf(
      RunExistsError,
    )
    const evs = await b.runs.append('r1', [draft('a', 1), draft('b', { x: 'y' })])
    // Ids carry the run's incarnation (its createdAt, 1000).
    const tag = epochTagOf(1000)
    expect(evs.map((e) => [e.id, e.seq, e.type])).toEqual([
      [eventIdOf(1, tag), 1, 'a'],
      [eventIdOf(2, tag), 2, 'b'],
    ])
    const page = await b.runs.read('r1', 0, 10)
    expect(page.events.map((e) => e.data)).toEqual([1, { x: 'y' }])
    expect(page.events.map((e) => e.id)).toEqual(evs.map((e) => e.id))
    expect(page).toMatchObject({ firstSeq: 1, lastSeq: 2, ended: false, epoch: 1000 })
    const end = await b.runs.endRun('r1', { status: 'completed' }, 2000, 60_000)
    expect(end).toMatchObject({ seq: 3, type: 'end', id: eventIdOf(3, tag) })
    await expect(b.runs.append('r1', [draft('c', 1)])).rejects.toBeInstanceOf(RunEndedError)
    await expect(b.runs.endRun('r1', { status: 'failed' }, 1, 1)).rejects.toBeInstanceOf(
      RunEndedError,
    )
    const got = await b.runs.getRun('r1')
    expect(got).toMatchObject({ status: 'completed', endedAt: 2000, lastSeq: 3, meta: { a: 1 } })
    expect((await b.runs.read('r1', 2, 10)).ended).toBe(true)
    await expect(b.runs.append('nope', [draft('a', 1)])).rejects.toBeInstanceOf(RunNotFoundError)
    await expect(b.runs.read('nope', 0, 1)).rejects.toBeInstanceOf(RunNotFoundError)
    expect(await b.runs.getRun('nope')).toBeUndefined()
  })

  it('trims to maxEvents and counts it exactly', async () => {
    const b = backend()
    await b.runs.createRun({ id: 't', maxEvents: 5, ts: 1 })
    for (let i = 0; i < 4; i++) await b.runs.append('t', [draft('x', i), draft('x', i)])
    const info = await b.runs.getRun('t')
    expect(info).toMatchObject({ lastSeq: 8, firstSeq: 4, trimmed: 3 })
    const page = await b.runs.read('t', 0, 100)
    expect(page.firstSeq).toBe(4)
    expect(page.events.map((e) => e.seq)).toEqual([4, 5, 6, 7, 8])
  })

  it('expires an ended run after its ttl, whole', async () => {
    const b = backend()
    await b.runs.createRun({ id: 'e', maxEvents: 5, ts: 1 })
    await b.runs.append('e', [draft('x', 1)])
    await b.runs.sendInbox('e', draft('steer', 'hi'))
    await b.runs.endRun('e', { status: 'failed', error: 'boom' }, 5, 50)
    await until(async () => (await b.runs.getRun('e')) === undefined, 'run expired')
    await expect(b.runs.read('e', 0, 10)).rejects.toBeInstanceOf(RunNotFoundError)
    expect(await b.runs.listRuns({ limit: 10 })).toEqual([])
  })

  it('lists newest first, filters by status, skips expired', async () => {
    const b = backend()
    for (const id of ['a', 'b', 'c', 'd']) await b.runs.createRun({ id, maxEvents: 10, ts: 1 })
    await b.runs.endRun('b', { status: 'completed' }, 2, 60_000)
    expect((await b.runs.listRuns({ limit: 10 })).map((r) => r.id)).toEqual(['d', 'c', 'b', 'a'])
    expect((await b.runs.listRuns({ limit: 2 })).map((r) => r.id)).toEqual(['d', 'c'])
    expect((await b.runs.listRuns({ status: 'completed', limit: 10 })).map((r) => r.id)).toEqual([
      'b',
    ])
    expect((await b.runs.listRuns({ status: 'running', limit: 2 })).map((r) => r.id)).toEqual([
      'd',
      'c',
    ])
  })

  it('inbox: own seq, read, watch', async () => {
    const b = backend()
    await b.runs.createRun({ id: 'i', maxEvents: 10, ts: 1 })
    await b.runs.append('i', [draft('x', 1)])
    const m1 = await b.runs.sendInbox('i', draft('steer', 'a'))
    expect(m1).toMatchObject({ seq: 1, id: '1', type: 'steer', data: 'a' })
    const seen: number[] = []
    const stop = await b.runs.watchInbox('i', {
      onMessages: (ms) => seen.push(...ms.map((m) => m.seq)),
    })
    await b.runs.sendInbox('i', draft('steer', 'b'))
    await until(() => seen.includes(2), 'inbox message 2')
    expect(seen).toEqual([2])
    stop()
    expect((await b.runs.readInbox('i', 0, 10)).map((m) => m.data)).toEqual(['a', 'b'])
    await b.runs.endRun('i', { status: 'completed' }, 1, 60_000)
    await expect(b.runs.sendInbox('i', draft('steer', 'c'))).rejects.toBeInstanceOf(RunEndedError)
  })

  it('watch delivers everything appended after it resolved, in order, once', async () => {
    const b = backend()
    await b.runs.createRun({ id: 'w', maxEvents: 100_000, ts: 1 })
    await b.runs.append('w', [draft('before', 0)])
    const got: RunEvent[] = []
    const unwatch = await b.runs.watch('w', { onEvents: (e) => got.push(...e) })
    for (let i = 0; i < 50; i++) await b.runs.append('w', [draft('x', i), draft('x', i)])
    await until(() => got.length >= 100, '100 events')
    expect(got.map((e) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2))
    unwatch()
    unwatch()
  })

  it('one reader connection serves many watched runs, and close releases every connection', async () => {
    const before = runbusConnections(redis).length
    const b = freshBackend(redis)
    const n = 50
    const got = new Map<string, number[]>()
    const stops = []
    for (let i = 0; i < n; i++) {
      const id = `m${i}`
      await b.runs.createRun({ id, maxEvents: 100, ts: 1 })
      got.set(id, [])
      stops.push(
        await b.runs.watch(id, { onEvents: (es) => got.get(id)!.push(...es.map((e) => e.seq)) }),
      )
    }
    await Promise.all(
      [...got.keys()].map((id) => b.runs.append(id, [draft('x', 1), draft('y', 2)])),
    )
    await until(() => [...got.values()].every((s) => s.length === 2), 'all runs delivered')
    for (const s of got.values()) expect(s).toEqual([1, 2])
    // command + reader: two connections, whatever the number of watched runs
    expect(runbusConnections(redis).length - before).toBe(2)
    await b.close()
    await until(() => runbusConnections(redis).length === before, 'connections released')
  })

  it('a watch added while the reader blocks is served at once (the reader is woken)', async () => {
    const b = backend({ blockMs: 60_000 })
    await b.runs.createRun({ id: 'a', maxEvents: 100, ts: 1 })
    await b.runs.createRun({ id: 'b', maxEvents: 100, ts: 1 })
    const a: number[] = []
    await b.runs.watch('a', { onEvents: (e) => a.push(...e.map((x) => x.seq)) })
    await until(() => b.readerStats.reads >= 1, 'reader blocking')
    const bs: number[] = []
    await b.runs.watch('b', { onEvents: (e) => bs.push(...e.map((x) => x.seq)) })
    const t0 = Date.now()
    await b.runs.append('b', [draft('x', 1)])
    await until(() => bs.length === 1, 'event on b', 5000)
    expect(Date.now() - t0).toBeLessThan(2000)
  })

  it('reports a malformed entry written by hand and keeps delivering after it', async () => {
    const b = backend()
    await b.runs.createRun({ id: 'bad', maxEvents: 100, ts: 1 })
    const got: number[] = []
    const errors: Error[] = []
    await b.runs.watch('bad', {
      onEvents: (e) => got.push(...e.map((x) => x.seq)),
      onError: (err) => errors.push(err),
    })
    await b.runs.append('bad', [draft('x', 1)])
    redis.cli('XADD', `${b.prefix}:{bad}:log`, '1-1', 'junk', 'yes')
    redis.cli('XADD', `${b.prefix}:{bad}:log`, '1-2', 't', 'x', 'd', '{not json', 'ts', '1')
    await b.runs.append('bad', [draft('x', 2)])
    await until(() => got.length === 2 && errors.length === 2, 'events and errors')
    expect(got).toEqual([1, 2])
    expect(errors.every((e) => e instanceof DecodeError)).toBe(true)
    expect(b.readerStats.decodeErrors).toBe(2)
    // a history read skips them too
    expect((await b.runs.read('bad', 0, 10)).events.map((e) => e.seq)).toEqual([1, 2])
  })
})

describe.skipIf(!redisAvailable())('redis run log without CLIENT ID/UNBLOCK (ACL)', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await startRedis()
    redis.cli(
      'ACL',
      'SETUSER',
      'limited',
      'on',
      '>pw',
      '~*',
      '&*',
      '+@all',
      '-client|id',
      '-client|unblock',
    )
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('still follows (a new watch waits for the next read instead of waking the reader)', async () => {
    const b = freshBackend(redis, {
      url: `redis://limited:pw@127.0.0.1:${redis.port}`,
      blockMs: 200,
    })
    try {
      await b.runs.createRun({ id: 'a', maxEvents: 100, ts: 1 })
      await b.runs.createRun({ id: 'b', maxEvents: 100, ts: 1 })
      const got: string[] = []
      await b.runs.watch('a', { onEvents: (e) => got.push(...e.map((x) => `a${x.seq}`)) })
      await b.runs.watch('b', { onEvents: (e) => got.push(...e.map((x) => `b${x.seq}`)) })
      await b.runs.append('a', [draft('x', 1)])
      await b.runs.append('b', [draft('x', 1)])
      await until(() => got.length === 2, 'both events')
      expect(got.sort()).toEqual(['a1', 'b1'])
      expect(b.readerStats.reconnects).toBe(0)
    } finally {
      await b.close()
    }
  })
})
