/**
 * Work queues on Postgres: one `jobs` row per job (state ready, in flight, delayed, dead),
 * claimed with `FOR UPDATE SKIP LOCKED` so concurrent claimers never wait on each other and
 * never get the same job. Every operation is one statement (a function of `schema.ts`):
 * one per add batch, per claim, per ack batch.
 *
 * A lease is `<jid>/<delivery>`: the row's delivery counter is bumped on every delivery and
 * never reused, so a settle naming an older delivery (the lease expired and the job went to
 * someone else, or it was already settled) matches no row and is refused as late.
 *
 * A blocking claim waits for a wake-up: a NOTIFY `w<queue>` (sent by adds, immediate
 * retries and releases, from any process), the next due delayed job or lease expiry the
 * claim reported, the caller's signal, or at most `pollMs` (other processes' leases expire
 * without a notification).
 */
import { ClosedError, InvalidArgumentError, LeaseLostError } from '../../events/errors.js'
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
import type { Driver, Row } from './driver.js'

interface Lease {
  jid: number
  delivery: number
}

function parseLease(lease: string): Lease {
  const slash = lease.indexOf('/')
  const jid = Number(lease.slice(0, slash))
  const delivery = Number(lease.slice(slash + 1))
  if (slash <= 0 || !Number.isSafeInteger(jid) || !Number.isInteger(delivery)) {
    throw new InvalidArgumentError(`not a work lease: ${JSON.stringify(lease)}`)
  }
  return { jid, delivery }
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v)
}

interface Waiter {
  woken: boolean
  wake(): void
}

let idCounter = 0
const idPrefix = Math.random().toString(36).slice(2, 8)

/** The Postgres `WorkStore`. Internal: made by `postgresBackend()`. */
export class PostgresWorkStore implements WorkStore {
  private readonly waiters = new Map<string, Set<Waiter>>()
  private closed = false

  constructor(
    private readonly db: Driver,
    private readonly s: string,
    private readonly ready: () => Promise<void>,
    private readonly pollMs: number,
    /** The NOTIFY channel (deadRetry wakes other processes' claimers). */
    private readonly channel: string,
  ) {}

  private async q(text: string, params: unknown[], what: string): Promise<Row[]> {
    if (this.closed) throw new ClosedError('the work store is closed')
    await this.ready()
    return this.db.query(text, params, what)
  }

  async add(queue: string, jobs: WorkJobDraft[], options?: WorkAddOptions): Promise<WorkAddResult> {
    if (jobs.length === 0) return { ids: [], duplicates: [] }
    // Connect and migrate first: the times below must be those of the statement, not of a
    // first call that waited for the migration.
    await this.ready()
    const n = jobs.length
    const ids = new Array<string>(n)
    const keyed = new Array<boolean>(n)
    const payloads = new Array<string>(n)
    const delays = new Array<number>(n)
    const seen = new Set<string>()
    const inBatch = new Array<boolean>(n).fill(false)
    for (let i = 0; i < n; i++) {
      const j = jobs[i]
      if (j.id !== undefined) {
        ids[i] = j.id
        keyed[i] = true
        // A repeat within the batch is a duplicate of the first: it never reaches the table.
        if (seen.has(j.id)) inBatch[i] = true
        seen.add(j.id)
      } else {
        ids[i] = `${idPrefix}-${(++idCounter).toString(36)}`
        keyed[i] = false
      }
      payloads[i] = j.payload
      delays[i] = j.delayMs !== undefined && j.delayMs > 0 ? j.delayMs : 0
    }
    const send = inBatch.includes(true) ? [...Array(n).keys()].filter((i) => !inBatch[i]) : null
    const pick = <T>(a: T[]): T[] => (send === null ? a : send.map((i) => a[i]))
    const rows = await this.q(
      `SELECT ${this.s}.work_add($1, $2, $3, $4, $5, $6, $7) AS dups`,
      [
        queue,
        pick(ids),
        pick(keyed),
        pick(payloads),
        pick(delays),
        Date.now(),
        options?.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS,
      ],
      'work add',
    )
    const flags = rows[0].dups as boolean[]
    const duplicates: string[] = []
    let k = 0
    for (let i = 0; i < n; i++) {
      if (inBatch[i]) duplicates.push(ids[i])
      else if (flags[k++]) duplicates.push(ids[i])
    }
    this.wake(queue)
    return { ids, duplicates }
  }

  async claim(queue: string, consumer: string, options: WorkClaimOptions): Promise<ClaimedJob[]> {
    const max = Math.max(1, Math.floor(options.max))
    await this.ready()
    const deadline = Date.now() + (options.blockMs ?? 0)
    const block = (options.blockMs ?? 0) > 0
    if (block) await this.db.listen()
    for (;;) {
      if (this.closed || options.signal?.aborted) return []
      const waiter = block ? this.waiter(queue) : undefined
      try {
        const now = Date.now()
        const rows = await this.q(
          `SELECT * FROM ${this.s}.work_claim($1, $2, $3, $4, $5, $6)`,
          [queue, consumer, max, options.visibilityMs, options.maxAttempts ?? 0, now],
          'work claim',
        )
        const out: ClaimedJob[] = []
        let nextAt = Infinity
        const fresh: Array<[number, ClaimedJob]> = []
        for (const r of rows) {
          if (r.jid === null) {
            if (r.next_at !== null) nextAt = num(r.next_at)
            continue
          }
          const job: ClaimedJob = {
            id: r.id as string,
            payload: r.payload as string,
            attempt: num(r.attempts),
            firstSeenAt: num(r.first_seen),
            redelivered: r.redelivered === true,
            lease: `${num(r.jid)}/${num(r.delivery)}`,
          }
          if (typeof r.last_error === 'string') job.lastError = r.last_error
          if (job.redelivered) out.push(job)
          else fresh.push([num(r.ord), job])
        }
        fresh.sort((a, b) => a[0] - b[0])
        for (const [, job] of fresh) out.push(job)
        if (out.length > 0) return out
        const left = deadline - Date.now()
        if (left <= 0 || !waiter) return []
        if (waiter.woken) continue
        const wait = Math.max(1, Math.min(left, nextAt - Date.now() + 1, this.pollMs))
        await this.sleep(waiter, wait, options.signal)
      } finally {
        if (waiter) this.waiters.get(queue)?.delete(waiter)
      }
    }
  }

  private waiter(queue: string): Waiter {
    let set = this.waiters.get(queue)
    if (!set) this.waiters.set(queue, (set = new Set()))
    const w: Waiter = { woken: false, wake: () => (w.woken = true) }
    set.add(w)
    return w
  }

  private sleep(w: Waiter, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        w.wake = () => (w.woken = true)
        resolve()
      }
      const timer = setTimeout(done, ms)
      w.wake = () => {
        w.woken = true
        done()
      }
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  /** Wakes this process's blocked claims of `queue` (a NOTIFY `w<queue>` or a local add). */
  wake(queue: string): void {
    const set = this.waiters.get(queue)
    if (set) for (const w of [...set]) w.wake()
  }

  /** Wakes every blocked claim (the listening connection came back). */
  wakeAll(): void {
    for (const q of this.waiters.keys()) this.wake(q)
  }

  async ack(queue: string, consumer: string, leases: string[]): Promise<WorkAckResult> {
    if (leases.length === 0) return { acked: 0, late: [] }
    const parsed = leases.map(parseLease)
    const rows = await this.q(
      `SELECT ${this.s}.work_ack($1, $2, $3, $4) AS done`,
      [queue, consumer, parsed.map((l) => l.jid), parsed.map((l) => l.delivery)],
      'work ack',
    )
    const done = new Set((rows[0].done as unknown[]).map(num))
    const late: string[] = []
    let acked = 0
    for (let i = 0; i < leases.length; i++) {
      // The same lease twice in a batch: the second is late.
      if (done.delete(parsed[i].jid)) acked++
      else late.push(leases[i])
    }
    return { acked, late }
  }

  async retry(
    queue: string,
    consumer: string,
    lease: string,
    options: { delayMs: number; error: string },
  ): Promise<void> {
    await this.settle(queue, consumer, lease, false, options.delayMs, options.error)
  }

  async deadLetter(queue: string, consumer: string, lease: string, reason: string): Promise<void> {
    await this.settle(queue, consumer, lease, true, 0, reason)
  }

  private async settle(
    queue: string,
    consumer: string,
    lease: string,
    dead: boolean,
    delayMs: number,
    text: string,
  ): Promise<void> {
    const l = parseLease(lease)
    await this.ready()
    const rows = await this.q(
      `SELECT ${this.s}.work_settle($1, $2, $3, $4, $5, $6, $7, $8) AS ok`,
      [queue, consumer, l.jid, l.delivery, dead, Math.max(0, delayMs), text, Date.now()],
      dead ? 'work deadLetter' : 'work retry',
    )
    if (rows[0].ok !== true) throw new LeaseLostError(lease)
    if (!dead && delayMs <= 0) this.wake(queue)
  }

  async extend(queue: string, consumer: string, lease: string, ms: number): Promise<void> {
    const l = parseLease(lease)
    await this.ready()
    const rows = await this.q(
      `SELECT ${this.s}.work_extend($1, $2, $3, $4, $5, $6) AS r`,
      [queue, consumer, l.jid, l.delivery, ms, Date.now()],
      'work extend',
    )
    const r = num(rows[0].r)
    if (r < 0) throw new LeaseLostError(lease)
    if (r > 0) {
      throw new InvalidArgumentError(
        `extend(ms): ms must be in (0, ${r}] (the visibility timeout), got ${ms}`,
      )
    }
  }

  async release(queue: string, consumer: string, leases: string[]): Promise<number> {
    if (leases.length === 0) return 0
    const parsed = leases.map(parseLease)
    const rows = await this.q(
      `SELECT ${this.s}.work_release($1, $2, $3, $4) AS n`,
      [queue, consumer, parsed.map((l) => l.jid), parsed.map((l) => l.delivery)],
      'work release',
    )
    const n = num(rows[0].n)
    if (n > 0) this.wake(queue)
    return n
  }

  async removeConsumer(_queue: string, _consumer: string): Promise<void> {
    // Nothing is kept per consumer: leases live on the job rows.
  }

  async deadList(queue: string, options?: { limit?: number }): Promise<DeadJob[]> {
    const rows = await this.q(
      `SELECT id, payload, attempts, first_seen, dead_at, reason FROM ${this.s}.jobs
       WHERE queue = $1 AND state = 2 ORDER BY dead_at, jid LIMIT $2`,
      [queue, options?.limit ?? 100],
      'work deadList',
    )
    return rows.map((r) => ({
      id: r.id as string,
      payload: r.payload as string,
      attempts: num(r.attempts),
      firstSeenAt: num(r.first_seen),
      deadAt: num(r.dead_at),
      reason: (r.reason as string | null) ?? '',
    }))
  }

  async deadRetry(queue: string, ids?: string[]): Promise<number> {
    const rows = await this.q(
      `WITH u AS (
         UPDATE ${this.s}.jobs SET state = 0, attempts = 0, ord = nextval('${this.s}.job_seq'),
           last_error = NULL, dead_at = NULL, reason = NULL
         WHERE queue = $1 AND state = 2 AND ($2::text[] IS NULL OR id = ANY ($2))
         RETURNING 1
       ) SELECT c.n, pg_notify($3, 'w' || $1) FROM (SELECT count(*) AS n FROM u) c`,
      [queue, ids ?? null, this.channel],
      'work deadRetry',
    )
    const n = num(rows[0].n)
    if (n > 0) this.wake(queue)
    return n
  }

  async deadPurge(queue: string, ids?: string[]): Promise<number> {
    const rows = await this.q(
      `WITH d AS (
         DELETE FROM ${this.s}.jobs WHERE queue = $1 AND state = 2
           AND ($2::text[] IS NULL OR id = ANY ($2))
         RETURNING 1
       ) SELECT count(*) AS n FROM d`,
      [queue, ids ?? null],
      'work deadPurge',
    )
    return num(rows[0].n)
  }

  async stats(queue: string): Promise<WorkStats> {
    await this.ready()
    const rows = await this.q(
      `SELECT
         (SELECT count(*) FROM ${this.s}.jobs WHERE queue = $1 AND (state = 0 OR (state = 3 AND due <= $2))) AS waiting,
         (SELECT count(*) FROM ${this.s}.jobs WHERE queue = $1 AND state = 1) AS in_flight,
         (SELECT count(*) FROM ${this.s}.jobs WHERE queue = $1 AND state = 3 AND due > $2) AS delayed,
         (SELECT count(*) FROM ${this.s}.jobs WHERE queue = $1 AND state = 2) AS dead,
         s.completed, s.failed, s.redelivered, s.late_acks
       FROM (SELECT coalesce(sum(completed), 0) AS completed, coalesce(sum(failed), 0) AS failed,
               coalesce(sum(redelivered), 0) AS redelivered, coalesce(sum(late_acks), 0) AS late_acks
             FROM ${this.s}.work_stats WHERE queue = $1) s`,
      [queue, Date.now()],
      'work stats',
    )
    const r = rows[0]
    return {
      waiting: num(r.waiting),
      inFlight: num(r.in_flight),
      delayed: num(r.delayed),
      dead: num(r.dead),
      completed: num(r.completed),
      failed: num(r.failed),
      redelivered: num(r.redelivered),
      lateAcks: num(r.late_acks),
    }
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true
      this.wakeAll()
      this.waiters.clear()
    }
    return Promise.resolve()
  }
}
