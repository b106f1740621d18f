/**
 * Claiming jobs: due delayed jobs promoted to the stream, expired leases reclaimed
 * (XAUTOCLAIM, in the work-reclaim script), then new entries read (XREADGROUP; a blocking
 * read goes on the consumer's own connection, bounded and cancellable, see `blocking.ts`).
 */
import type { ClaimedJob, WorkClaimOptions } from '../../contract/work-contract.js'
import { mapError } from './connection.js'
import type { BlockingConnection } from './blocking.js'
import type { QueueState, WorkCore } from './work-core.js'
import { GROUP } from './work-keys.js'
import { type Fields, toClaimed } from './work-lease.js'

/** How often an idle claimer looks for due delayed jobs (other processes may add them). */
const PROMOTE_POLL_MS = 200

/** Claims up to `options.max` jobs for `consumer` (see the file comment). */
export async function claim(
  core: WorkCore,
  queue: string,
  consumer: string,
  options: WorkClaimOptions,
): Promise<ClaimedJob[]> {
  await core.ready()
  const st = core.q(queue)
  const max = Math.max(1, Math.floor(options.max))
  const vis = options.visibilityMs
  const deadline = Date.now() + (options.blockMs ?? 0)
  const reclaimEvery = Math.min(5_000, Math.max(20, Math.floor(vis / 4)))
  await core.ensureGroup(st)
  for (;;) {
    if (core.closed || options.signal?.aborted) return []
    const now = Date.now()
    if (now >= st.nextPromoteAt) await promote(core, st, now)
    const out: ClaimedJob[] = []
    if (now >= st.nextReclaimAt) {
      st.nextReclaimAt = now + reclaimEvery
      out.push(...(await reclaim(core, st, consumer, max, vis, options.maxAttempts ?? 0)))
      // More of the pending list to scan: go on at the next claim.
      if (st.reclaimCursor !== '0-0') st.nextReclaimAt = now
    }
    if (out.length >= max) return out
    // Block only when we have nothing, and no longer than the next promote/reclaim pass.
    const wait =
      out.length > 0 ? 0 : Math.min(deadline, st.nextPromoteAt, st.nextReclaimAt) - Date.now()
    const fresh = await read(core, st, queue, consumer, max - out.length, wait, options.signal)
    for (const [entry, fields] of fresh) out.push(toClaimed(entry, fields, 1, vis, false))
    if (out.length > 0 || Date.now() >= deadline) return out
  }
}

/** Moves due delayed jobs to the stream; notes when the next one is due. */
export async function promote(core: WorkCore, st: QueueState, now: number): Promise<void> {
  const k = st.keys
  try {
    const [, next] = (await core.s.promote.run(
      core.client,
      [k.delayed, k.delayedData, k.stream],
      [now, 1000],
    )) as [number, number]
    st.nextPromoteAt = Math.min(now + PROMOTE_POLL_MS, next < 0 ? Infinity : next)
  } catch (err) {
    throw mapError(err, 'work promote')
  }
}

async function reclaim(
  core: WorkCore,
  st: QueueState,
  consumer: string,
  max: number,
  vis: number,
  maxAttempts: number,
): Promise<ClaimedJob[]> {
  const k = st.keys
  const now = Date.now()
  let forget = 0
  if (now >= st.nextForgetAt) {
    st.nextForgetAt = now + core.forgetEveryMs
    forget = core.forgetIdleMs
  }
  const res = await core.withGroup(
    st,
    'work reclaim',
    () =>
      core.s.reclaim.run(
        core.client,
        [k.stream, k.dead, k.deadIdx, k.stats, k.released],
        [GROUP, consumer, vis, st.reclaimCursor, max, maxAttempts, Date.now(), forget],
      ) as Promise<[string, Array<[string, Fields, number, string]>]>,
  )
  st.reclaimCursor = res[0]
  return res[1].map(([entry, fields, count, released]) =>
    toClaimed(entry, fields, count, vis, released !== '1'),
  )
}

/** XREADGROUP for new entries; blocking ones go on the consumer's own connection. */
async function read(
  core: WorkCore,
  st: QueueState,
  queue: string,
  consumer: string,
  count: number,
  waitMs: number,
  signal: AbortSignal | undefined,
): Promise<Array<[string, Fields]>> {
  const block = Math.min(
    Math.floor(waitMs),
    Math.max(10, Math.floor(core.ctx.commandTimeoutMs / 2)),
  )
  type Reply = Array<[string, Array<[string, Fields]>]> | null
  let reply: Reply
  if (block <= 0) {
    reply = (await core.withGroup(st, 'XREADGROUP', () =>
      core.client.xreadgroup(
        'GROUP',
        GROUP,
        consumer,
        'COUNT',
        count,
        'STREAMS',
        st.keys.stream,
        '>',
      ),
    )) as Reply
  } else {
    // The blocking connection queues commands while Redis is away, so the read is bounded
    // here: past block + command timeout the connection is dropped (a fresh one next
    // time) and the claim fails with BackendUnavailableError. An abort unblocks the read
    // (CLIENT UNBLOCK); if that does not land quickly, the connection is dropped too.
    // Entries a dropped read may have delivered stay pending: redelivered, never lost.
    const bc = await consumerConn(core, queue, consumer)
    reply = await core.withGroup(st, 'XREADGROUP', () =>
      bc.run<Reply>(
        'XREADGROUP',
        (conn) =>
          conn.xreadgroup(
            'GROUP',
            GROUP,
            consumer,
            'COUNT',
            count,
            'BLOCK',
            block,
            'STREAMS',
            st.keys.stream,
            '>',
          ) as Promise<Reply>,
        {
          guardMs: block + core.ctx.commandTimeoutMs,
          signal,
          control: core.ctx.client,
          aborted: null,
        },
      ),
    )
  }
  return reply?.[0]?.[1] ?? []
}

/** The consumer's own blocking connection, its CLIENT ID known (for CLIENT UNBLOCK). */
async function consumerConn(
  core: WorkCore,
  queue: string,
  consumer: string,
): Promise<BlockingConnection> {
  const key = `${queue}\0${consumer}`
  const bc = core.blocking.get(key)
  await bc.id().catch((err: unknown) => {
    core.blocking.drop(key)
    throw mapError(err, 'blocking connection')
  })
  return bc
}
