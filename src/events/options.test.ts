/**
 * Every public factory refuses an unknown option name and a value of the wrong type with an
 * `InvalidArgumentError` naming the option (a typo must not fall back to a default), and
 * `rb.runs.follow` can start before the run exists (`waitForRun`).
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  AsyncQueue,
  createRunbus,
  InvalidArgumentError,
  RunNotFoundError,
  type Runbus,
} from '../index.js'
import { redisBackend } from '../backends/redis/index.js'
import { createClient } from '../client/index.js'
import { createResumableStreamContext } from '../ai-sdk/index.js'
import { checkOptions } from './options.js'

const open: Runbus[] = []
afterEach(async () => {
  for (const rb of open.splice(0)) await rb.close()
})
function fresh(): Runbus {
  const rb = createRunbus()
  open.push(rb)
  return rb
}

async function drain(it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) void _
}

/** Runs `fn` (sync or async) and returns the InvalidArgumentError it threw. */
async function refusal(fn: () => unknown): Promise<string> {
  try {
    await fn()
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError)
    return (err as Error).message
  }
  throw new Error('expected an InvalidArgumentError')
}

describe('checkOptions', () => {
  it('names the unknown option and the known ones; names the option of the wrong type', () => {
    const spec = { a: 'number', b: ['string', 'function'], s: 'signal' } as const
    expect(() => checkOptions('f', { a: 1, b: 'x' }, spec)).not.toThrow()
    expect(() => checkOptions('f', { a: undefined }, spec)).not.toThrow()
    expect(() => checkOptions('f', { s: new AbortController().signal }, spec)).not.toThrow()
    expect(() => checkOptions('f', { c: 1 }, spec)).toThrow(
      'f: unknown option "c" (known: a, b, s)',
    )
    expect(() => checkOptions('f', { a: '1' }, spec)).toThrow('f: option "a" must be number')
    expect(() => checkOptions('f', { a: NaN }, spec)).toThrow('option "a" must be number (got NaN)')
    expect(() => checkOptions('f', { b: 1 }, spec)).toThrow('must be string or function')
    expect(() => checkOptions('f', { s: {} }, spec)).toThrow('option "s" must be signal')
    expect(() => checkOptions('f', 'x', spec)).toThrow('f: options must be an object')
    expect(() => checkOptions('f', { toString: 1 }, spec)).toThrow('unknown option "toString"')
  })
})

describe('public factories check their options', () => {
  it('redisBackend: { redis: url } is refused, never a quiet connection to localhost', async () => {
    const url = 'redis://127.0.0.1:1'
    expect(await refusal(() => redisBackend({ redis: url } as never))).toMatch(
      /redisBackend: unknown option "redis"/,
    )
    expect(await refusal(() => redisBackend({ url: 6379 } as never))).toMatch(
      /"url" must be string/,
    )
    expect(await refusal(() => redisBackend({ url, commandTimeoutMs: '5' } as never))).toMatch(
      /"commandTimeoutMs" must be number/,
    )
  })

  it('createRunbus: { redis: url } is refused, never a quiet in-memory instance', async () => {
    expect(await refusal(() => createRunbus({ redis: 'redis://x' } as never))).toMatch(/"redis"/)
  })

  it('createClient', async () => {
    const baseUrl = 'http://127.0.0.1:1'
    expect(await refusal(() => createClient({ baseUrl, tokne: 't' } as never))).toMatch(
      /createClient: unknown option "tokne"/,
    )
    expect(await refusal(() => createClient({ baseUrl, token: 5 } as never))).toMatch(/"token"/)
    const c = createClient({ baseUrl })
    expect(await refusal(() => c.follow('r', { after: 5 } as never))).toMatch(/"after" must be/)
    expect(await refusal(() => c.follow('r', { wait: 5 } as never))).toMatch(
      /unknown option "wait"/,
    )
    expect(await refusal(() => c.follow('r', { waitForRun: -1 }))).toMatch(/waitForRun/)
  })

  it('rb.runs.follow', async () => {
    const rb = fresh()
    await rb.runs.create({ id: 'r' })
    expect(await refusal(() => rb.runs.follow('r', { from: 'start' } as never))).toMatch(
      /follow: unknown option "from"/,
    )
    expect(await refusal(() => rb.runs.follow('r', { gapAtStart: 'no' } as never))).toMatch(
      /"gapAtStart" must be boolean/,
    )
    expect(await refusal(() => rb.runs.follow('r', { waitForRun: Infinity }))).toMatch(/waitForRun/)
  })

  it('rb.bus.subscribe and channel().subscribe', async () => {
    const rb = fresh()
    expect(await refusal(() => rb.bus.subscribe('a.>', { buffer: 10 } as never))).toMatch(
      /subscribe: unknown option "buffer"/,
    )
    expect(await refusal(() => rb.bus.subscribe('a.>', { onDrop: 1 } as never))).toMatch(
      /"onDrop" must be function/,
    )
    expect(await refusal(() => rb.bus.channel('a.b').subscribe({ signl: 1 } as never))).toMatch(
      /unknown option "signl"/,
    )
  })

  it('rb.work queue and process', async () => {
    const rb = fresh()
    expect(await refusal(() => rb.work.queue('q', { retries: 3 } as never))).toMatch(
      /work.queue: unknown option "retries"/,
    )
    expect(await refusal(() => rb.work.queue('q', { maxAttempts: '3' } as never))).toMatch(
      /"maxAttempts" must be number/,
    )
    const q = rb.work.queue('q')
    expect(await refusal(() => q.process(async () => {}, { concurency: 2 } as never))).toMatch(
      /process: unknown option "concurency"/,
    )
  })

  it('rb.asks.create and run.ask', async () => {
    const rb = fresh()
    const run = await rb.runs.create()
    expect(
      await refusal(() =>
        rb.asks.create(run.id, { kind: 'confirm', prompt: 'ok?', timout: 5 } as never),
      ),
    ).toMatch(/asks.create: unknown option "timout"/)
    expect(
      await refusal(() =>
        rb.asks.create(run.id, { kind: 'confirm', prompt: 'ok?', signal: 1 } as never),
      ),
    ).toMatch(/unknown option "signal"/)
    expect(
      await refusal(() =>
        run.ask({ kind: 'confirm', prompt: 'ok?', data: 1, timeout: '1' } as never),
      ),
    ).toMatch(/ask: option "timeout" must be number/)
    await run.end({ status: 'completed' })
  })

  it('createResumableStreamContext: resumable-stream options are refused by name', async () => {
    const rb = fresh()
    expect(
      await refusal(() =>
        createResumableStreamContext({ runbus: rb, waitUntil: null, redis: 'x' } as never),
      ),
    ).toMatch(/createResumableStreamContext: unknown option "redis"/)
    expect(
      await refusal(() => createResumableStreamContext({ runbus: rb, waitUntil: 1 } as never)),
    ).toMatch(/"waitUntil" must be function or null/)
  })
})

describe('more public factories check their options', () => {
  it('AsyncQueue, rb.runs.create, rb.bus.channel, rb.bus.waitFor', async () => {
    const rb = fresh()
    expect(await refusal(() => new AsyncQueue({ capcity: 2 } as never))).toMatch(
      /AsyncQueue: unknown option "capcity"/,
    )
    expect(await refusal(() => new AsyncQueue({ capacity: '2' } as never))).toMatch(
      /"capacity" must be number/,
    )
    expect(await refusal(() => rb.runs.create({ title: 'x' } as never))).toMatch(
      /runs.create: unknown option "title"/,
    )
    expect(await refusal(() => rb.runs.create({ id: 5 } as never))).toMatch(/"id" must be string/)
    expect(await refusal(() => rb.bus.channel('a.b', { shema: 1 } as never))).toMatch(
      /channel: unknown option "shema"/,
    )
    expect(await refusal(() => rb.bus.waitFor('a.b', { timeoutMs: 5 } as never))).toMatch(
      /waitFor: unknown option "timeoutMs"/,
    )
    expect(await refusal(() => rb.work.queue('q').add(1, { key: 'k' } as never))).toMatch(
      /add: unknown option "key"/,
    )
    const run = await rb.runs.create()
    const ask = await rb.asks.create(run.id, { kind: 'confirm', prompt: 'ok?' })
    expect(await refusal(() => rb.asks.answer(ask.id, true, { who: 'x' } as never))).toMatch(
      /asks.answer: unknown option "who"/,
    )
    expect(await refusal(() => rb.asks.wait(ask.id, { timeout: '1' } as never))).toMatch(
      /asks.wait: option "timeout" must be number/,
    )
    await run.end({ status: 'completed' })
  })
})

describe('rb.runs.follow({ waitForRun })', () => {
  it('without it a missing run fails at once; with it the reader may come first', async () => {
    const rb = fresh()
    await expect(drain(rb.runs.follow('later'))).rejects.toBeInstanceOf(RunNotFoundError)
    const f = rb.runs.follow('later', { waitForRun: 5_000 })
    const seen = (async () => {
      const types: string[] = []
      for await (const e of f) types.push(e.type)
      return types
    })()
    await new Promise((r) => setTimeout(r, 60))
    const run = await rb.runs.create({ id: 'later' })
    run.text('hi')
    await run.end({ status: 'completed' })
    expect(await seen).toEqual(['text', 'end'])
  })

  it('gives up with RunNotFoundError at the bound, and the signal cancels the wait', async () => {
    const rb = fresh()
    const t0 = Date.now()
    await expect(drain(rb.runs.follow('never', { waitForRun: 120 }))).rejects.toBeInstanceOf(
      RunNotFoundError,
    )
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100)
    const ac = new AbortController()
    const f = rb.runs.follow('never', { waitForRun: 60_000, signal: ac.signal })
    setTimeout(() => ac.abort(new Error('stop')), 30)
    const t1 = Date.now()
    await expect(drain(f)).rejects.toThrow('stop')
    expect(Date.now() - t1).toBeLessThan(1_000)
  })
})
