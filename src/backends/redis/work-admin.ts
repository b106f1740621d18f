/**
 * Queue administration: the dead letters (list, retry, purge) and exact stats.
 */
import { BackendUnavailableError } from '../../events/errors.js'
import type { DeadJob, WorkStats } from '../../contract/work-contract.js'
import { mapError } from './connection.js'
import type { WorkCore } from './work-core.js'
import { GROUP } from './work-keys.js'
import { promote } from './work-claims.js'

/** The oldest dead jobs, at most `limit` (default 100). */
export async function deadList(
  core: WorkCore,
  queue: string,
  options?: { limit?: number },
): Promise<DeadJob[]> {
  await core.ready()
  const st = core.q(queue)
  const limit = options?.limit ?? 100
  if (limit <= 0) return []
  try {
    const ids = await core.client.zrange(st.keys.deadIdx, '0', String(limit - 1))
    if (ids.length === 0) return []
    const raws = await core.client.hmget(st.keys.dead, ...ids)
    const out: DeadJob[] = []
    for (const raw of raws) if (raw) out.push(JSON.parse(raw) as DeadJob)
    return out
  } catch (err) {
    throw mapError(err, 'dead list')
  }
}

async function deadOp(
  core: WorkCore,
  queue: string,
  mode: 'retry' | 'purge',
  ids?: string[],
): Promise<number> {
  await core.ready()
  const st = core.q(queue)
  const k = st.keys
  await core.ensureGroup(st)
  try {
    if (ids) {
      if (ids.length === 0) return 0
      return (await core.s.dead.run(
        core.client,
        [k.dead, k.deadIdx, k.stream, k.stats],
        [mode, ids.length, ...ids],
      )) as number
    }
    let total = 0
    for (;;) {
      const n = (await core.s.dead.run(
        core.client,
        [k.dead, k.deadIdx, k.stream, k.stats],
        [mode, 1000],
      )) as number
      total += n
      if (n < 1000) return total
    }
  } catch (err) {
    throw mapError(err, `dead ${mode}`)
  }
}

/** Moves dead jobs back to the queue (the given ids, or all). */
export function deadRetry(core: WorkCore, queue: string, ids?: string[]): Promise<number> {
  return deadOp(core, queue, 'retry', ids)
}

/** Deletes dead jobs (the given ids, or all). */
export function deadPurge(core: WorkCore, queue: string, ids?: string[]): Promise<number> {
  return deadOp(core, queue, 'purge', ids)
}

/** Exact counts of the queue (see the comment on `waiting`). */
export async function stats(core: WorkCore, queue: string): Promise<WorkStats> {
  await core.ready()
  const st = core.q(queue)
  await promote(core, st, Date.now())
  const k = st.keys
  const res = await core.withGroup(st, 'work stats', async () => {
    const r = await core.client
      .multi()
      .xinfo('GROUPS', k.stream)
      .xpending(k.stream, GROUP)
      .zcard(k.delayed)
      .zcard(k.deadIdx)
      .hgetall(k.stats)
      .xlen(k.stream)
      .exec()
    if (!r) throw new BackendUnavailableError('Redis aborted the stats transaction')
    for (const [err] of r) if (err) throw err
    return r.map(([, v]) => v)
  })
  const pending = (res[1] as [number, ...unknown[]])[0]
  const h = res[4] as Record<string, string>
  // Waiting = not yet delivered to the group: its lag (exact; settled entries linger in
  // the stream until trimmed, so XLEN is not). The lag is unknown only after entries
  // were deleted behind runbus's back; then XLEN - pending is the best bound there is.
  let waiting: number | undefined
  for (const g of res[0] as unknown[][]) {
    const i = g.indexOf('name')
    if (i < 0 || g[i + 1] !== GROUP) continue
    const lag = g[g.indexOf('lag') + 1]
    if (typeof lag === 'number') waiting = lag
  }
  waiting ??= Math.max(0, (res[5] as number) - pending)
  return {
    waiting,
    inFlight: pending,
    delayed: res[2] as number,
    dead: res[3] as number,
    completed: Number(h.completed ?? 0),
    failed: Number(h.failed ?? 0),
    redelivered: Number(h.redelivered ?? 0),
    lateAcks: Number(h.lateAcks ?? 0),
  }
}
