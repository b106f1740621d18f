/**
 * A write-token holder tries to make the hub hold more than its budgets: big events into one
 * run, big messages into one inbox, many runs. Every attempt past a budget is refused with
 * its typed error (507 / 429), and what the process retains afterwards (heap, external and
 * array buffers, after a full GC) stays under a stated ceiling; the hub
 * still serves a normal reader afterwards. The numbers observed are printed.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryBackend } from '../../src/index.js'
import { startSecHub, type SecHub } from './helpers.js'

const MiB = 1024 * 1024
/** The budgets of the hub under test. */
const RUN_BYTES = 16 * MiB
const INBOX_BYTES = 4 * MiB
const INSTANCE_BYTES = 48 * MiB
/**
 * Growth of what the process retains the whole attack may cause: the budgets (68 MiB) plus
 * 32 MiB of slack. Retained memory, not RSS: RSS also counts garbage not yet collected and pages the
 * allocator keeps, which grow with how busy the machine is (a loaded CI run saw 271 MiB of
 * RSS growth where a quiet one sees 150), so it cannot be the check.
 */
const CEILING = 100 * MiB

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
/** Bytes the process holds after a full collection. */
function retained(): number {
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external + m.arrayBuffers
}

let h: SecHub
beforeAll(async () => {
  h = await startSecHub({
    runbus: {
      backend: memoryBackend({ maxBytes: INSTANCE_BYTES }),
      ownBackend: true,
      limits: {
        maxRunBytes: RUN_BYTES,
        maxInboxBytes: INBOX_BYTES,
        maxRunningRunsPerOwner: 20,
      },
    },
    hub: { maxBodyBytes: 2 * MiB },
  })
})
afterAll(async () => {
  await h?.close()
})

describe('memory budgets under a write token', () => {
  it('refuses past every budget and keeps what it retains under the ceiling', async () => {
    const attacker = await h.token(['write', 'answer', 'read'], '*', { sub: 'attacker' })
    const mib = 'x'.repeat(MiB - 64)
    const before = retained()
    const rssBefore = process.memoryUsage().rss
    const statuses = new Map<string, number>()
    const count = (what: string, status: number): void => {
      const k = `${what} ${status}`
      statuses.set(k, (statuses.get(k) ?? 0) + 1)
    }
    // 1. One run: 1 MiB events until refused, then 20 more tries.
    expect((await h.call('POST', '/v1/runs', { id: 'fat' }, attacker)).status).toBe(201)
    let refusedRun = 0
    for (let i = 0; i < 40; i++) {
      const res = await h.call('POST', '/v1/runs/fat/events', { type: 'blob', data: mib }, attacker)
      count('event', res.status)
      if (res.status !== 201) {
        expect(res.status).toBe(507)
        expect(await res.json()).toMatchObject({ error: { code: 'insufficient_storage' } })
        refusedRun++
      } else await res.body?.cancel()
    }
    expect(refusedRun).toBeGreaterThan(0)
    // 2. One inbox: 1 MiB messages.
    let refusedInbox = 0
    for (let i = 0; i < 10; i++) {
      const res = await h.call('POST', '/v1/runs/fat/inbox', { type: 'm', data: mib }, attacker)
      count('inbox', res.status)
      if (res.status !== 202) {
        expect(res.status).toBe(507)
        refusedInbox++
      }
      await res.body?.cancel()
    }
    expect(refusedInbox).toBeGreaterThan(0)
    // 3. Many runs, each filled: the quota of running runs, then the instance budget.
    let refusedRuns = 0
    let refusedInstance = 0
    for (let r = 0; r < 40; r++) {
      const created = await h.call('POST', '/v1/runs', { id: `many-${r}` }, attacker)
      count('run', created.status)
      if (created.status === 429) {
        refusedRuns++
        await created.body?.cancel()
        continue
      }
      await created.body?.cancel()
      for (let i = 0; i < 4; i++) {
        const res = await h.call(
          'POST',
          `/v1/runs/many-${r}/events`,
          { type: 'blob', data: mib },
          attacker,
        )
        count('event', res.status)
        if (res.status === 507) refusedInstance++
        await res.body?.cancel()
      }
    }
    expect(refusedRuns).toBeGreaterThan(0)
    expect(refusedInstance).toBeGreaterThan(0)
    const stats = h.rb.stats()
    expect(stats.runBytesRefused).toBeGreaterThan(0)
    expect(stats.inboxBytesRefused).toBeGreaterThan(0)
    expect(stats.quotaRefused).toBeGreaterThan(0)
    // Counted in the metrics too.
    const metrics = await (await h.call('GET', '/metrics', undefined, '')).text()
    expect(metrics).toContain(`runbus_refused_total{reason="run_bytes"} ${stats.runBytesRefused}`)
    expect(metrics).toContain(`runbus_refused_total{reason="quota"} ${stats.quotaRefused}`)
    const grew = retained() - before
    const rssGrew = process.memoryUsage().rss - rssBefore
    console.log(
      `memory budgets: retained memory grew ${(grew / MiB).toFixed(1)} MiB, RSS ${(rssGrew / MiB).toFixed(1)} MiB (ceiling ${CEILING / MiB} MiB; budgets: run ${RUN_BYTES / MiB} MiB, inbox ${INBOX_BYTES / MiB} MiB, instance ${INSTANCE_BYTES / MiB} MiB); answers: ${JSON.stringify(Object.fromEntries(statuses))}`,
    )
    expect(grew).toBeLessThan(CEILING)
    await h.healthy()
  }, 120_000)
})
