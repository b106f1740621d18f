/**
 * One small database interface over the two engines the Postgres backend runs on: a real
 * server through node-postgres (`pg.Pool`) and PGlite (Postgres compiled to WASM, in this
 * process). Everything above it speaks SQL text and parameters only.
 *
 * Invariants:
 * - Every call is bounded: it settles within `timeoutMs` or rejects with
 *   `BackendUnavailableError`; nothing hangs forever, whether the server is refusing
 *   connections, gone silent, or killed our connection.
 * - A statement is retried (until the deadline) only when it certainly did not take effect:
 *   the connection could not be opened, or the server aborted it (`57P01`
 *   `pg_terminate_backend`, `57P03` starting up, `53300` too many connections). A statement
 *   whose connection dropped without an answer may or may not have been applied: it
 *   rejects with `BackendUnavailableError` saying so, never retried behind the caller's back.
 * - ONE listening connection per driver (`LISTEN` on one channel): every follow, bus
 *   subscription and blocking claim of the process shares it. When it drops it reconnects
 *   with full-jitter back-off and then reports `onReconnect` (notifications sent meanwhile
 *   are lost: the readers above re-read rows, the bus reports the interruption).
 * - PGlite runs one statement at a time (it has one backend); its own mutex serializes
 *   our calls, and every operation of this backend is a single statement, so no two
 *   callers ever interleave inside a transaction.
 */
import type { Pool, PoolClient, PoolConfig, Client as PgClient, Notification } from 'pg'
import type { PGliteInterface } from '@electric-sql/pglite'
import {
  BackendUnavailableError,
  ClosedError,
  RunEndedError,
  RunExistsError,
  RunNotFoundError,
  RunbusError,
} from '../../events/errors.js'
import { withDeadline } from '../../events/deadline.js'
import { backoffDelay } from '../../events/jitter.js'

/** A row as the engines hand it back (columns by name). */
export type Row = Record<string, unknown>

/** A session for migrations: statements run on one connection, inside one transaction. */
export interface Session {
  query(text: string, params?: unknown[]): Promise<Row[]>
  /** Runs several statements without parameters. */
  exec(text: string): Promise<void>
}

/** What the backend needs from an engine. */
export interface Driver {
  readonly engine: 'postgres' | 'pglite'
  /** Runs one statement, bounded; `run` names the run for error mapping. */
  query(text: string, params: unknown[], what: string, run?: string): Promise<Row[]>
  /** Runs `fn` in one transaction on one connection (migrations). */
  transaction<T>(fn: (s: Session) => Promise<T>, what: string): Promise<T>
  /** Starts (once) the listening connection; resolves once LISTEN is in place. */
  listen(): Promise<void>
  /** Whether the listening connection is up now. */
  readonly listening: boolean
  /** Statements sent so far (for benchmarks and metrics). */
  readonly statements: number
  /** Stops everything; closes what the driver opened (never a pool or PGlite you passed). */
  close(): Promise<void>
}

/** What the driver tells its owner. */
export interface DriverEvents {
  onNotify(payload: string): void
  /** The listening connection came back after a drop (notifications may have been lost). */
  onReconnect(info: { since: number; until: number }): void
}

/**
 * The one back-off (`backoffDelay`), first cap 50 ms, capped at 2 s, 10 ms floor. `times`
 * counts failures from 0 here, so it is attempt `times + 1`.
 */
function backoff(times: number): number {
  return Math.max(10, backoffDelay(times + 1, { initialMs: 50, maxMs: 2000 }))
}

const NOT_APPLIED_CODES = new Set(['57P01', '57P03', '53300', '08001', '08004'])
const UNAVAILABLE_CODES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
])
const UNAVAILABLE =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable|Connection ended|terminating connection|the database system is (starting up|shutting down)|PGlite is closed/i

function codeOf(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code
  return typeof c === 'string' ? c : undefined
}

/** Whether `err` says the statement certainly did not take effect (safe to send again). */
function notApplied(err: unknown, connecting: boolean): boolean {
  if (connecting) return true
  const code = codeOf(err)
  return code !== undefined && NOT_APPLIED_CODES.has(code)
}

/** Whether `err` means the server could not be used (as opposed to a bad statement). */
function unavailable(err: unknown): boolean {
  const code = codeOf(err)
  if (code !== undefined && UNAVAILABLE_CODES.has(code)) return true
  if (code !== undefined && /^E[A-Z]+$/.test(code) && UNAVAILABLE.test(code)) return true
  return err instanceof Error && UNAVAILABLE.test(err.message)
}

/** Maps an engine error to the runbus error it means. */
export function mapError(err: unknown, what: string, run?: string): unknown {
  if (err instanceof RunbusError) return err
  const code = codeOf(err)
  if (code === 'RB404') return new RunNotFoundError(run ?? '')
  if (code === 'RB409') return new RunExistsError(run ?? '')
  if (code === 'RB410') return new RunEndedError(run ?? '')
  if (unavailable(err)) {
    const msg = err instanceof Error ? err.message : String(err)
    return new BackendUnavailableError(
      `Postgres ${what} failed: ${msg} (it may or may not have been applied)`,
      { cause: err },
    )
  }
  return err
}

class Deadline {
  readonly at: number
  constructor(ms: number) {
    this.at = Date.now() + ms
  }
  get left(): number {
    return this.at - Date.now()
  }
}

/** Races `p` against the deadline (`withDeadline`); on expiry calls `onLate` with the late result. */
function race<T>(
  p: Promise<T>,
  d: Deadline,
  what: string,
  applied: boolean,
  onLate?: (v: T) => void,
): Promise<T> {
  return withDeadline(
    p.catch((err: unknown) => {
      throw err instanceof Error ? err : new Error(String(err))
    }),
    {
      ms: Math.max(0, d.left),
      onLate,
      onTimeout: () =>
        new BackendUnavailableError(
          applied
            ? `Postgres did not answer ${what} in time (it may or may not have been applied)`
            : `Postgres was not reachable for ${what} in time (nothing was sent)`,
        ),
    },
  )
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Pooled clients that already have our 'error' listener. */
const guarded = new WeakSet<PoolClient>()

/**
 * A checked-out client whose connection dies emits 'error'; the pool only listens while the
 * client is idle, and an unheard 'error' would crash the process. The query that was running
 * fails on its own; this listener only keeps the event from going unheard.
 *
 * It must be in place the moment the pool hands the client out (its 'acquire' event), not
 * once our `await pool.connect()` resumes: a server that terminates a connection right after
 * accepting it sends ReadyForQuery and the FATAL in one TCP chunk, and the parser emits the
 * 'error' synchronously after the pool removed its own listener and before any promise
 * continuation runs (the process crashed on `pg_terminate_backend` during a reconnect).
 */
function guard(c: PoolClient): PoolClient {
  if (!guarded.has(c)) {
    guarded.add(c)
    c.on('error', () => {})
  }
  return c
}

/** Options shared by both engines. */
export interface DriverOptions {
  timeoutMs: number
  /** The LISTEN channel. */
  channel: string
  events: DriverEvents
}

/** A driver over a node-postgres pool. */
export class PgDriver implements Driver {
  readonly engine = 'postgres' as const
  private readonly pool: Pool
  private readonly ownsPool: boolean
  private readonly clientConfig: PoolConfig
  private readonly ClientCtor: typeof PgClient
  private readonly opts: DriverOptions
  private closed = false
  private listener: PgClient | undefined
  private listenReady: Promise<void> | undefined
  private up = false
  private downSince: number | undefined
  private reconnecting = false
  private readonly onPoolError = () => {}
  private readonly onAcquire = (c: PoolClient) => void guard(c)
  statements = 0

  constructor(
    pool: Pool,
    ownsPool: boolean,
    ClientCtor: typeof PgClient,
    clientConfig: PoolConfig,
    opts: DriverOptions,
  ) {
    this.pool = pool
    this.ownsPool = ownsPool
    this.ClientCtor = ClientCtor
    this.clientConfig = clientConfig
    this.opts = opts
    // An idle pooled connection killed by the server emits 'error' on the pool: the pool
    // drops it; the next call gets a fresh one.
    pool.on('error', this.onPoolError)
    pool.on('acquire', this.onAcquire)
  }

  get listening(): boolean {
    return this.up
  }

  async query(text: string, params: unknown[], what: string, run?: string): Promise<Row[]> {
    if (this.closed) throw new ClosedError('the Postgres backend is closed')
    const d = new Deadline(this.opts.timeoutMs)
    let failures = 0
    for (;;) {
      let client: PoolClient | undefined
      let connecting = true
      try {
        client = guard(await race(this.pool.connect(), d, what, false, (c) => c.release()))
        connecting = false
        const c = client
        this.statements++
        const res = await race(c.query(text, params), d, what, true)
        c.release()
        client = undefined
        return res.rows as Row[]
      } catch (err) {
        // A connection that failed or timed out is not given back for reuse.
        client?.release(err instanceof Error ? err : true)
        if (this.closed) throw new ClosedError('the Postgres backend is closed')
        if (err instanceof BackendUnavailableError) throw err
        if (d.left > 0 && unavailable(err) && notApplied(err, connecting)) {
          await sleep(Math.min(backoff(failures++), Math.max(0, d.left)))
          if (d.left > 0) continue
          throw new BackendUnavailableError(
            `Postgres was not reachable for ${what} within ${this.opts.timeoutMs} ms (nothing was applied)`,
            { cause: err },
          )
        }
        throw mapError(err, what, run)
      }
    }
  }

  async transaction<T>(fn: (s: Session) => Promise<T>, what: string): Promise<T> {
    if (this.closed) throw new ClosedError('the Postgres backend is closed')
    const d = new Deadline(Math.max(this.opts.timeoutMs, 30_000))
    for (let failures = 0; ; failures++) {
      // Until COMMIT is sent a failure rolls the whole transaction back: safe to run again
      // (the migration's first connection is the one most likely to meet a restart or a
      // `pg_terminate_backend`, and failing it would fail the backend's first call).
      let committing = false
      let client: PoolClient | undefined
      try {
        client = guard(await race(this.pool.connect(), d, what, false, (c) => c.release()))
        const c = client
        const s: Session = {
          query: async (t, p) => (await race(c.query(t, p ?? []), d, what, true)).rows as Row[],
          exec: async (t) => {
            await race(c.query(t), d, what, true)
          },
        }
        await s.exec('BEGIN')
        const out = await fn(s)
        committing = true
        await s.exec('COMMIT')
        c.release()
        return out
      } catch (err) {
        if (client !== undefined) {
          await client.query('ROLLBACK').catch(() => undefined)
          client.release(true)
        }
        if (this.closed) throw new ClosedError('the Postgres backend is closed')
        if (!committing && d.left > 0 && unavailable(err) && !(err instanceof RunbusError)) {
          await sleep(Math.min(backoff(failures), Math.max(0, d.left)))
          if (d.left > 0) continue
        }
        throw mapError(err, what)
      }
    }
  }

  listen(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('the Postgres backend is closed'))
    if (this.up) return Promise.resolve()
    const d = new Deadline(this.opts.timeoutMs)
    this.listenReady ??= this.firstListen(d).finally(() => {
      this.listenReady = undefined
    })
    return race(this.listenReady, d, 'LISTEN', false).catch((err: unknown) => {
      throw mapError(err, 'LISTEN')
    })
  }

  /**
   * LISTEN is idempotent: a connection refused or terminated while it is set up is tried
   * again (back-off) until the deadline, as a statement that was not applied is. A
   * follower started during a restart or a `pg_terminate_backend` must wait, not fail.
   */
  private async firstListen(d: Deadline): Promise<void> {
    for (let n = 0; ; n++) {
      try {
        await this.connectListener()
        return
      } catch (err) {
        if (this.closed || d.left <= 0 || !unavailable(err)) throw err
        await sleep(Math.min(backoff(n), Math.max(0, d.left)))
        if (d.left <= 0) throw err
      }
    }
  }

  private async connectListener(): Promise<void> {
    const c = new this.ClientCtor({
      ...this.clientConfig,
      application_name: `${this.clientConfig.application_name ?? 'runbus'}:listen`,
    })
    c.on('error', () => this.lost(c))
    c.on('end', () => this.lost(c))
    c.on('notification', (n: Notification) => {
      if (n.channel === this.opts.channel && n.payload !== undefined) {
        this.opts.events.onNotify(n.payload)
      }
    })
    try {
      await c.connect()
      await c.query(`LISTEN "${this.opts.channel}"`)
    } catch (err) {
      c.removeAllListeners('end')
      c.on('error', () => {})
      await c.end().catch(() => undefined)
      throw err
    }
    if (this.closed) {
      await c.end().catch(() => undefined)
      return
    }
    this.listener = c
    this.up = true
  }

  private lost(c: PgClient): void {
    if (this.listener !== c) return
    this.listener = undefined
    this.up = false
    this.downSince ??= Date.now()
    c.removeAllListeners('notification')
    c.on('error', () => {})
    void c.end().catch(() => undefined)
    void this.reconnect()
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return
    this.reconnecting = true
    try {
      for (let n = 0; !this.closed; n++) {
        try {
          this.listenReady ??= this.connectListener().finally(() => {
            this.listenReady = undefined
          })
          await this.listenReady
          if (this.closed || !this.up) continue
          const since = this.downSince ?? Date.now()
          this.downSince = undefined
          this.opts.events.onReconnect({ since, until: Date.now() })
          return
        } catch {
          await sleep(backoff(n))
        }
      }
    } finally {
      this.reconnecting = false
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.up = false
    const l = this.listener
    this.listener = undefined
    if (l) {
      l.removeAllListeners('end')
      l.on('error', () => {})
      await race(l.end(), new Deadline(1000), 'close', true).catch(() => undefined)
    }
    await this.listenReady?.catch(() => undefined)
    this.pool.off('error', this.onPoolError)
    this.pool.off('acquire', this.onAcquire)
    if (this.ownsPool) {
      this.pool.on('error', () => {})
      await race(this.pool.end(), new Deadline(2000), 'close', true).catch(() => undefined)
    }
  }
}

/** How long PGlite may take to start. */
const OPEN_MS = 120_000

/** A driver over a PGlite instance. */
export class PgliteDriver implements Driver {
  readonly engine = 'pglite' as const
  private readonly db: Promise<PGliteInterface>
  private readonly owns: boolean
  private readonly opts: DriverOptions
  private closed = false
  private unlisten: (() => Promise<void>) | undefined
  private listenReady: Promise<void> | undefined
  private up = false
  statements = 0

  constructor(db: Promise<PGliteInterface>, owns: boolean, opts: DriverOptions) {
    this.db = db
    this.owns = owns
    this.opts = opts
    db.catch(() => {})
  }

  get listening(): boolean {
    return this.up
  }

  private async open(what: string): Promise<PGliteInterface> {
    if (this.closed) throw new ClosedError('the Postgres backend is closed')
    // Starting PGlite (compiling the WASM, opening the data directory) is local work that
    // can take long on a busy machine: it gets its own, generous bound.
    const db = await race(this.db, new Deadline(OPEN_MS), what, false).catch((err: unknown) => {
      throw mapError(err, what)
    })
    if (db.closed) throw new BackendUnavailableError('PGlite is closed')
    return db
  }

  async query(text: string, params: unknown[], what: string, run?: string): Promise<Row[]> {
    const d = new Deadline(this.opts.timeoutMs)
    const db = await this.open(what)
    try {
      this.statements++
      const res = await race(db.query<Row>(text, params), d, what, true)
      return res.rows
    } catch (err) {
      if (this.closed) throw new ClosedError('the Postgres backend is closed')
      throw mapError(err, what, run)
    }
  }

  async transaction<T>(fn: (s: Session) => Promise<T>, what: string): Promise<T> {
    const db = await this.open(what)
    try {
      return await db.transaction(async (tx) =>
        fn({
          query: async (t, p) => (await tx.query<Row>(t, p ?? [])).rows,
          exec: async (t) => {
            await tx.exec(t)
          },
        }),
      )
    } catch (err) {
      throw mapError(err, what)
    }
  }

  listen(): Promise<void> {
    if (this.up) return Promise.resolve()
    this.listenReady ??= (async () => {
      const db = await this.open('LISTEN')
      const off = await db.listen(this.opts.channel, (payload) =>
        this.opts.events.onNotify(payload),
      )
      if (this.closed) {
        await off().catch(() => undefined)
        return
      }
      this.unlisten = off
      this.up = true
    })().finally(() => {
      this.listenReady = undefined
    })
    return this.listenReady
  }

  async close(): Promise<void> {
    if (this.closed) return
    await this.listenReady?.catch(() => undefined)
    this.closed = true
    this.up = false
    const off = this.unlisten
    this.unlisten = undefined
    const db = await this.db.catch(() => undefined)
    if (!db || db.closed) return
    if (off) await off().catch(() => undefined)
    if (this.owns) await db.close().catch(() => undefined)
  }
}
