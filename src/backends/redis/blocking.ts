/**
 * Dedicated connections for blocking reads (XREAD BLOCK of the log reader, XREADGROUP
 * BLOCK of the work store), written once.
 *
 * A blocked command holds its connection, so it gets its own; and ioredis neither fails a
 * blocked command whose socket died (it would wait for `blockingTimeout`, or forever) nor
 * can it cancel one. A `BlockingConnection` therefore:
 * - knows its `CLIENT ID`, asked again after every reconnect (a new connection has a new
 *   id), so `unblock()` (`CLIENT UNBLOCK` sent on another connection) aims at the right one;
 *   an ACL without `CLIENT` gives id -1 (no unblocking: a read then ends at its BLOCK time);
 * - runs a blocking command so that it fails as soon as the connection closes, past an
 *   optional guard time (the connection is then dropped: a fresh one next time), and, on
 *   abort, is unblocked; if the unblock does not land within a grace time the connection
 *   is dropped and the call settles with the caller's "aborted" value.
 * What a dropped XREADGROUP may have delivered stays pending (redelivered, never lost).
 */
import { BackendUnavailableError } from '../../events/errors.js'
import { withDeadline } from '../../events/deadline.js'
import { whenReady } from './connection.js'
import type { RedisConnection } from './context.js'

/** How {@link BlockingConnection.run} bounds and cancels a blocking command. */
export interface BlockingRunOptions<T> {
  /** Fail with `BackendUnavailableError` and drop the connection past this, ms. */
  guardMs?: number
  /** Aborting it unblocks the command (CLIENT UNBLOCK on `control`). */
  signal?: AbortSignal
  /** The connection that sends CLIENT UNBLOCK on abort (not this one: it is blocked). */
  control?: RedisConnection
  /** What the call resolves with once aborted. */
  aborted?: T
  /** How long an abort waits for the unblock to land before dropping the connection, ms. */
  graceMs?: number
}

/** One dedicated connection for blocking reads. */
export class BlockingConnection {
  /** The connection; send blocking commands through {@link run}. */
  readonly conn: RedisConnection
  #id: Promise<number> | undefined
  #known: number | undefined
  #dropped = false
  readonly #closing = new Set<(err: Error) => void>()

  constructor(
    open: () => RedisConnection,
    private readonly timeoutMs: number,
  ) {
    const conn = open()
    this.conn = conn
    conn.on('error', () => {})
    conn.on('close', () => {
      // The next connection has another id.
      this.#id = undefined
      this.#known = undefined
      const err = new BackendUnavailableError('the blocking Redis connection was closed')
      for (const f of [...this.#closing]) f(err)
    })
  }

  /** Whether it was dropped (closed for good): open another. */
  get dropped(): boolean {
    return this.#dropped
  }

  /** The CLIENT ID of the current connection if known (-1: CLIENT is not allowed). */
  get knownId(): number | undefined {
    return this.#known
  }

  /**
   * The CLIENT ID of the current connection, asked once per connection (at most the
   * timeout, waiting for the connection to be ready first). -1 when an ACL forbids CLIENT.
   */
  id(): Promise<number> {
    if (this.#id) return this.#id
    const conn = this.conn
    const ms = this.timeoutMs
    const p: Promise<number> = withDeadline(
      whenReady(conn, ms).then(() => conn.client('ID')),
      {
        ms,
        onTimeout: () =>
          new BackendUnavailableError(`Redis did not answer CLIENT ID within ${ms} ms`),
      },
    ).then(
      (id) => {
        if (this.#id === p) this.#known = Number(id)
        return Number(id)
      },
      (err: unknown) => {
        if (err instanceof Error && /NOPERM|unknown command/i.test(err.message)) {
          if (this.#id === p) this.#known = -1
          return -1
        }
        if (this.#id === p) this.#id = undefined
        throw err
      },
    )
    this.#id = p
    p.catch(() => {})
    return p
  }

  /**
   * Sends CLIENT UNBLOCK for this connection on `control`; resolves with Redis's answer (1:
   * a blocked command was woken, 0: none was blocked), or -1 when it cannot be sent (CLIENT
   * not allowed, the id or the call failed).
   */
  async unblock(control: RedisConnection): Promise<number> {
    try {
      const id = this.#known ?? (await this.id())
      if (id < 0) return -1
      return Number(await control.client('UNBLOCK', id))
    } catch {
      return -1
    }
  }

  /**
   * Runs the blocking command `fn(conn)`: settles with it, or rejects with
   * `BackendUnavailableError` once the connection closes (or is dropped) or `guardMs`
   * passed (the connection is then dropped); an abort unblocks it (see the file comment).
   */
  run<T>(
    what: string,
    fn: (conn: RedisConnection) => Promise<T>,
    options: BlockingRunOptions<T> = {},
  ): Promise<T> {
    if (this.#dropped)
      return Promise.reject(new BackendUnavailableError('the blocking Redis connection was closed'))
    const { guardMs, signal, control } = options
    let onClose: ((err: Error) => void) | undefined
    let grace: ReturnType<typeof setTimeout> | undefined
    const dropped = new Promise<never>((_, reject) => {
      onClose = reject
      this.#closing.add(reject)
    })
    dropped.catch(() => {})
    const op = fn(this.conn)
    op.catch(() => {})
    const aborted = new Promise<T>((resolve) => {
      if (!signal || !control) return
      const onAbort = () => {
        void this.unblock(control)
        grace = setTimeout(() => {
          this.drop()
          resolve(options.aborted as T)
        }, options.graceMs ?? 250)
      }
      if (signal.aborted) onAbort()
      else signal.addEventListener('abort', onAbort, { once: true })
      void op.then(
        () => signal.removeEventListener('abort', onAbort),
        () => signal.removeEventListener('abort', onAbort),
      )
    })
    return withDeadline(Promise.race([op, dropped, aborted]), {
      ms: guardMs,
      onTimeout: () => {
        this.drop()
        return new BackendUnavailableError(`Redis did not answer ${what} within ${guardMs} ms`)
      },
    }).finally(() => {
      clearTimeout(grace)
      if (onClose) this.#closing.delete(onClose)
    })
  }

  /** Closes the connection for good; a command in flight rejects. Idempotent. */
  drop(): void {
    if (this.#dropped) return
    this.#dropped = true
    const err = new BackendUnavailableError('the blocking Redis connection was closed')
    for (const f of [...this.#closing]) f(err)
    this.conn.disconnect()
  }
}

/** Blocking connections by key (the work store: one per queue and consumer). */
export class BlockingPool {
  readonly #conns = new Map<string, BlockingConnection>()

  constructor(
    private readonly open: () => RedisConnection,
    private readonly timeoutMs: number,
  ) {}

  /** The connection for `key` (a new one if there is none or it was dropped). */
  get(key: string): BlockingConnection {
    let bc = this.#conns.get(key)
    if (!bc || bc.dropped) {
      bc = new BlockingConnection(this.open, this.timeoutMs)
      this.#conns.set(key, bc)
    }
    return bc
  }

  /** Drops the connection of `key`, if any. */
  drop(key: string): void {
    const bc = this.#conns.get(key)
    this.#conns.delete(key)
    bc?.drop()
  }

  /** Drops every connection. */
  close(): void {
    for (const bc of this.#conns.values()) bc.drop()
    this.#conns.clear()
  }
}
