/**
 * The conformance suite: the behaviour of runs, bus and asks, stated through the public
 * API (`createRunbus({ backend })`), run against every backend. A backend is done when this
 * passes on it unchanged.
 *
 * Rules for tests here: no backend internals; fresh ids per test; no fixed sleeps (await
 * promises, or poll a real condition with `until`); every instance is closed.
 */
import { afterEach, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { z } from 'zod'
import * as v from 'valibot'
import { type } from 'arktype'
import {
  AskAnsweredError,
  AskExpiredError,
  AskNotFoundError,
  AskTimeoutError,
  BackendUnavailableError,
  ClosedError,
  InterruptedError,
  InvalidArgumentError,
  PayloadTooLargeError,
  RunEndedError,
  RunExistsError,
  RunNotFoundError,
  RunResetError,
  TimeoutError,
  ValidationError,
  createRunbus,
  type Backend,
  type BusMessage,
  type Runbus,
  type RunbusOptions,
  type RunEvent,
} from '../../src/index.js'
import { brief, collect, freshId, idAt, until } from './helpers.js'

/** A process other than the test's, appending to runs by id on the same backend. */
export interface RemoteAppender {
  /** Appends one event of `type` to `runId` from the other process; resolves with its id. */
  append(runId: string, type: string): Promise<string>
  close(): Promise<void>
}

/** What a backend factory returns. */
export interface ConformanceBackend {
  backend: Backend
  cleanup?: () => Promise<void>
  /** Starts another process on the same backend (networked backends only). */
  remote?: () => Promise<RemoteAppender>
}

/**
 * How many times the position tests are declared (`RUNBUS_REPEAT=200` for the race runs on
 * Cluster: each repetition is its own test, so the count of passes is the count reported).
 */
const REPEAT = Math.max(1, Number(process.env.RUNBUS_REPEAT ?? 1) || 1)

function repeated(name: string, fn: () => Promise<void>, timeout?: number): void {
  for (let i = 1; i <= REPEAT; i++) it(REPEAT > 1 ? `${name} #${i}` : name, fn, timeout)
}

/** Which parts to run. */
export type ConformancePart = 'runs' | 'bus' | 'asks'

/**
 * Declares the conformance tests for one backend.
 *
 * @example
 * ```ts
 * runConformance('memory', async () => ({ backend: memoryBackend() }))
 * ```
 */
export function runConformance(
  name: string,
  factory: () => Promise<ConformanceBackend>,
  opts: { parts?: ConformancePart[]; remote?: boolean } = {},
): void {
  const parts = new Set(opts.parts ?? ['runs', 'bus', 'asks'])
  const cleanups: Array<() => Promise<void>> = []

  /** A backend plus one runbus instance on it (more with `another`). */
  async function setup(options: Omit<RunbusOptions, 'backend'> = {}): Promise<{
    rb: Runbus
    backend: Backend
    another: (o?: Omit<RunbusOptions, 'backend'>) => Runbus
    remote: (() => Promise<RemoteAppender>) | undefined
  }> {
    const made = await factory()
    const instances: Runbus[] = []
    cleanups.push(async () => {
      for (const i of instances) await i.close()
      await made.backend.close()
      await made.cleanup?.()
    })
    const another = (o: Omit<RunbusOptions, 'backend'> = options): Runbus => {
      const rb = createRunbus({ ...o, backend: made.backend })
      instances.push(rb)
      return rb
    }
    const remote =
      made.remote === undefined
        ? undefined
        : async (): Promise<RemoteAppender> => {
            const r = await made.remote!()
            cleanups.push(() => r.close())
            return r
          }
    return { rb: another(options), backend: made.backend, another, remote }
  }

  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!()
  })

  describe(`conformance: ${name}`, () => {
    if (parts.has('runs')) describeRuns()
    if (parts.has('runs')) describePositions()
    if (parts.has('bus')) describeBus()
    if (parts.has('asks')) describeAsks()
  })

  function describeRuns(): void {
    describe('runs', () => {
      it('creates, gets and lists runs; ids are checked; duplicates refused', async () => {
        const { rb } = await setup()
        const id = freshId()
        const run = await rb.runs.create({ id, meta: { user: 'ada' } })
        expect(run.id).toBe(id)
        const info = await rb.runs.get(id)
        expect(info).toMatchObject({
          id,
          status: 'running',
          meta: { user: 'ada' },
          events: 0,
          lastId: undefined,
        })
        await expect(rb.runs.create({ id })).rejects.toBeInstanceOf(RunExistsError)
        await expect(rb.runs.create({ id: 'bad id{}' })).rejects.toBeInstanceOf(
          InvalidArgumentError,
        )
        await expect(rb.runs.get(freshId())).rejects.toBeInstanceOf(RunNotFoundError)
        const generated = await rb.runs.create()
        expect(generated.id).toMatch(/^run_/)
        const running = await rb.runs.list({ status: 'running' })
        expect(running.map((r) => r.id)).toEqual(expect.arrayContaining([id, generated.id]))
        await generated.end({ status: 'cancelled' })
        const cancelled = await rb.runs.list({ status: 'cancelled' })
        expect(cancelled.map((r) => r.id)).toContain(generated.id)
        expect((await rb.runs.list({ status: 'running' })).map((r) => r.id)).not.toContain(
          generated.id,
        )
      })

      it('emit is ordered and batched; flush stores; append returns the envelope', async () => {
        const { rb } = await setup()
        const run = await rb.runs.create({ id: freshId() })
        for (let i = 0; i < 250; i++) run.emit('n', i)
        const e = await run.append('mark', { x: 1 })
        expect(e).toMatchObject({ run: run.id, seq: 251, type: 'mark', data: { x: 1 } })
        expect(typeof e.id).toBe('string')
        run.text('hello')
        run.thinking('hmm')
        const call = run.toolCall('search', { q: 'x' })
        run.toolResult(call, [1, 2])
        run.status('working')
        run.error(new Error('oops'))
        await run.flush()
        const page = await rb.runs.read(run.id, { limit: 1000 })
        expect(page.events.map((x) => x.seq)).toEqual(Array.from({ length: 257 }, (_, i) => i + 1))
        expect(page.events.slice(0, 250).map((x) => x.data)).toEqual(
          Array.from({ length: 250 }, (_, i) => i),
        )
        expect(brief(page.events.slice(251))).toEqual([
          [252, 'text'],
          [253, 'thinking'],
          [254, 'tool_call'],
          [255, 'tool_result'],
          [256, 'status'],
          [257, 'error'],
        ])
        expect(page.events[253].data).toEqual({ id: call, name: 'search', args: { q: 'x' } })
        expect(page.events[256].data).toMatchObject({ message: 'oops' })
        // ids are strictly increasing (opaque, compared through the order they came in)
        const ids = page.events.map((x) => x.id)
        expect(new Set(ids).size).toBe(ids.length)
        expect((await rb.runs.get(run.id)).lastId).toBe(ids[ids.length - 1])
        expect(run.stats).toMatchObject({ emitted: 257, stored: 257, pending: 0, failures: 0 })
      })

      it('data travels as JSON: identical on every backend', async () => {
        const { rb } = await setup()
        const run = await rb.runs.create({ id: freshId() })
        const live = { a: 1, u: undefined, d: new Date(0), nested: [1, 'x', null] }
        const e = await run.append('j', live)
        live.a = 2
        expect(e.data).toEqual({ a: 1, d: '1970-01-01T00:00:00.000Z', nested: [1, 'x', null] })
        const [stored] = (await rb.runs.read(run.id)).events
        expect(stored.data).toEqual(e.data)
        run.emit('nothing')
        await run.flush()
        expect((await rb.runs.read(run.id)).events[1].data).toBeNull()
      })

      it('refuses reserved types, bad types and oversized payloads at once', async () => {
        const { rb } = await setup({ limits: { maxPayloadBytes: 1000 } })
        const run = await rb.runs.create({ id: freshId() })
        for (const t of ['end', 'gap', 'ask', 'answer', 'ask_expired', '']) {
          expect(() => run.emit(t, 1)).toThrow(InvalidArgumentError)
        }
        let caught: unknown
        try {
          run.emit('big', 'é'.repeat(600))
        } catch (err) {
          caught = err
        }
        expect(caught).toBeInstanceOf(PayloadTooLargeError)
        expect(caught).toMatchObject({ code: 'payload_too_large', size: 1202, limit: 1000 })
        run.emit('fits', 'x'.repeat(998)) // '"' + 998 + '"' = 1000 bytes exactly
        await expect(run.append('big', 'x'.repeat(999))).rejects.toBeInstanceOf(
          PayloadTooLargeError,
        )
        await run.flush()
        expect(brief((await rb.runs.read(run.id)).events)).toEqual([[1, 'fits']])
      })

      it('ends once; nothing is appended after the end, from any instance', async () => {
        const { rb, another } = await setup()
        const rb2 = another()
        const run = await rb.runs.create({ id: freshId() })
        const other = await rb2.runs.open(run.id)
        run.text('a')
        const end = await run.end({ status: 'failed', error: new Error('boom') })
        expect(end).toMatchObject({
          type: 'end',
          seq: 2,
          data: { status: 'failed', error: 'boom' },
        })
        // After end, emits are refused without a throw (counted); run.signal says why.
        expect(() => run.emit('x')).not.toThrow()
        expect(run.stats.refused).toBe(1)
        expect(run.signal.reason).toBeInstanceOf(RunEndedError)
        await expect(run.end()).rejects.toBeInstanceOf(RunEndedError)
        await expect(other.append('x')).rejects.toBeInstanceOf(RunEndedError)
        await expect(rb2.runs.open(run.id)).rejects.toBeInstanceOf(RunEndedError)
        const info = await rb.runs.get(run.id)
        expect(info).toMatchObject({ status: 'failed', error: 'boom', events: 2 })
        expect(typeof info.endedAt).toBe('number')
      })

      it('follows from the start: history, then live, then the end', async () => {
        const { rb } = await setup()
        const run = await rb.runs.create({ id: freshId() })
        run.emit('a', 1)
        run.emit('b', 2)
        await run.flush()
        const follower = rb.runs.follow(run.id)
        const seen: RunEvent[] = []
        const done = (async () => {
          for await (const e of follower) {
            seen.push(e)
            if (e.seq === 2) {
              run.emit('c', 3)
              void run.end()
            }
          }
        })()
        await done
        expect(brief(seen)).toEqual([
          [1, 'a'],
          [2, 'b'],
          [3, 'c'],
          [4, 'end'],
        ])
        await follower.closed
        expect(rb.stats().followers).toBe(0)
      })

      it('a follower arriving after the end gets the history and the end, never waits', async () => {
        const { rb } = await setup()
        const run = await rb.runs.create({ id: freshId() })
        run.text('x')
        const end = await run.end()
        expect(brief(await collect(rb.runs.follow(run.id)))).toEqual([
          [1, 'text'],
          [2, 'end'],
        ])
        expect(brief(await collect(rb.runs.follow(run.id, { after: 'now' })))).toEqual([[2, 'end']])
        expect(await collect(rb.runs.follow(run.id, { after: end.id }))).toEqual([])
      })

      repeated("follows after an id and from 'now'", async () => {
        const { rb } = await setup()
        const run = await rb.runs.create({ id: freshId() })
        const first = await run.append('a')
        await run.append('b')
        const fromId = rb.runs.follow(run.id, { after: first.id })
        const fromNow = rb.runs.follow(run.id, { after: 'now' })
        const p1 = fromId.next()
        expect((await p1).value).toMatchObject({ seq: 2 })
        const p2 = fromNow.next()
        // 'now' is fixed when `ready` resolves (FollowOptions, Follower.ready): an append made
        // before that may land before 'now' and never be delivered. Calling next() fixes
        // nothing by itself; on Postgres, one CI run in three appended 'c' before the
        // follower had read the end of the log, and p2 waited for an event already behind it.
        await fromNow.ready
        await run.append('c')
        expect((await p2).value).toMatchObject({ seq: 3, type: 'c' })
        await run.end()
        expect(brief(await collect(fromId))).toEqual([
          [3, 'c'],
          [4, 'end'],
        ])
        expect(brief(await collect(fromNow))).toEqual([[4, 'end']])
        expect(() => rb.runs.follow(run.id, { after: 'not-an-id' })).toThrow(InvalidArgumentError)
      })

      it('following an unknown run fails with RunNotFoundError and releases', async () => {
        const { rb } = await setup()
        await expect(collect(rb.runs.follow(freshId()))).rejects.toBeInstanceOf(RunNotFoundError)
        await expect(collect(rb.runs.follow(freshId(), { after: 'now' }))).rejects.toBeInstanceOf(
          RunNotFoundError,
        )
        expect(rb.stats().followers).toBe(0)
      })

      it('trims to maxEvents (counted) and reports trimmed history as a gap', async () => {
        const { rb } = await setup({ retention: { maxEvents: 5 } })
        const run = await rb.runs.create({ id: freshId() })
        for (let i = 1; i <= 20; i++) run.emit('n', i)
        await run.flush()
        const info = await rb.runs.get(run.id)
        expect(info).toMatchObject({ events: 20, trimmed: 15 })
        const page = await rb.runs.read(run.id)
        expect(page.events.map((e) => e.seq)).toEqual([16, 17, 18, 19, 20])
        const trimmed = { from: await idAt(rb, run.id, 1), to: await idAt(rb, run.id, 15) }
        expect(page.gap).toEqual(trimmed)
        const f = rb.runs.follow(run.id)
        const gap = (await f.next()).value as RunEvent
        expect(gap.type).toBe('gap')
        expect(gap.data).toEqual(trimmed)
        expect(((await f.next()).value as RunEvent).seq).toBe(16)
        f.close()
        await run.end() // 21 events, 17..21 retained
        const all = await collect(rb.runs.follow(run.id))
        expect(brief(all)).toEqual([
          [16, 'gap'],
          [17, 'n'],
          [18, 'n'],
          [19, 'n'],
          [20, 'n'],
          [21, 'end'],
        ])
        expect(all[0].data).toEqual({
          from: await idAt(rb, run.id, 1),
          to: await idAt(rb, run.id, 16),
        })
        // Resuming after the gap's id continues right after it, with no second gap.
        const resumed = await collect(rb.runs.follow(run.id, { after: all[0].id }))
        expect(resumed.map((e) => e.seq)).toEqual([17, 18, 19, 20, 21])
        // Starting inside the retained window: no gap.
        const inside = await collect(rb.runs.follow(run.id, { after: resumed[1].id }))
        expect(inside.map((e) => e.seq)).toEqual([19, 20, 21])
        expect(rb.stats().gaps).toBe(2)
      })

      it('an ended run disappears after its TTL', async () => {
        const { rb } = await setup({ retention: { ttlMs: 30 } })
        const run = await rb.runs.create({ id: freshId() })
        await run.end()
        await until(
          async () => {
            try {
              await rb.runs.get(run.id)
              return false
            } catch (err) {
              return err instanceof RunNotFoundError
            }
          },
          10_000,
          'the run to expire',
        )
        await expect(rb.runs.read(run.id)).rejects.toBeInstanceOf(RunNotFoundError)
      })

      it('break, close() and abort release the follower', async () => {
        const { rb } = await setup()
        const run = await rb.runs.create({ id: freshId() })
        await run.append('a')
        for await (const e of rb.runs.follow(run.id)) {
          expect(e.seq).toBe(1)
          break
        }
        expect(rb.stats().followers).toBe(0)

        const f = rb.runs.follow(run.id)
        await f.next()
        const pending = f.next()
        f.close()
        expect(await pending).toEqual({ done: true, value: undefined })
        expect(rb.stats().followers).toBe(0)

        const ac = new AbortController()
        const g = rb.runs.follow(run.id, { signal: ac.signal })
        await g.next()
        const waiting = g.next()
        const reason = new Error('stop')
        ac.abort(reason)
        await expect(waiting).rejects.toBe(reason)
        await g.closed
        expect(rb.stats().followers).toBe(0)

        {
          await using h = rb.runs.follow(run.id)
          await h.next()
          expect(rb.stats().followers).toBe(1)
        }
        expect(rb.stats().followers).toBe(0)
      })

      it('close() ends followers with ClosedError and refuses new work', async () => {
        const { rb } = await setup()
        const run = await rb.runs.create({ id: freshId() })
        const f = rb.runs.follow(run.id)
        const waiting = f.next()
        const waitingFails = expect(waiting).rejects.toBeInstanceOf(ClosedError)
        await until(() => rb.stats().followers === 1)
        await rb.close()
        await waitingFails
        expect(rb.stats()).toMatchObject({ followers: 0, inboxes: 0, runs: 0 })
        await expect(rb.runs.create()).rejects.toBeInstanceOf(ClosedError)
        expect(() => rb.runs.follow(run.id)).toThrow(ClosedError)
      })

      it('inbox: keeps at most retention.maxInboxMessages, oldest trimmed; by-id reads see what is kept', async () => {
        const { rb } = await setup({ retention: { maxInboxMessages: 3 } })
        const { id } = await rb.runs.add({ id: freshId() })
        const before = rb.stats().inboxTrimmed
        for (let i = 1; i <= 5; i++) await rb.runs.send(id, { type: 'm', data: i })
        const kept = await rb.runs.readInbox(id)
        expect(kept.map((m) => [m.seq, m.data])).toEqual([
          [3, 3],
          [4, 4],
          [5, 5],
        ])
        // Nothing lost silently: the two messages trimmed are counted.
        expect(rb.stats().inboxTrimmed - before).toBe(2)
      })

      it('inbox: messages in order; interrupt aborts run.signal, from another instance too', async () => {
        const { rb, another } = await setup()
        const rb2 = another()
        const run = await rb.runs.create({ id: freshId() })
        await rb.runs.send(run.id, { type: 'steer', data: { go: 'left' } })
        await rb2.runs.send(run.id, { type: 'steer', data: { go: 'right' } })
        const it = run.inbox[Symbol.asyncIterator]()
        expect((await it.next()).value).toMatchObject({
          type: 'steer',
          data: { go: 'left' },
          seq: 1,
        })
        expect((await it.next()).value).toMatchObject({
          type: 'steer',
          data: { go: 'right' },
          seq: 2,
        })
        expect(run.signal.aborted).toBe(false)
        const aborted = new Promise<unknown>((resolve) =>
          run.signal.addEventListener('abort', () => resolve(run.signal.reason), { once: true }),
        )
        await rb2.runs.send(run.id, { type: 'interrupt', data: { why: 'user' } })
        const reason = await aborted
        expect(reason).toBeInstanceOf(InterruptedError)
        expect(reason).toMatchObject({ code: 'interrupted', data: { why: 'user' } })
        expect((await it.next()).value).toMatchObject({ type: 'interrupt' })
        await expect(rb.runs.send(freshId(), { type: 'x' })).rejects.toBeInstanceOf(
          RunNotFoundError,
        )
        await run.end({ status: 'cancelled' })
        expect(await it.next()).toMatchObject({ done: true })
        await expect(rb.runs.send(run.id, { type: 'x' })).rejects.toBeInstanceOf(RunEndedError)
        expect(rb.stats().inboxes).toBe(0)
      })

      it('two instances on one backend: one writes, the other follows', async () => {
        const { rb, another } = await setup()
        const reader = another()
        const run = await rb.runs.create({ id: freshId() })
        run.emit('a', 1)
        await run.flush()
        const seen = collect(reader.runs.follow(run.id))
        for (let i = 0; i < 50; i++) run.emit('n', i)
        await run.end()
        expect((await seen).map((e) => e.seq)).toEqual(Array.from({ length: 52 }, (_, i) => i + 1))
      })

      it('two instances on separate backends never see each other', async () => {
        const { rb } = await setup()
        const { rb: other } = await setup()
        const id = freshId()
        await rb.runs.create({ id })
        await expect(other.runs.get(id)).rejects.toBeInstanceOf(RunNotFoundError)
        await other.runs.create({ id })
      })

      it('property: followers started at random points see exactly their range, once, in order', async () => {
        const op = fc.oneof(
          fc.record({ kind: fc.constant('emit' as const), n: fc.integer({ min: 1, max: 30 }) }),
          fc.record({ kind: fc.constant('append' as const) }),
          fc.record({ kind: fc.constant('yield' as const) }),
          fc.record({
            kind: fc.constant('follow' as const),
            from: fc.oneof(
              fc.constant('start' as const),
              fc.constant('now' as const),
              fc.nat({ max: 200 }),
            ),
          }),
        )
        await fc.assert(
          fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
            const { rb, another } = await setup({ follow: { pageSize: 7, bufferSize: 16 } })
            const reader = another({ follow: { pageSize: 7, bufferSize: 16 } })
            const run = await rb.runs.create({ id: freshId() })
            let emitted = 0
            const followers: Array<{
              from: 'start' | 'now' | number
              storedAtCall: number
              seen: Promise<RunEvent[]>
            }> = []
            for (const o of ops) {
              if (o.kind === 'emit') {
                for (let i = 0; i < o.n; i++) run.emit('e', ++emitted)
              } else if (o.kind === 'append') {
                await run.append('e', ++emitted)
              } else if (o.kind === 'yield') {
                await run.flush()
              } else {
                const from = typeof o.from === 'number' ? Math.min(o.from, emitted) : o.from
                const inst = followers.length % 2 === 0 ? rb : reader
                const after = typeof from === 'number' ? String(from) : from
                followers.push({
                  from,
                  storedAtCall: run.stats.stored,
                  seen: collect(inst.runs.follow(run.id, { after })),
                })
              }
            }
            followers.push({
              from: 'start',
              storedAtCall: 0,
              seen: collect(reader.runs.follow(run.id)),
            })
            await run.end()
            const total = emitted + 1
            for (const f of followers) {
              const seqs = (await f.seen).map((e) => e.seq)
              const types = (await f.seen).map((e) => e.type)
              expect(types).not.toContain('gap')
              expect(types[types.length - 1]).toBe('end')
              expect(seqs[seqs.length - 1]).toBe(total)
              const first = f.from === 'start' ? 1 : f.from === 'now' ? seqs[0] : f.from + 1
              if (f.from === 'now') expect(first).toBeGreaterThan(f.storedAtCall)
              expect(seqs).toEqual(Array.from({ length: total - first + 1 }, (_, i) => first + i))
            }
            await rb.close()
            await reader.close()
            expect(rb.stats().followers + reader.stats().followers).toBe(0)
          }),
          { numRuns: Number(process.env.RUNBUS_PROPERTY_RUNS ?? 40) },
        )
      })
    })
  }

  function describePositions(): void {
    describe('runs by id and positions', () => {
      it('add, append (batch), end and readInbox by id, with the instance limits', async () => {
        const { rb, another } = await setup({
          limits: { maxPayloadBytes: 1024 },
          retention: { maxEvents: 5 },
        })
        const id = freshId()
        const added = await rb.runs.add({ id, meta: { who: 'hub' } })
        expect(added).toMatchObject({ id, status: 'running', events: 0, meta: { who: 'hub' } })
        expect(rb.stats()).toMatchObject({ runs: 0, inboxes: 0 }) // no handle held
        await expect(rb.runs.add({ id })).rejects.toBeInstanceOf(RunExistsError)
        await expect(
          rb.runs.add({ id: freshId(), meta: { big: 'x'.repeat(2000) } }),
        ).rejects.toBeInstanceOf(PayloadTooLargeError)
        await expect(rb.runs.add({ id: freshId(), meta: [] as never })).rejects.toBeInstanceOf(
          InvalidArgumentError,
        )
        const evs = await rb.runs.append(id, [{ type: 'a', data: 1 }, { type: 'b' }])
        expect(brief(evs)).toEqual([
          [1, 'a'],
          [2, 'b'],
        ])
        expect(evs[1].data).toBe(null)
        for (const type of ['end', 'answer', '', 'x'.repeat(129)]) {
          await expect(rb.runs.append(id, [{ type }])).rejects.toBeInstanceOf(InvalidArgumentError)
        }
        await expect(rb.runs.append(id, [])).rejects.toBeInstanceOf(InvalidArgumentError)
        // All or nothing: one event over the limit stores none of the batch.
        await expect(
          rb.runs.append(id, [{ type: 'ok' }, { type: 'big', data: 'y'.repeat(2000) }]),
        ).rejects.toBeInstanceOf(PayloadTooLargeError)
        expect((await rb.runs.get(id)).events).toBe(2)
        await expect(rb.runs.append(freshId(), [{ type: 'a' }])).rejects.toBeInstanceOf(
          RunNotFoundError,
        )
        // Retention comes from createRunbus.
        await rb.runs.append(
          id,
          Array.from({ length: 6 }, (_, i) => ({ type: 'n', data: i })),
        )
        expect(await rb.runs.get(id)).toMatchObject({ events: 8, trimmed: 3 })
        expect(await rb.runs.tail(id)).toBe((await rb.runs.get(id)).lastId)

        // The inbox by id: a long poll answered by a message from another instance.
        const other = another()
        const waiting = rb.runs.readInbox(id, { wait: 10_000 })
        await other.runs.send(id, { type: 'steer', data: 1 })
        const [m] = await waiting
        expect(m).toMatchObject({ type: 'steer', data: 1 })
        expect(await rb.runs.readInbox(id, { after: m.id, wait: 20 })).toEqual([])
        const ac = new AbortController()
        const aborted = rb.runs.readInbox(id, { after: m.id, wait: 60_000, signal: ac.signal })
        ac.abort()
        expect(await aborted).toEqual([])
        await expect(rb.runs.readInbox(id, { after: 'nope' })).rejects.toBeInstanceOf(
          InvalidArgumentError,
        )
        expect(rb.stats().waiters).toBe(0)

        const end = await rb.runs.end(id, { status: 'failed', error: 'boom' })
        expect(end).toMatchObject({
          seq: 9,
          type: 'end',
          data: { status: 'failed', error: 'boom' },
        })
        await expect(rb.runs.end(id)).rejects.toBeInstanceOf(RunEndedError)
        await expect(rb.runs.append(id, [{ type: 'a' }])).rejects.toBeInstanceOf(RunEndedError)
        expect((await rb.runs.get(id)).status).toBe('failed')
      })

      it("'now' is fixed once `ready` resolves: what is appended right after is delivered", async () => {
        const { rb, another } = await setup()
        const run = await rb.runs.create({ id: freshId() })
        await run.append('old')
        const other = another()
        for (let i = 0; i < 6; i++) {
          const f = rb.runs.follow(run.id, { after: 'now' })
          await f.ready
          expect(f.position).toBe(i + 1)
          const e =
            i % 2 === 0
              ? await run.append('x')
              : (await other.runs.append(run.id, [{ type: 'y' }]))[0]
          expect((await f.next()).value).toMatchObject({ seq: e.seq })
          f.close()
        }
        // tail(): a position to follow after, fixed when it resolved.
        const t = await rb.runs.tail(run.id)
        const g = rb.runs.follow(run.id, { after: t })
        const [e] = await other.runs.append(run.id, [{ type: 'z' }])
        expect((await g.next()).value).toMatchObject({ seq: e.seq, type: 'z' })
        g.close()
        await expect(rb.runs.follow(freshId(), { after: 'now' }).ready).rejects.toBeInstanceOf(
          RunNotFoundError,
        )
        await expect(rb.runs.tail(freshId())).rejects.toBeInstanceOf(RunNotFoundError)
        expect(rb.stats()).toMatchObject({ followers: 0, feeds: 0 })
      })

      it('followers of one run in one instance share one feed; each keeps its own pace', async () => {
        const { rb } = await setup({ follow: { bufferSize: 20, pageSize: 50 } })
        const run = await rb.runs.create({ id: freshId() })
        const fast = rb.runs.follow(run.id)
        const slow = rb.runs.follow(run.id)
        await Promise.all([fast.ready, slow.ready])
        expect(rb.stats().feeds).toBe(1)
        const got: number[] = []
        const reading = (async () => {
          for await (const e of fast) got.push(e.seq)
        })()
        for (let i = 0; i < 200; i++) run.emit('n', i)
        await run.end()
        await reading
        expect(got).toEqual(Array.from({ length: 201 }, (_, i) => i + 1))
        // The slow one never read while all that happened: it re-reads, misses nothing.
        expect((await collect(slow)).map((e) => e.seq)).toEqual(got)
        expect(rb.stats()).toMatchObject({ followers: 0, feeds: 0 })
      })

      it('a run id created again is another run: a follower never joins the two', async () => {
        const { rb } = await setup({ retention: { ttlMs: 30 } })
        const id = freshId()
        const old = await rb.runs.create({ id })
        for (let i = 0; i < 10; i++) old.emit('old', i)
        await old.end()
        const oldPage = await rb.runs.read(id)
        const oldIds = oldPage.events.map((e) => e.id)
        const oldMid = oldIds[4] // seq 5
        const oldLast = (await rb.runs.get(id)).lastId! // seq 11, the end
        expect(oldLast).toBe(oldIds[10])
        await until(
          () =>
            rb.runs.get(id).then(
              () => false,
              (e: unknown) => e instanceof RunNotFoundError,
            ),
          5_000,
          'the ended run to expire',
        )
        const again = await rb.runs.create({ id })
        // A reader of the new run, live: the process holds the run's feed (and its window of
        // recent events) while the stale positions below are asked for.
        const live = rb.runs.follow(id)
        await live.ready
        // More events than the positions remembered from the old run.
        for (let i = 0; i < 20; i++) again.emit('new', i)
        // Stored but not ended: an ended run would expire 30 ms later (the ttl above) and a
        // loaded machine could read it after that.
        await again.flush()
        const newIds = (await rb.runs.read(id)).events.map((e) => e.id)
        expect(newIds).toHaveLength(20)
        // Ids of one run id are distinct across incarnations, seq for seq.
        for (const oldId of oldIds) expect(newIds).not.toContain(oldId)
        const stale = async (after: string): Promise<{ seen: RunEvent[]; error: unknown }> => {
          const f = rb.runs.follow(id, { after })
          const seen: RunEvent[] = []
          try {
            for await (const e of f) seen.push(e)
          } catch (error) {
            return { seen, error }
          }
          return { seen, error: undefined }
        }
        // Resuming from a position of the old run: a typed reset, never the new run's events
        // from that seq on (with the feed live, and without it).
        for (const after of [oldMid, oldLast]) {
          const r = await stale(after)
          expect(r.seen).toEqual([])
          expect(r.error).toBeInstanceOf(RunResetError)
          expect(r.error).toBeInstanceOf(RunNotFoundError)
          expect((r.error as RunResetError).code).toBe('run_reset')
        }
        live.close()
        await until(() => rb.stats().feeds === 0, 5_000, 'the feed to go')
        const cold = await stale(oldMid)
        expect(cold.seen).toEqual([])
        expect(cold.error).toBeInstanceOf(RunResetError)
        await expect(rb.runs.read(id, { after: oldMid })).rejects.toBeInstanceOf(RunResetError)
        // A plain seq (an id issued before ids carried the incarnation) still works, unchecked.
        const plain = rb.runs.follow(id, { after: '5' })
        expect(((await plain.next()).value as RunEvent).id).toBe(newIds[5])
        plain.close()
        expect((await rb.runs.read(id, { after: '5', limit: 1 })).events[0].id).toBe(newIds[5])
        // The new run's own ids resume in it.
        const ok = rb.runs.follow(id, { after: newIds[4] })
        expect(((await ok.next()).value as RunEvent).id).toBe(newIds[5])
        ok.close()
        // The new run, from its start, is whole.
        const fresh = rb.runs.follow(id)
        expect(((await fresh.next()).value as RunEvent).type).toBe('new')
        fresh.close()
        await again.end()
        expect(rb.stats()).toMatchObject({ followers: 0, feeds: 0 })
      })

      if (opts.remote) {
        repeated(
          'a follower ready on now gets what ANOTHER PROCESS appends right after',
          async () => {
            const { rb, remote } = await setup()
            const writer = await remote!()
            const run = await rb.runs.create({ id: freshId() })
            await run.append('old')
            for (let i = 0; i < 5; i++) {
              const f = rb.runs.follow(run.id, { after: 'now' })
              await f.ready
              const id = await writer.append(run.id, 'remote')
              const e = (await f.next()).value as RunEvent
              expect(e).toMatchObject({ id, type: 'remote', seq: i + 2 })
              f.close()
            }
          },
          60_000,
        )
      }
    })
  }

  function describeBus(): void {
    describe('bus', () => {
      it('delivers to exact and wildcard subscribers, and only to matching ones', async () => {
        const { rb } = await setup()
        const ns = freshId('ns').replaceAll('-', '')
        const exact = rb.bus.subscribe(`${ns}.a.b`)
        const star = rb.bus.subscribe(`${ns}.*.b`)
        const rest = rb.bus.subscribe(`${ns}.>`)
        const none = rb.bus.subscribe(`${ns}.x.*`)
        await Promise.all([exact.ready, star.ready, rest.ready, none.ready])
        await rb.bus.publish(`${ns}.a.b`, { n: 1 })
        await rb.bus.publish(`${ns}.c.b`, { n: 2 })
        await rb.bus.publish(`${ns}.a.b.c`, { n: 3 })
        await rb.bus.publish(`${ns}`, { n: 4 })
        exact.close()
        star.close()
        rest.close()
        none.close()
        const data = async (s: AsyncIterable<BusMessage>): Promise<unknown[]> =>
          (await collect(s)).map((m) => m.data)
        expect(await data(exact)).toEqual([{ n: 1 }])
        expect(await data(star)).toEqual([{ n: 1 }, { n: 2 }])
        expect(await data(rest)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
        expect(await data(none)).toEqual([])
        expect(rb.stats().subscriptions).toBe(0)
      })

      it('checks channels and patterns', async () => {
        const { rb } = await setup()
        for (const bad of ['', 'a..b', 'a.*', 'a.>', 'a b', '.a', 'a.']) {
          await expect(rb.bus.publish(bad, 1)).rejects.toBeInstanceOf(InvalidArgumentError)
        }
        for (const bad of ['', 'a.>.b', 'a.b*', 'a..b']) {
          expect(() => rb.bus.subscribe(bad)).toThrow(InvalidArgumentError)
        }
      })

      it('refuses oversized payloads with both sizes; nothing is delivered', async () => {
        const { rb } = await setup({ limits: { maxPayloadBytes: 100 } })
        const ch = `${freshId('big').replaceAll('-', '')}.x`
        const sub = rb.bus.subscribe(ch)
        await sub.ready
        const err = await rb.bus.publish(ch, 'x'.repeat(200)).catch((e: unknown) => e)
        expect(err).toBeInstanceOf(PayloadTooLargeError)
        expect(err).toMatchObject({ size: 202, limit: 100 })
        await rb.bus.publish(ch, 'ok')
        sub.close()
        expect((await collect(sub)).map((m) => m.data)).toEqual(['ok'])
      })

      it('waitFor is registered before it returns; filter, timeout and abort', async () => {
        const { rb } = await setup()
        const ch = freshId('w').replaceAll('-', '')
        const p = rb.bus.waitFor(`${ch}.*`)
        await rb.bus.publish(`${ch}.done`, { ok: true })
        expect(await p).toMatchObject({ channel: `${ch}.done`, data: { ok: true } })

        const filtered = rb.bus.waitFor<{ n: number }>(`${ch}.n`, { filter: (m) => m.data.n > 2 })
        for (let n = 1; n <= 4; n++) await rb.bus.publish(`${ch}.n`, { n })
        expect((await filtered).data).toEqual({ n: 3 })

        await expect(rb.bus.waitFor(`${ch}.never`, { timeout: 20 })).rejects.toBeInstanceOf(
          TimeoutError,
        )
        const ac = new AbortController()
        const aborted = rb.bus.waitFor(`${ch}.never`, { signal: ac.signal })
        const reason = new Error('no more')
        ac.abort(reason)
        await expect(aborted).rejects.toBe(reason)
        expect(rb.stats()).toMatchObject({ waiters: 0, busPatterns: 0 })
      })

      it('another instance on the same backend receives after ready', async () => {
        const { rb, another } = await setup()
        const rb2 = another()
        const ch = `${freshId('x').replaceAll('-', '')}.ev`
        const sub = rb2.bus.subscribe(ch)
        const w = rb2.bus.waitForReady(ch)
        await Promise.all([sub.ready, w.ready])
        await rb.bus.publish(ch, 42)
        expect((await w.message).data).toBe(42)
        for await (const m of sub) {
          expect(m.data).toBe(42)
          break
        }
        expect(rb2.stats().subscriptions).toBe(0)
      })

      it('a slow subscriber loses the oldest messages, counted and reported', async () => {
        const { rb } = await setup()
        const ch = `${freshId('s').replaceAll('-', '')}.x`
        const drops: number[] = []
        const sub = rb.bus.subscribe(ch, { bufferSize: 2, onDrop: (n) => drops.push(n) })
        await sub.ready
        for (let i = 1; i <= 5; i++) await rb.bus.publish(ch, i)
        await until(() => sub.stats.received === 5)
        expect(sub.stats).toMatchObject({ received: 5, dropped: 3 })
        expect(drops).toEqual([1, 2, 3])
        sub.close()
        expect((await collect(sub)).map((m) => m.data)).toEqual([4, 5])
      })

      it('typed channels with zod, valibot and arktype', async () => {
        const { rb } = await setup()
        const base = freshId('t').replaceAll('-', '')
        const schemas = {
          zod: z.object({ id: z.string(), qty: z.number().int().positive() }),
          valibot: v.object({
            id: v.string(),
            qty: v.pipe(v.number(), v.integer(), v.minValue(1)),
          }),
          arktype: type({ id: 'string', qty: 'number.integer > 0' }),
        }
        for (const [lib, schema] of Object.entries(schemas)) {
          const ch = rb.bus.channel(`${base}.${lib}`, { schema })
          const sub = ch.subscribe()
          await sub.ready
          await ch.publish({ id: 'o1', qty: 2 })
          const err = await ch.publish({ id: 'o2', qty: -1 }).catch((e: unknown) => e)
          expect(err, lib).toBeInstanceOf(ValidationError)
          expect((err as ValidationError).issues.length, lib).toBeGreaterThan(0)
          expect((err as ValidationError).code).toBe('validation_failed')
          sub.close()
          const got = await collect(sub)
          expect(
            got.map((m) => m.data),
            lib,
          ).toEqual([{ id: 'o1', qty: 2 }])
        }
        // The schema's output is what travels (transforms apply on publish).
        const tr = rb.bus.channel(`${base}.tr`, { schema: z.string().transform((s) => s.length) })
        const w = tr.waitFor()
        await tr.publish('four')
        const m = await w
        const n: number = m.data
        expect(n).toBe(4)
      })

      it('close() ends subscriptions and waiters with ClosedError', async () => {
        const { rb } = await setup()
        const ch = `${freshId('c').replaceAll('-', '')}.x`
        const sub = rb.bus.subscribe(ch)
        const it = sub[Symbol.asyncIterator]()
        const nextFails = expect(it.next()).rejects.toBeInstanceOf(ClosedError)
        const waitFails = expect(rb.bus.waitFor(ch)).rejects.toBeInstanceOf(ClosedError)
        await rb.close()
        await nextFails
        await waitFails
        expect(rb.stats()).toMatchObject({ subscriptions: 0, waiters: 0, busPatterns: 0 })
        await expect(rb.bus.publish(ch, 1)).rejects.toBeInstanceOf(ClosedError)
      })
    })
  }

  function describeAsks(): void {
    describe('asks', () => {
      async function askEvent(rb: Runbus, runId: string): Promise<RunEvent> {
        let found: RunEvent | undefined
        await until(async () => {
          found = (await rb.runs.read(runId)).events.find((e) => e.type === 'ask')
          return found !== undefined
        })
        return found!
      }

      it('confirm: the first answer wins and is in the log; a second is refused', async () => {
        const { rb } = await setup()
        const run = await rb.runs.create({ id: freshId() })
        const answer = run.ask({ kind: 'confirm', prompt: 'Deploy?', data: { env: 'prod' } })
        const ev = await askEvent(rb, run.id)
        const askId = (ev.data as { ask: string }).ask
        expect(ev.data).toMatchObject({ kind: 'confirm', prompt: 'Deploy?', data: { env: 'prod' } })
        expect(await rb.asks.get(askId)).toMatchObject({
          id: askId,
          run: run.id,
          state: 'pending',
          kind: 'confirm',
        })
        const answered = await rb.asks.answer(askId, true, { by: 'ada' })
        expect(answered).toMatchObject({ state: 'answered', answer: true, answeredBy: 'ada' })
        const value: boolean = await answer
        expect(value).toBe(true)
        await expect(rb.asks.answer(askId, false)).rejects.toBeInstanceOf(AskAnsweredError)
        expect(await rb.asks.get(askId)).toMatchObject({
          state: 'answered',
          answer: true,
          answeredBy: 'ada',
        })
        const log = (await rb.runs.read(run.id)).events
        expect(log.filter((e) => e.type === 'answer').map((e) => e.data)).toEqual([
          { ask: askId, answer: true, by: 'ada' },
        ])
        expect(rb.stats().asks).toBe(0)
      })

      it('concurrent answers from several instances: exactly one wins', async () => {
        const { rb, another } = await setup()
        const people = [another(), another(), rb]
        const run = await rb.runs.create({ id: freshId() })
        const asked = run.ask({ kind: 'text', prompt: 'Who is first?' })
        const ev = await askEvent(rb, run.id)
        const id = (ev.data as { ask: string }).ask
        const results = await Promise.allSettled(
          people.flatMap((p, i) => [p.asks.answer(id, `p${i}a`), p.asks.answer(id, `p${i}b`)]),
        )
        const won = results.filter((r) => r.status === 'fulfilled')
        expect(won).toHaveLength(1)
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(AskAnsweredError)
        }
        const winner = (won[0] as PromiseFulfilledResult<{ answer: unknown }>).value.answer
        expect(await asked).toBe(winner)
        await run.end()
        const answers = (await rb.runs.read(run.id)).events.filter((e) => e.type === 'answer')
        expect(answers.map((e) => e.data)).toEqual([{ ask: id, answer: winner }])
      })

      it('answer racing expiry: exactly one outcome, the same for the agent, the answerer and the log', async () => {
        const { rb, another } = await setup()
        const human = another()
        for (const timeout of [1, 3, 8, 15]) {
          const run = await rb.runs.create({ id: freshId() })
          const asked = run.ask({ kind: 'confirm', prompt: '?', timeout }).then(
            (v) => ({ ok: true as const, v }),
            (e: unknown) => ({ ok: false as const, e }),
          )
          const ev = await askEvent(human, run.id)
          const id = (ev.data as { ask: string }).ask
          const answered = await human.asks.answer(id, true).then(
            () => true,
            (e: unknown) => {
              expect(e).toBeInstanceOf(AskExpiredError)
              return false
            },
          )
          const agent = await asked
          await run.end()
          const log = (await rb.runs.read(run.id)).events
          const answers = log.filter((e) => e.type === 'answer').length
          const expiries = log.filter((e) => e.type === 'ask_expired').length
          if (answered) {
            expect(agent).toEqual({ ok: true, v: true })
            expect([answers, expiries]).toEqual([1, 0])
          } else {
            expect(agent.ok).toBe(false)
            expect((agent as { e: unknown }).e).toBeInstanceOf(AskTimeoutError)
            expect([answers, expiries]).toEqual([0, 1])
          }
        }
      })

      it('timeout: AskTimeoutError in the agent, ask_expired in the log, late answers refused', async () => {
        const { rb } = await setup()
        const run = await rb.runs.create({ id: freshId() })
        const err = await run
          .ask({ kind: 'text', prompt: 'Name?', timeout: 20 })
          .catch((e: unknown) => e)
        expect(err).toBeInstanceOf(AskTimeoutError)
        expect(err).toMatchObject({ code: 'ask_timeout' })
        const log = (await rb.runs.read(run.id)).events
        const askId = (log.find((e) => e.type === 'ask')!.data as { ask: string }).ask
        expect(log.find((e) => e.type === 'ask_expired')!.data).toEqual({
          ask: askId,
          reason: 'timeout',
        })
        await expect(rb.asks.answer(askId, 'late')).rejects.toBeInstanceOf(AskExpiredError)
        expect(await rb.asks.get(askId)).toMatchObject({ state: 'expired' })
        expect(rb.stats().asks).toBe(0)
      })

      it('checks answers per kind and against a schema, with the issues', async () => {
        const { rb } = await setup()
        const run = await rb.runs.create({ id: freshId() })
        const confirm = run.ask({ kind: 'confirm', prompt: '?' })
        const c = await askEvent(rb, run.id)
        const cid = (c.data as { ask: string }).ask
        await expect(rb.asks.answer(cid, 'yes')).rejects.toBeInstanceOf(ValidationError)
        await rb.asks.answer(cid, false)
        expect(await confirm).toBe(false)

        const choice = run.ask({ kind: 'choice', prompt: 'Branch?', choices: ['main', 'dev'] })
        const pend = await until(
          async () => (await rb.asks.pending({ run: run.id })).length === 1,
        ).then(() => rb.asks.pending({ run: run.id }))
        expect(pend[0]).toMatchObject({ kind: 'choice', choices: ['main', 'dev'] })
        await expect(rb.asks.answer(pend[0].id, 'prod')).rejects.toBeInstanceOf(ValidationError)
        await rb.asks.answer(pend[0].id, 'dev')
        expect(await choice).toBe('dev')

        const Form = z.object({ name: z.string().min(2), age: z.number().int() })
        const form = run.ask({ kind: 'form', prompt: 'Who?', schema: Form })
        await until(async () => (await rb.asks.pending({ run: run.id })).length === 1)
        const [f] = await rb.asks.pending({ run: run.id })
        const bad = await rb.asks.answer(f.id, { name: 'x', age: 1.5 }).catch((e: unknown) => e)
        expect(bad).toBeInstanceOf(ValidationError)
        expect((bad as ValidationError).issues.length).toBe(2)
        expect(await rb.asks.get(f.id)).toMatchObject({ state: 'pending' })
        await rb.asks.answer(f.id, { name: 'Ada', age: 36 })
        const who: { name: string; age: number } = await form
        expect(who).toEqual({ name: 'Ada', age: 36 })

        const ham = run.ask({ kind: 'human_as_model', prompt: 'Complete: def f(' })
        await until(async () => (await rb.asks.pending({ run: run.id })).length === 1)
        const [h] = await rb.asks.pending({ run: run.id })
        await expect(rb.asks.answer(h.id, 42)).rejects.toBeInstanceOf(ValidationError)
        await rb.asks.answer(h.id, 'x): return x')
        expect(await ham).toBe('x): return x')
        await expect(rb.asks.answer('ask_nope', true)).rejects.toBeInstanceOf(AskNotFoundError)
        await expect(rb.asks.get('ask_nope')).rejects.toBeInstanceOf(AskNotFoundError)
        await expect(run.ask({ kind: 'choice', prompt: '?' })).rejects.toBeInstanceOf(
          InvalidArgumentError,
        )
      })

      it('asks.create: on a run of another instance, returns at once; anyone answers or waits', async () => {
        const { rb, another } = await setup()
        const agent = another()
        const human = another()
        const run = await agent.runs.create({ id: freshId() })
        const a = await rb.asks.create(run.id, {
          kind: 'choice',
          prompt: 'Branch?',
          choices: ['main', 'dev'],
          timeout: 3_600_000,
        })
        expect(a).toMatchObject({ run: run.id, kind: 'choice', state: 'pending' })
        expect(a.expiresAt).toBe(a.createdAt + 3_600_000)
        const log = (await human.runs.read(run.id)).events
        expect(log.map((e) => [e.id, e.type, e.data])).toEqual([
          [
            a.eventId,
            'ask',
            {
              ask: a.id,
              kind: 'choice',
              prompt: 'Branch?',
              choices: ['main', 'dev'],
              expiresAt: a.expiresAt,
            },
          ],
        ])
        expect(await human.asks.get(a.id)).toEqual(a)
        expect((await human.asks.pending({ run: run.id })).map((p) => p.id)).toEqual([a.id])
        expect(rb.stats()).toMatchObject({ armedAsks: 1, asks: 0, followers: 0, runs: 0 })
        const waited = agent.asks.wait(a.id)
        await expect(human.asks.answer(a.id, 'prod')).rejects.toBeInstanceOf(ValidationError)
        await human.asks.answer(a.id, 'dev', { by: 'ada' })
        expect(await waited).toBe('dev')
        // The creator learns the ask was decided elsewhere as soon as it looks at it.
        expect(await rb.asks.get(a.id)).toMatchObject({ state: 'answered', answeredBy: 'ada' })
        expect(rb.stats()).toMatchObject({ armedAsks: 0, asks: 0, followers: 0 })
        expect(agent.stats()).toMatchObject({ asks: 0, followers: 0 })

        // A timeout expires it with nobody waiting (the creator's timer).
        const b = await rb.asks.create(run.id, { kind: 'confirm', prompt: '?', timeout: 1 })
        await until(async () =>
          (await human.runs.read(run.id)).events.some((e) => e.type === 'ask_expired'),
        )
        expect(await human.asks.get(b.id)).toMatchObject({
          state: 'expired',
          expiredReason: 'timeout',
        })
        await expect(human.asks.answer(b.id, true)).rejects.toBeInstanceOf(AskExpiredError)
        expect(rb.stats().armedAsks).toBe(0)

        await expect(
          rb.asks.create(freshId(), { kind: 'text', prompt: '?' }),
        ).rejects.toBeInstanceOf(RunNotFoundError)
        await expect(
          rb.asks.create(run.id, { kind: 'choice', prompt: '?' }),
        ).rejects.toBeInstanceOf(InvalidArgumentError)
        await run.end()
        await expect(rb.asks.create(run.id, { kind: 'text', prompt: '?' })).rejects.toBeInstanceOf(
          RunEndedError,
        )
      })

      it('pending lists only open asks, per run and overall', async () => {
        const { rb } = await setup()
        const a = await rb.runs.create({ id: freshId() })
        const b = await rb.runs.create({ id: freshId() })
        const pa = a.ask({ kind: 'text', prompt: 'A?' })
        const pb = b.ask({ kind: 'text', prompt: 'B?' })
        await until(
          async () =>
            (await rb.asks.pending()).filter((x) => x.run === a.id || x.run === b.id).length === 2,
        )
        const [onA] = await rb.asks.pending({ run: a.id })
        expect(onA).toMatchObject({ run: a.id, prompt: 'A?', state: 'pending' })
        await rb.asks.answer(onA.id, 'yes')
        expect(await pa).toBe('yes')
        expect(await rb.asks.pending({ run: a.id })).toEqual([])
        const all = (await rb.asks.pending()).filter((x) => x.run === a.id || x.run === b.id)
        expect(all.map((x) => x.prompt)).toEqual(['B?'])
        await rb.asks.answer(all[0].id, 'ok')
        expect(await pb).toBe('ok')
      })

      it('another instance answers; a restarted agent re-attaches with wait()', async () => {
        const { rb, another } = await setup()
        const human = another()
        const run = await rb.runs.create({ id: freshId() })
        const first = run.ask({ kind: 'confirm', prompt: 'One?' })
        await until(async () => (await human.asks.pending({ run: run.id })).length === 1)
        const [one] = await human.asks.pending({ run: run.id })
        await expect(human.asks.answer(one.id, 'no')).rejects.toBeInstanceOf(ValidationError)
        await human.asks.answer(one.id, true)
        expect(await first).toBe(true)

        const secondFails = expect(
          run.ask({ kind: 'text', prompt: 'Two?' }),
        ).rejects.toBeInstanceOf(ClosedError)
        await until(async () => (await human.asks.pending({ run: run.id })).length === 1)
        const [two] = await human.asks.pending({ run: run.id })
        // The agent process goes away while waiting…
        await rb.close()
        await secondFails
        // …and a new one re-attaches.
        const agent = another()
        const again = agent.asks.wait(two.id)
        await human.asks.answer(two.id, 'second')
        expect(await again).toBe('second')
        expect(await agent.asks.wait(two.id)).toBe('second')
        expect(agent.stats().asks).toBe(0)
      })

      it("another instance's answer is checked against the asking instance's schema", async () => {
        const { rb, another } = await setup({ asks: { verdictTimeoutMs: 2_000 } })
        const human = another()
        const run = await rb.runs.create({ id: freshId() })
        const Form = z.object({ name: z.string().min(2), n: z.coerce.number() })
        const asked = run.ask({ kind: 'form', prompt: 'Who?', schema: Form })
        await until(async () => (await human.asks.pending({ run: run.id })).length === 1)
        const [a] = await human.asks.pending({ run: run.id })
        expect(a.schema).toMatchObject({ type: 'object' })
        const bad = await human.asks.answer(a.id, { name: 'x', n: 1 }).catch((e: unknown) => e)
        expect(bad).toBeInstanceOf(ValidationError)
        expect((bad as ValidationError).issues[0].path).toEqual(['name'])
        const ok = await human.asks.answer(a.id, { name: 'Ada', n: '7' })
        expect(ok.answer).toEqual({ name: 'Ada', n: 7 })
        expect(await asked).toEqual({ name: 'Ada', n: 7 })

        // With nobody holding the schema, the answer is refused, never accepted unchecked.
        const againFails = expect(
          run.ask({ kind: 'form', prompt: 'Again?', schema: Form }),
        ).rejects.toBeInstanceOf(ClosedError)
        await until(async () => (await human.asks.pending({ run: run.id })).length === 1)
        const [b] = await human.asks.pending({ run: run.id })
        await rb.close()
        await againFails
        await expect(human.asks.answer(b.id, { name: 'Ada', n: 1 })).rejects.toBeInstanceOf(
          BackendUnavailableError,
        )
        expect((await human.asks.get(b.id)).state).toBe('pending')
        // A restarted agent that re-attaches with the schema makes it answerable again.
        const agent = another()
        const waiting = agent.asks.wait(b.id, { schema: Form })
        // Its schema becomes reachable once its subscription is in place: retry until then.
        await until(() =>
          human.asks.answer(b.id, { name: 'Bob', n: '2' }).then(
            () => true,
            (err: unknown) => {
              if (err instanceof BackendUnavailableError) return false
              throw err
            },
          ),
        )
        expect(await waiting).toEqual({ name: 'Bob', n: 2 })
        expect(agent.stats().subscriptions).toBe(0)
      })

      it('an ask past its expiry is refused even when the agent is gone', async () => {
        const { rb, another } = await setup()
        const human = another()
        const run = await rb.runs.create({ id: freshId() })
        const asked = run.ask({ kind: 'confirm', prompt: '?', timeout: 200 })
        const ev = await askEvent(human, run.id)
        const a = await human.asks.get((ev.data as { ask: string }).ask)
        await rb.close()
        // Normally the agent is gone first; on a very slow machine its own timer may win.
        const gone = await asked.catch((e: unknown) => e)
        expect(gone instanceof ClosedError || gone instanceof AskTimeoutError).toBe(true)
        await until(() => Date.now() > a.expiresAt!)
        await expect(human.asks.answer(a.id, true)).rejects.toBeInstanceOf(AskExpiredError)
        expect(await human.asks.get(a.id)).toMatchObject({
          state: 'expired',
          expiredReason: 'timeout',
        })
        await expect(human.asks.wait(a.id)).rejects.toBeInstanceOf(AskTimeoutError)
      })

      it('cancel by signal and by the end of the run expire the ask', async () => {
        const { rb } = await setup()
        const run = await rb.runs.create({ id: freshId() })
        const ac = new AbortController()
        const cancelled = run.ask({ kind: 'text', prompt: '?', signal: ac.signal })
        const ev = await askEvent(rb, run.id)
        const reason = new Error('user left')
        ac.abort(reason)
        await expect(cancelled).rejects.toBe(reason)
        const id1 = (ev.data as { ask: string }).ask
        expect(await rb.asks.get(id1)).toMatchObject({
          state: 'expired',
          expiredReason: 'cancelled',
        })
        await expect(rb.asks.answer(id1, 'x')).rejects.toBeInstanceOf(AskExpiredError)

        // Each outcome is expected before what causes it: the ask may reject while `send` (or
        // `end`) still waits for its own reply, and a rejection with no handler yet is reported.
        const interrupted = expect(
          run.ask({ kind: 'text', prompt: 'again?' }),
        ).rejects.toBeInstanceOf(InterruptedError)
        await until(async () => (await rb.asks.pending({ run: run.id })).length === 1)
        await rb.runs.send(run.id, { type: 'interrupt' })
        await interrupted

        const { rb: rb2 } = await setup()
        const run2 = await rb2.runs.create({ id: freshId() })
        const other = await rb2.runs.open(run2.id)
        const orphan = expect(
          run2.ask({ kind: 'text', prompt: 'still there?' }),
        ).rejects.toBeInstanceOf(AskExpiredError)
        await until(async () => (await rb2.asks.pending({ run: run2.id })).length === 1)
        const [p] = await rb2.asks.pending({ run: run2.id })
        await other.end({ status: 'cancelled' })
        await orphan
        await expect(rb2.asks.answer(p.id, 'x')).rejects.toBeInstanceOf(AskExpiredError)
        expect(rb.stats().asks + rb2.stats().asks).toBe(0)
      })
    })
  }
}
