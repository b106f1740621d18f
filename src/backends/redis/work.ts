/**
 * Redis work-queue storage: the Redis backend's `WorkStore`, on Streams consumer groups.
 *
 * Layout per queue (hash tag = the queue name, so one Cluster slot holds a queue):
 * - `work:stream` — waiting and in-flight jobs. One consumer group (`runbus`); a claim is
 *   XREADGROUP (new) or XAUTOCLAIM (expired leases). Entry fields: `p` payload; `j` job id
 *   (absent: the job id is the first entry id); `a` attempts made before this entry; `t`
 *   first-seen ms (absent: the entry id's time); `e` last error. Settled entries are
 *   XACKed and trimmed away (XTRIM MINID up to the oldest pending entry); `waiting` is
 *   the group's lag.
 * - `work:delayed` + `work:delayed-data` — delayed jobs and retries in back-off (sorted set
 *   of due times, hash of records), moved to the stream by `work-promote`.
 * - `work:dead` + `work:dead-idx` — dead letters (records by job id, dead-at order).
 * - `work:stats` — counters; `work:released` — entries given back by `release`;
 *   `work:id:<id>` — idempotency keys (SET NX PX).
 *
 * A lease is `<entry id>/<delivery count>/<visibility ms>`. The pending list says who holds
 * an entry and its delivery count; a settle whose consumer or count no longer match is
 * stale (the job was redelivered) and is refused. The hot path is one XADD per job
 * (pipelined), one XREADGROUP per claimed batch, one script (one multi-id XACK) per acked
 * batch.
 */
import {
  BackendUnavailableError,
  ClosedError,
  InvalidArgumentError,
  LeaseLostError,
} from '../../events/errors.js'
import {
  type ClaimedJob,
  type DeadJob,
  DEFAULT_IDEMPOTENCY_TTL_MS,
  type WorkAckResult,
  type WorkAddOptions,
  type WorkAddResult,
  type WorkClaimOptions,
  type WorkJobDraft,
  type WorkStats,
  type WorkStore,
} from '../../contract/work-contract.js'
import { mapError, whenReady } from './connection.js'
import type { RedisConnection, RedisContext } from './context.js'
import { type LuaScript, loadScript } from './scripts.js'
import { type BlockingConnection, BlockingPool } from './blocking.js'

const GROUP = 'runbus'
/** How often an idle claimer looks for due delayed jobs (other processes may add them). */
const PROMOTE_POLL_MS = 200
/** How often one process sweeps a queue's group for consumers of dead processes. */
const FORGET_EVERY_MS = 60_000
/** A consumer holding nothing and idle this long is forgotten (see work-reclaim). */
const FORGET_IDLE_MS = 10 * 60_000
/** Largest XADD pipeline chunk for plain adds. */
const ADD_CHUNK = 1000

let scripts:
  | {
      add: LuaScript
      promote: LuaScript
      reclaim: LuaScript
      ack: LuaScript
      fail: LuaScript
      lease: LuaScript
      dead: LuaScript
      dropConsumer: LuaScript
    }
  | undefined

function workScripts(): NonNullable<typeof scripts> {
  scripts ??= {
    add: loadScript('work-add', 4),
    promote: loadScript('work-promote', 3),
    reclaim: loadScript('work-reclaim', 5),
    ack: loadScript('work-ack', 2),
    fail: loadScript('work-fail', 6),
    lease: loadScript('work-lease', 3),
    dead: loadScript('work-dead', 4),
    dropConsumer: loadScript('work-drop-consumer', 1),
  }
  return scripts
}

interface Keys {
  stream: string
  delayed: string
  delayedData: string
  dead: string
  deadIdx: string
  stats: string
  released: string
  idPrefix: string
}

interface Lease {
  entry: string
  count: number
  visibilityMs: number
}

function parseLease(lease: string): Lease {
  const a = lease.indexOf('/')
  const b = lease.indexOf('/', a + 1)
  const c = Number(lease.slice(a + 1, b))
  const v = Number(lease.slice(b + 1))
  if (a <= 0 || b < 0 || !Number.isInteger(c) || !(v > 0))
    throw new InvalidArgumentError(`not a work lease: ${JSON.stringify(lease)}`)
  return { entry: lease.slice(0, a), count: c, visibilityMs: v }
}

/** Whether stream id `a` (`<ms>-<seq>`) is before `b`, without splitting strings. */
function idLess(a: string, b: string): boolean {
  const ia = a.indexOf('-')
  const ib = b.indexOf('-')
  if (ia !== ib) return ia < ib // more ms digits = later
  for (let i = 0; i < ia; i++) {
    const ca = a.charCodeAt(i)
    const cb = b.charCodeAt(i)
    if (ca !== cb) return ca < cb
  }
  return Number(a.slice(ia + 1)) < Number(b.slice(ib + 1))
}

type Fields = string[]

function toClaimed(
  entry: string,
  fields: Fields,
  count: number,
  visibilityMs: number,
  redelivered: boolean,
): ClaimedJob {
  let id = entry
  let payload = ''
  let before = 0
  let first: number | undefined
  let lastError: string | undefined
  for (let i = 0; i < fields.length; i += 2) {
    const v = fields[i + 1]
    switch (fields[i]) {
      case 'p':
        payload = v
        break
      case 'j':
        id = v
        break
      case 'a':
        before = Number(v)
        break
      case 't':
        first = Number(v)
        break
      case 'e':
        lastError = v
        break
    }
  }
  const job: ClaimedJob = {
    id,
    payload,
    attempt: before + count,
    firstSeenAt: first ?? Number(entry.slice(0, entry.indexOf('-'))),
    redelivered,
    lease: `${entry}/${count}/${visibilityMs}`,
  }
  if (lastError !== undefined) job.lastError = lastError
  return job
}

interface QueueState {
  keys: Keys
  group: Promise<void> | undefined
  nextPromoteAt: number
  nextReclaimAt: number
  reclaimCursor: string
  nextForgetAt: number
}

let genCounter = 0
const genPrefix = Math.random().toString(36).slice(2, 8)

/** Tuning of the Redis work store (defaults suit production; tests shorten them). */
export interface RedisWorkStoreOptions {
  /** Forget group consumers that hold nothing after this idle time, ms (default 10 min). */
  forgetIdleMs?: number
  /** How often a process sweeps a queue's group for such consumers, ms (default 60 s). */
  forgetEveryMs?: number
}

/** Creates the Redis backend's work store over `ctx` (it closes only what it opened). */
export function createRedisWorkStore(
  ctx: RedisContext,
  options: RedisWorkStoreOptions = {},
): WorkStore & { close(): Promise<void> } {
  return new RedisWorkStore(ctx, options)
}

/** The Redis `WorkStore`. Internal: use `createRedisWorkStore(ctx)`. */
class RedisWorkStore implements WorkStore {
  private readonly queues = new Map<string, QueueState>()
  /** Dedicated connections for blocking reads, one per consumer (`queue\0consumer`). */
  private readonly blocking: BlockingPool
  private closed = false
  private readonly s = workScripts()

  private readonly forgetIdleMs: number
  private readonly forgetEveryMs: number

  constructor(
    private readonly ctx: RedisContext,
    options: RedisWorkStoreOptions,
  ) {
    this.forgetIdleMs = options.forgetIdleMs ?? FORGET_IDLE_MS
    this.forgetEveryMs = options.forgetEveryMs ?? FORGET_EVERY_MS
    this.blocking = new BlockingPool(() => ctx.duplicate(), ctx.commandTimeoutMs)
  }

  private get client(): RedisConnection {
    if (this.closed) throw new ClosedError('the work store is closed')
    return this.ctx.client
  }

  /**
   * Waits (at most the command timeout) for the command connection to be ready: runbus's
   * connections run without an offline queue, so a command sent while connecting fails.
   */
  private ready(): Promise<void> | undefined {
    const client = this.client
    if (client.status === 'ready') return undefined
    return whenReady(client, this.ctx.commandTimeoutMs)
  }

  private q(queue: string): QueueState {
    if (this.closed) throw new ClosedError('the work store is closed')
    let st = this.queues.get(queue)
    if (!st) {
      const k = (s: string) => this.ctx.key(queue, `work:${s}`)
      st = {
        keys: {
          stream: k('stream'),
          delayed: k('delayed'),
          delayedData: k('delayed-data'),
          dead: k('dead'),
          deadIdx: k('dead-idx'),
          stats: k('stats'),
          released: k('released'),
          idPrefix: k('id:'),
        },
        group: undefined,
        nextPromoteAt: 0,
        nextReclaimAt: 0,
        reclaimCursor: '0-0',
        nextForgetAt: Date.now() + this.forgetEveryMs,
      }
      this.queues.set(queue, st)
    }
    return st
  }

  /** Creates the stream and its group once (MKSTREAM; BUSYGROUP means it exists). */
  private ensureGroup(st: QueueState): Promise<void> {
    st.group ??= this.client.xgroup('CREATE', st.keys.stream, GROUP, '0', 'MKSTREAM').then(
      () => undefined,
      (err: unknown) => {
        if (err instanceof Error && err.message.includes('BUSYGROUP')) return
        st.group = undefined
        throw mapError(err, 'XGROUP CREATE')
      },
    )
    return st.group
  }

  /** Runs `fn`; on NOGROUP (the stream was deleted behind our back) recreates and retries once. */
  private async withGroup<T>(st: QueueState, what: string, fn: () => Promise<T>): Promise<T> {
    await this.ensureGroup(st)
    try {
      return await fn()
    } catch (err) {
      if (err instanceof Error && err.message.includes('NOGROUP')) {
        st.group = undefined
        await this.ensureGroup(st)
        try {
          return await fn()
        } catch (err2) {
          throw mapError(err2, what)
        }
      }
      throw mapError(err, what)
    }
  }

  async add(queue: string, jobs: WorkJobDraft[], options?: WorkAddOptions): Promise<WorkAddResult> {
    await this.ready()
    const st = this.q(queue)
    const client = this.client
    if (jobs.length === 0) return { ids: [], duplicates: [] }
    const plain = jobs.every(
      (j) => j.id === undefined && !(j.delayMs !== undefined && j.delayMs > 0),
    )
    try {
      if (plain) {
        // The hot path: one XADD per job, pipelined; the entry id is the job id.
        const ids: string[] = []
        for (let i = 0; i < jobs.length; i += ADD_CHUNK) {
          const pipe = client.pipeline()
          for (const j of jobs.slice(i, i + ADD_CHUNK))
            pipe.xadd(st.keys.stream, '*', 'p', j.payload)
          const res = await pipe.exec()
          for (const [err, id] of res ?? []) {
            if (err) throw err
            ids.push(id as string)
          }
        }
        return { ids, duplicates: [] }
      }
      const args: Array<string | number> = [
        Date.now(),
        options?.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS,
      ]
      for (const j of jobs) {
        const delayed = j.delayMs !== undefined && j.delayMs > 0
        // A delayed job has no entry id yet to name it: give it one now.
        const id = j.id ?? (delayed ? `${genPrefix}-${(++genCounter).toString(36)}` : '')
        args.push(
          id,
          j.id === undefined ? '0' : '1',
          j.payload,
          delayed ? Math.ceil(j.delayMs!) : 0,
        )
      }
      const k = st.keys
      const res = (await this.s.add.run(
        client,
        [k.stream, k.delayed, k.delayedData, k.idPrefix],
        args,
      )) as string[]
      const ids: string[] = []
      const duplicates: string[] = []
      for (let i = 0; i < res.length; i += 2) {
        ids.push(res[i])
        if (res[i + 1] === '1') duplicates.push(res[i])
      }
      if (jobs.some((j) => j.delayMs !== undefined && j.delayMs > 0)) {
        const soonest = Math.min(
          ...jobs.map((j) => (j.delayMs ? Date.now() + j.delayMs : Infinity)),
        )
        st.nextPromoteAt = Math.min(st.nextPromoteAt, soonest)
      }
      return { ids, duplicates }
    } catch (err) {
      throw mapError(err, 'work add')
    }
  }

  async claim(queue: string, consumer: string, options: WorkClaimOptions): Promise<ClaimedJob[]> {
    await this.ready()
    const st = this.q(queue)
    const max = Math.max(1, Math.floor(options.max))
    const vis = options.visibilityMs
    const deadline = Date.now() + (options.blockMs ?? 0)
    const reclaimEvery = Math.min(5_000, Math.max(20, Math.floor(vis / 4)))
    await this.ensureGroup(st)
    for (;;) {
      if (this.closed || options.signal?.aborted) return []
      const now = Date.now()
      if (now >= st.nextPromoteAt) await this.promote(st, now)
      const out: ClaimedJob[] = []
      if (now >= st.nextReclaimAt) {
        st.nextReclaimAt = now + reclaimEvery
        out.push(...(await this.reclaim(st, consumer, max, vis, options.maxAttempts ?? 0)))
        // More of the pending list to scan: go on at the next claim.
        if (st.reclaimCursor !== '0-0') st.nextReclaimAt = now
      }
      if (out.length >= max) return out
      // Block only when we have nothing, and no longer than the next promote/reclaim pass.
      const wait =
        out.length > 0 ? 0 : Math.min(deadline, st.nextPromoteAt, st.nextReclaimAt) - Date.now()
      const fresh = await this.read(st, queue, consumer, max - out.length, wait, options.signal)
      for (const [entry, fields] of fresh) out.push(toClaimed(entry, fields, 1, vis, false))
      if (out.length > 0 || Date.now() >= deadline) return out
    }
  }

  private async promote(st: QueueState, now: number): Promise<void> {
    const k = st.keys
    try {
      const [, next] = (await this.s.promote.run(
        this.client,
        [k.delayed, k.delayedData, k.stream],
        [now, 1000],
      )) as [number, number]
      st.nextPromoteAt = Math.min(now + PROMOTE_POLL_MS, next < 0 ? Infinity : next)
    } catch (err) {
      throw mapError(err, 'work promote')
    }
  }

  private async reclaim(
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
      st.nextForgetAt = now + this.forgetEveryMs
      forget = this.forgetIdleMs
    }
    const res = await this.withGroup(
      st,
      'work reclaim',
      () =>
        this.s.reclaim.run(
          this.client,
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
  private async read(
    st: QueueState,
    queue: string,
    consumer: string,
    count: number,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Array<[string, Fields]>> {
    const block = Math.min(
      Math.floor(waitMs),
      Math.max(10, Math.floor(this.ctx.commandTimeoutMs / 2)),
    )
    type Reply = Array<[string, Array<[string, Fields]>]> | null
    let reply: Reply
    if (block <= 0) {
      reply = (await this.withGroup(st, 'XREADGROUP', () =>
        this.client.xreadgroup(
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
      const bc = await this.consumerConn(queue, consumer)
      reply = await this.withGroup(st, 'XREADGROUP', () =>
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
            guardMs: block + this.ctx.commandTimeoutMs,
            signal,
            control: this.ctx.client,
            aborted: null,
          },
        ),
      )
    }
    return reply?.[0]?.[1] ?? []
  }

  /** The consumer's own blocking connection, its CLIENT ID known (for CLIENT UNBLOCK). */
  private async consumerConn(queue: string, consumer: string): Promise<BlockingConnection> {
    const key = `${queue}\0${consumer}`
    const bc = this.blocking.get(key)
    await bc.id().catch((err: unknown) => {
      this.blocking.drop(key)
      throw mapError(err, 'blocking connection')
    })
    return bc
  }

  async ack(queue: string, consumer: string, leases: string[]): Promise<WorkAckResult> {
    await this.ready()
    if (leases.length === 0) return { acked: 0, late: [] }
    const st = this.q(queue)
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
    const late = (await this.withGroup(st, 'work ack', () =>
      this.s.ack.run(this.client, [st.keys.stream, st.keys.stats], args),
    )) as number[]
    return { acked: leases.length - late.length, late: late.map((i) => leases[i - 1]) }
  }

  private async fail(
    queue: string,
    consumer: string,
    lease: string,
    mode: 'retry' | 'dead',
    delayMs: number,
    text: string,
  ): Promise<void> {
    await this.ready()
    const st = this.q(queue)
    const l = parseLease(lease)
    const k = st.keys
    const ok = await this.withGroup(st, `work ${mode}`, () =>
      this.s.fail.run(
        this.client,
        [k.stream, k.delayed, k.delayedData, k.dead, k.deadIdx, k.stats],
        [
          GROUP,
          consumer,
          l.entry,
          l.count,
          mode,
          Math.max(0, Math.ceil(delayMs)),
          text,
          Date.now(),
        ],
      ),
    )
    if (ok !== 1) throw new LeaseLostError(l.entry)
    if (mode === 'retry' && delayMs > 0)
      st.nextPromoteAt = Math.min(st.nextPromoteAt, Date.now() + delayMs)
  }

  retry(
    queue: string,
    consumer: string,
    lease: string,
    options: { delayMs: number; error: string },
  ): Promise<void> {
    return this.fail(queue, consumer, lease, 'retry', options.delayMs, options.error)
  }

  deadLetter(queue: string, consumer: string, lease: string, reason: string): Promise<void> {
    return this.fail(queue, consumer, lease, 'dead', 0, reason)
  }

  async extend(queue: string, consumer: string, lease: string, ms: number): Promise<void> {
    await this.ready()
    const st = this.q(queue)
    const l = parseLease(lease)
    if (!(ms > 0 && ms <= l.visibilityMs))
      throw new InvalidArgumentError(
        `extend(ms): ms must be in (0, ${l.visibilityMs}] (the visibility timeout), got ${ms}`,
      )
    const k = st.keys
    const n = await this.withGroup(st, 'work extend', () =>
      this.s.lease.run(
        this.client,
        [k.stream, k.stats, k.released],
        [GROUP, consumer, 'extend', Math.floor(l.visibilityMs - ms), l.entry, l.count],
      ),
    )
    if (n !== 1) throw new LeaseLostError(l.entry)
  }

  async release(queue: string, consumer: string, leases: string[]): Promise<number> {
    await this.ready()
    if (leases.length === 0) return 0
    const st = this.q(queue)
    const k = st.keys
    const args: Array<string | number> = [GROUP, consumer, 'release', 0]
    for (const l of leases.map(parseLease)) args.push(l.entry, l.count)
    const n = (await this.withGroup(st, 'work release', () =>
      this.s.lease.run(this.client, [k.stream, k.stats, k.released], args),
    )) as number
    st.nextReclaimAt = 0
    return n
  }

  async removeConsumer(queue: string, consumer: string): Promise<void> {
    this.blocking.drop(`${queue}\0${consumer}`)
    if (this.closed) return
    const st = this.q(queue)
    await this.withGroup(st, 'work remove consumer', () =>
      this.s.dropConsumer.run(this.client, [st.keys.stream], [GROUP, consumer]),
    )
  }

  async deadList(queue: string, options?: { limit?: number }): Promise<DeadJob[]> {
    await this.ready()
    const st = this.q(queue)
    const limit = options?.limit ?? 100
    if (limit <= 0) return []
    try {
      const ids = await this.client.zrange(st.keys.deadIdx, '0', String(limit - 1))
      if (ids.length === 0) return []
      const raws = await this.client.hmget(st.keys.dead, ...ids)
      const out: DeadJob[] = []
      for (const raw of raws) if (raw) out.push(JSON.parse(raw) as DeadJob)
      return out
    } catch (err) {
      throw mapError(err, 'dead list')
    }
  }

  private async deadOp(queue: string, mode: 'retry' | 'purge', ids?: string[]): Promise<number> {
    await this.ready()
    const st = this.q(queue)
    const k = st.keys
    await this.ensureGroup(st)
    try {
      if (ids) {
        if (ids.length === 0) return 0
        return (await this.s.dead.run(
          this.client,
          [k.dead, k.deadIdx, k.stream, k.stats],
          [mode, ids.length, ...ids],
        )) as number
      }
      let total = 0
      for (;;) {
        const n = (await this.s.dead.run(
          this.client,
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

  deadRetry(queue: string, ids?: string[]): Promise<number> {
    return this.deadOp(queue, 'retry', ids)
  }

  deadPurge(queue: string, ids?: string[]): Promise<number> {
    return this.deadOp(queue, 'purge', ids)
  }

  async stats(queue: string): Promise<WorkStats> {
    await this.ready()
    const st = this.q(queue)
    await this.promote(st, Date.now())
    const k = st.keys
    const res = await this.withGroup(st, 'work stats', async () => {
      const r = await this.client
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

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true
      this.blocking.close()
      this.queues.clear()
    }
    return Promise.resolve()
  }
}
