/**
 * `runbus/postgres`: the backend contract on SQL, on a real Postgres server (through
 * node-postgres) or on PGlite (Postgres compiled to WASM: no server, a data directory).
 *
 * Only this subpath loads `pg` or `@electric-sql/pglite` (both optional peer
 * dependencies, each loaded only when used); a memory or Redis user never does.
 *
 * @example
 * ```ts
 * import { createRunbus } from 'runbus'
 * import { postgresBackend } from 'runbus/postgres'
 *
 * const rb = createRunbus({ backend: postgresBackend({ url: process.env.DATABASE_URL }) })
 * ```
 */
import type { Pool, PoolConfig } from 'pg'
import type { PGliteInterface } from '@electric-sql/pglite'
import type { Backend, Broadcast, KeyValueStore, RunLogStore } from '../../contract/contract.js'
import type { WorkStore } from '../../contract/work-contract.js'
import { ClosedError, InvalidArgumentError } from '../../events/errors.js'
import {
  type Driver,
  type DriverEvents,
  PgDriver,
  PgliteDriver,
  type Row,
  type Session,
} from './driver.js'
import { channelOf, checkSchemaName, migrate } from './schema.js'
import { PostgresRunLog, type PostgresFollowStats } from './runs.js'
import { PostgresBroadcast, type PostgresBusStats } from './broadcast.js'
import { PostgresKeyValue } from './kv.js'
import { PostgresWorkStore } from './work.js'

export type { PostgresFollowStats } from './runs.js'
export type { PostgresBusStats } from './broadcast.js'

/**
 * Options of {@link postgresBackend}. Give exactly one of `url`, `pool` or `pglite`.
 *
 * @example
 * ```ts
 * postgresBackend({ url: 'postgres://app@db/app', schema: 'runbus' })
 * postgresBackend({ pglite: './.runbus' })      // PGlite, data kept in that directory
 * postgresBackend({ pglite: 'memory://' })      // PGlite in memory
 * ```
 */
export interface PostgresBackendOptions {
  /** `postgres://user:pass@host:port/db`; runbus opens (and closes) its own pool. */
  url?: string
  /**
   * A node-postgres pool to run statements on. runbus opens one extra connection with the
   * pool's settings for LISTEN and closes it on `close()`, but never ends `pool`: it is yours.
   */
  pool?: Pool
  /**
   * PGlite: an instance you made (yours to close), or a data directory for runbus to open
   * and close (`'memory://'` keeps everything in memory).
   */
  pglite?: PGliteInterface | string
  /** The schema that holds runbus's tables (created and migrated). Default `runbus`. */
  schema?: string
  /**
   * How long a call may wait for the database (connecting included) before it fails with
   * `BackendUnavailableError`. Default 5000 ms.
   */
  commandTimeoutMs?: number
  /**
   * The follower's fallback poll, ms: a notification lost while the listening connection
   * was down delays a reader by at most this. Default 1000.
   */
  pollMs?: number
  /** How often expired runs, kv records and old bus rows are deleted, ms. Default 30 000. */
  sweepMs?: number
  /** Size of the pool runbus opens for `url`. Default 10. */
  maxConnections?: number
}

const OPTION_NAMES: ReadonlySet<string> = new Set([
  'url',
  'pool',
  'pglite',
  'schema',
  'commandTimeoutMs',
  'pollMs',
  'sweepMs',
  'maxConnections',
])

/**
 * The Postgres backend, with counters for operations and tests.
 *
 * @example
 * ```ts
 * const backend = postgresBackend({ pglite: 'memory://' })
 * console.log(backend.engine, backend.schema) // 'pglite' 'runbus'
 * ```
 */
export interface PostgresBackend extends Backend {
  /** `postgres` (a server through `pg`) or `pglite`. */
  readonly engine: 'postgres' | 'pglite'
  /** The schema in use. */
  readonly schema: string
  /** The shared follower's counters. */
  readonly followStats: PostgresFollowStats
  /** The bus's counters. */
  readonly busStats: PostgresBusStats
  /** Statements sent to the database so far (every call is one; the migration some). */
  readonly statements: number
  /** Runs the sweep (expired runs, kv records, bus rows) now; resolves with runs removed. */
  sweep(): Promise<number>
}

/** Opens the driver on first use and migrates the schema; retried after a failure. */
class LazyDriver implements Driver {
  readonly engine: 'postgres' | 'pglite'
  private inner: Driver | undefined
  private opening: Promise<Driver> | undefined
  private closed = false

  constructor(
    engine: 'postgres' | 'pglite',
    private readonly open: () => Promise<Driver>,
    private readonly schema: string,
  ) {
    this.engine = engine
  }

  ready(): Promise<Driver> {
    if (this.closed) return Promise.reject(new ClosedError('the Postgres backend is closed'))
    if (this.inner) return Promise.resolve(this.inner)
    this.opening ??= (async () => {
      const d = await this.open()
      try {
        await d.transaction((s: Session) => migrate(s, this.schema), 'migrate')
      } catch (err) {
        await d.close().catch(() => undefined)
        throw err
      }
      if (this.closed) {
        await d.close()
        throw new ClosedError('the Postgres backend is closed')
      }
      this.inner = d
      return d
    })().finally(() => {
      this.opening = undefined
    })
    return this.opening
  }

  get listening(): boolean {
    return this.inner?.listening ?? false
  }

  get statements(): number {
    return this.inner?.statements ?? 0
  }

  async query(text: string, params: unknown[], what: string, run?: string): Promise<Row[]> {
    const d = this.inner ?? (await this.ready())
    return d.query(text, params, what, run)
  }

  async transaction<T>(fn: (s: Session) => Promise<T>, what: string): Promise<T> {
    return (await this.ready()).transaction(fn, what)
  }

  async listen(): Promise<void> {
    await (this.inner ?? (await this.ready())).listen()
  }

  async close(): Promise<void> {
    this.closed = true
    const d = this.inner ?? (await this.opening?.catch(() => undefined))
    this.inner = undefined
    await d?.close()
  }
}

/**
 * Creates the Postgres backend: run logs, broadcast, key/value and work queues in SQL
 * tables of one schema, created and migrated on first use.
 *
 * One per process is the intent: it holds a pool (yours or its own) and ONE listening
 * connection shared by every follower, bus subscription and blocking claim.
 *
 * Gotchas:
 * - The first call connects and migrates; a database that is down makes calls fail with
 *   `BackendUnavailableError` (bounded by `commandTimeoutMs`) and a later call tries again.
 * - `close()` never ends a `pool` or a PGlite instance you passed in.
 * - Two PGlite instances must never open the same data directory at once (PGlite is a
 *   single-process database): one backend per directory per process.
 *
 * @example
 * ```ts
 * const backend = postgresBackend({ url: process.env.DATABASE_URL, schema: 'myapp_runbus' })
 * const rb = createRunbus({ backend })
 * // …
 * await rb.close()
 * await backend.close() // a backend you pass to createRunbus is yours to close
 * ```
 */
export function postgresBackend(options: PostgresBackendOptions): PostgresBackend {
  for (const k of Object.keys(options ?? {})) {
    if (!OPTION_NAMES.has(k)) {
      throw new InvalidArgumentError(`postgresBackend: unknown option ${JSON.stringify(k)}`)
    }
  }
  const given = ['url', 'pool', 'pglite'].filter(
    (k) => (options as Record<string, unknown>)[k] !== undefined,
  )
  if (given.length !== 1) {
    throw new InvalidArgumentError(
      `postgresBackend: give exactly one of url, pool or pglite (got ${given.length === 0 ? 'none' : given.join(', ')})`,
    )
  }
  const schema = checkSchemaName(options.schema ?? 'runbus')
  const timeoutMs = options.commandTimeoutMs ?? 5000
  const pollMs = options.pollMs ?? 1000
  const sweepMs = options.sweepMs ?? 30_000
  for (const [k, v] of [
    ['commandTimeoutMs', timeoutMs],
    ['pollMs', pollMs],
    ['sweepMs', sweepMs],
  ] as const) {
    if (!(typeof v === 'number' && v > 0)) {
      throw new InvalidArgumentError(`postgresBackend: ${k} must be a positive number of ms`)
    }
  }
  const channel = channelOf(schema)
  const s = `"${schema}"`

  // Filled in below; the driver calls them once notifications arrive.
  const events: DriverEvents = {
    onNotify: (payload) => dispatch(payload),
    onReconnect: (info) => {
      runs.onReconnect()
      broadcast.onReconnect(info)
      work.wakeAll()
    },
  }
  const driverOptions = { timeoutMs, channel, events }
  const engine = options.pglite !== undefined ? 'pglite' : 'postgres'
  const open = async (): Promise<Driver> => {
    if (options.pglite !== undefined) {
      const p = options.pglite
      if (typeof p !== 'string') return new PgliteDriver(Promise.resolve(p), false, driverOptions)
      const { PGlite } = await import('@electric-sql/pglite')
      return new PgliteDriver(PGlite.create(p), true, driverOptions)
    }
    const mod = await import('pg')
    const pg = (mod as unknown as { default?: typeof mod }).default ?? mod
    if (options.pool !== undefined) {
      const config = (options.pool as unknown as { options: PoolConfig }).options
      return new PgDriver(
        options.pool,
        false,
        pg.Client,
        { ...config, application_name: `runbus:${schema}` },
        driverOptions,
      )
    }
    const config: PoolConfig = {
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: timeoutMs,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: `runbus:${schema}`,
    }
    return new PgDriver(new pg.Pool(config), true, pg.Client, config, driverOptions)
  }
  const db = new LazyDriver(engine, open, schema)
  let sweeper: NodeJS.Timeout | undefined
  let closed = false
  const ready = async (): Promise<void> => {
    await db.ready()
    if (sweeper === undefined && !closed) {
      sweeper = setInterval(() => void sweep().catch(() => undefined), sweepMs)
      sweeper.unref?.()
    }
  }
  const sweep = async (): Promise<number> => {
    const now = Date.now()
    const rows = await db.query(`SELECT ${s}.sweep($1, $2) AS n`, [now, now - 60_000], 'sweep')
    return Number(rows[0].n)
  }

  const runs = new PostgresRunLog(db, s, ready, pollMs)
  const broadcast = new PostgresBroadcast(db, s, channel, ready)
  const kv = new PostgresKeyValue(db, s, ready)
  const work = new PostgresWorkStore(db, s, ready, Math.min(pollMs, 500), channel)

  function dispatch(payload: string): void {
    const kind = payload[0]
    const body = payload.slice(1)
    if (kind === 'l' || kind === 'i') runs.onNotify(kind, body)
    else if (kind === 'b' || kind === 'B') broadcast.onNotify(kind, body)
    else if (kind === 'w') work.wake(body)
  }

  const guard = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, p, r) {
        const v: unknown = Reflect.get(t, p, r)
        if (typeof v !== 'function') return v
        return (...args: unknown[]) => {
          if (closed) return Promise.reject(new ClosedError('the Postgres backend is closed'))
          return (v as (...a: unknown[]) => unknown).apply(t, args)
        }
      },
    })

  let closing: Promise<void> | undefined
  return {
    name: 'postgres',
    durable: true,
    engine,
    schema,
    runs: guard<RunLogStore>(runs),
    broadcast: guard<Broadcast>(broadcast),
    kv: guard<KeyValueStore>(kv),
    work: guard<WorkStore>(work),
    get followStats() {
      return runs.stats
    },
    get busStats() {
      return broadcast.stats()
    },
    get statements() {
      return db.statements
    },
    sweep,
    async ping() {
      if (closed) throw new ClosedError('the Postgres backend is closed')
      await db.query('SELECT 1', [], 'ping')
    },
    close() {
      closing ??= (async () => {
        closed = true
        if (sweeper !== undefined) clearInterval(sweeper)
        sweeper = undefined
        runs.close()
        broadcast.close()
        await work.close()
        await db.close()
      })()
      return closing
    },
  }
}
