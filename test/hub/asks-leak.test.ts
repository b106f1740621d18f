/**
 * Asks created over HTTP on a long-running hub must not leave anything per run or per ask in
 * the runbus instance: the hub creates them with `rb.asks.create` (no `Run` handle, no
 * follower, no waiter), and the core releases an ask's expiry timer once it is decided.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { startHub, type TestHub } from './helpers.js'

let h: TestHub | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

const RUNS = 1_000

/** Runs `fn` over 0..n-1, `width` at a time. */
async function pool(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++)
    }),
  )
}

async function ok(res: Response, status: number): Promise<Record<string, unknown>> {
  const body = (await res.json()) as Record<string, unknown>
  expect(res.status, JSON.stringify(body)).toBe(status)
  return body
}

describe('hub: asks over HTTP leave nothing behind', () => {
  it(`asks on ${RUNS} runs, answered (half with a timeout, half runs then ended): back to baseline`, async () => {
    // One token subject makes all these runs: lift its running-runs quota.
    const hub = await startHub({ core: { limits: { maxRunningRunsPerOwner: Infinity } } })
    h = hub
    const baseline = hub.rb.stats()
    const ids: string[] = []
    await pool(RUNS, 32, async (i) => {
      const run = `leak-${i}`
      await ok(await hub.call('POST', '/v1/runs', { id: run }), 201)
      const ask = await ok(
        await hub.call('POST', `/v1/runs/${run}/asks`, {
          kind: 'confirm',
          prompt: `ok ${i}?`,
          ...(i % 2 === 0 ? { timeout: 3_600_000 } : {}),
        }),
        201,
      )
      expect(ask).toMatchObject({ run, state: 'pending' })
      ids[i] = ask.id as string
    })
    // While pending, only the armed expiry timers are held (none for asks without timeout).
    expect(hub.rb.stats()).toEqual({ ...baseline, armedAsks: RUNS / 2 })
    // The metrics read the backend: every pending ask counts (with a timeout or not), and
    // every running run (not the run handles of this process, of which there are none).
    const during = await (await hub.call('GET', '/metrics')).text()
    expect(during).toMatch(new RegExp(`^runbus_asks_pending ${RUNS}$`, 'm'))
    expect(during).toMatch(new RegExp(`^runbus_runs ${RUNS}$`, 'm'))
    await pool(RUNS, 32, async (i) => {
      const answered = await ok(
        await hub.call('POST', `/v1/asks/${ids[i]}/answer`, { answer: i % 3 === 0 }),
        200,
      )
      expect(answered).toMatchObject({ state: 'answered', answer: i % 3 === 0 })
      if (i % 4 < 2)
        await ok(await hub.call('POST', `/v1/runs/leak-${i}/end`, { status: 'completed' }), 200)
    })
    expect(hub.rb.stats()).toEqual(baseline)
    const metrics = await (await hub.call('GET', '/metrics')).text()
    expect(metrics).toMatch(/^runbus_asks_pending 0$/m)
    // Runs i % 4 < 2 ended: half are still running.
    expect(metrics).toMatch(new RegExp(`^runbus_runs ${RUNS / 2}$`, 'm'))
  }, 60_000)

  it('pending asks without a timeout hold nothing; with one, only their timer until it fires', async () => {
    const hub = await startHub()
    h = hub
    const baseline = hub.rb.stats()
    await ok(await hub.call('POST', '/v1/runs', { id: 'many' }), 201)
    for (let i = 0; i < 50; i++) {
      await ok(await hub.call('POST', '/v1/runs/many/asks', { kind: 'text', prompt: `${i}` }), 201)
    }
    expect(hub.rb.stats()).toEqual(baseline)
    const short = await ok(
      await hub.call('POST', '/v1/runs/many/asks', {
        kind: 'text',
        prompt: 'quick',
        timeout: 1_500,
      }),
      201,
    )
    expect(hub.rb.stats().armedAsks).toBe(1)
    const polled = await ok(await hub.call('GET', `/v1/asks/${short.id as string}?wait=10`), 200)
    expect(polled).toMatchObject({ state: 'expired', expiredReason: 'timeout' })
    const log = await hub.rb.runs.read('many')
    expect(log.events.filter((e) => e.type === 'ask_expired')).toHaveLength(1)
    expect(hub.rb.stats()).toEqual(baseline)
  })
})
