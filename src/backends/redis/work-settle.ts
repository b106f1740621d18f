/**
 * Settling leases: acks in batches (one script, one multi-id XACK), failures (retry after
 * a back-off, or the dead letters), extend and release; and removing a consumer. Each is
 * honoured only for the current lease holder (see `work-lease.ts`).
 */
import { InvalidArgumentError, LeaseLostError } from '../../events/errors.js'
import type { WorkAckResult } from '../../contract/work-contract.js'
import type { WorkCore } from './work-core.js'
import { GROUP } from './work-keys.js'
import { idLess, parseLease } from './work-lease.js'

/** Acknowledges `leases` of `consumer`; stale ones come back in `late`. */
export async function ack(
  core: WorkCore,
  queue: string,
  consumer: string,
  leases: string[],
): Promise<WorkAckResult> {
  await core.ready()
  if (leases.length === 0) return { acked: 0, late: [] }
  const st = core.q(queue)
  const args: Array<string | number> = [GROUP, consumer, '', '']
  let lo = ''
  let hi = ''
  for (const lease of leases) {
    const l = parseLease(lease)
    if (lo === '' || idLess(l.entry, lo)) lo = l.entry
    if (hi === '' || idLess(hi, l.entry)) hi = l.entry
    args.push(l.entry, l.count)
  }
  args[2] = lo
  args[3] = hi
  const late = (await core.withGroup(st, 'work ack', () =>
    core.s.ack.run(core.client, [st.keys.stream, st.keys.stats], args),
  )) as number[]
  return { acked: leases.length - late.length, late: late.map((i) => leases[i - 1]) }
}

async function fail(
  core: WorkCore,
  queue: string,
  consumer: string,
  lease: string,
  mode: 'retry' | 'dead',
  delayMs: number,
  text: string,
): Promise<void> {
  await core.ready()
  const st = core.q(queue)
  const l = parseLease(lease)
  const k = st.keys
  const ok = await core.withGroup(st, `work ${mode}`, () =>
    core.s.fail.run(
      core.client,
      [k.stream, k.delayed, k.delayedData, k.dead, k.deadIdx, k.stats],
      [GROUP, consumer, l.entry, l.count, mode, Math.max(0, Math.ceil(delayMs)), text, Date.now()],
    ),
  )
  if (ok !== 1) throw new LeaseLostError(l.entry)
  if (mode === 'retry' && delayMs > 0)
    st.nextPromoteAt = Math.min(st.nextPromoteAt, Date.now() + delayMs)
}

/** Fails a job's attempt: back to the queue after `delayMs`. */
export function retry(
  core: WorkCore,
  queue: string,
  consumer: string,
  lease: string,
  options: { delayMs: number; error: string },
): Promise<void> {
  return fail(core, queue, consumer, lease, 'retry', options.delayMs, options.error)
}

/** Fails a job for good: to the dead letters with `reason`. */
export function deadLetter(
  core: WorkCore,
  queue: string,
  consumer: string,
  lease: string,
  reason: string,
): Promise<void> {
  return fail(core, queue, consumer, lease, 'dead', 0, reason)
}

/** Renews a lease so it runs out in `ms`. */
export async function extend(
  core: WorkCore,
  queue: string,
  consumer: string,
  lease: string,
  ms: number,
): Promise<void> {
  await core.ready()
  const st = core.q(queue)
  const l = parseLease(lease)
  if (!(ms > 0 && ms <= l.visibilityMs))
    throw new InvalidArgumentError(
      `extend(ms): ms must be in (0, ${l.visibilityMs}] (the visibility timeout), got ${ms}`,
    )
  const k = st.keys
  const n = await core.withGroup(st, 'work extend', () =>
    core.s.lease.run(
      core.client,
      [k.stream, k.stats, k.released],
      [GROUP, consumer, 'extend', Math.floor(l.visibilityMs - ms), l.entry, l.count],
    ),
  )
  if (n !== 1) throw new LeaseLostError(l.entry)
}

/** Gives leases back for the next reclaim pass; resolves with how many were. */
export async function release(
  core: WorkCore,
  queue: string,
  consumer: string,
  leases: string[],
): Promise<number> {
  await core.ready()
  if (leases.length === 0) return 0
  const st = core.q(queue)
  const k = st.keys
  const args: Array<string | number> = [GROUP, consumer, 'release', 0]
  for (const l of leases.map(parseLease)) args.push(l.entry, l.count)
  const n = (await core.withGroup(st, 'work release', () =>
    core.s.lease.run(core.client, [k.stream, k.stats, k.released], args),
  )) as number
  st.nextReclaimAt = 0
  return n
}

/** Drops the consumer's blocking connection and removes it from the group once it holds nothing. */
export async function removeConsumer(
  core: WorkCore,
  queue: string,
  consumer: string,
): Promise<void> {
  core.blocking.drop(`${queue}\0${consumer}`)
  if (core.closed) return
  const st = core.q(queue)
  await core.withGroup(st, 'work remove consumer', () =>
    core.s.dropConsumer.run(core.client, [st.keys.stream], [GROUP, consumer]),
  )
}
