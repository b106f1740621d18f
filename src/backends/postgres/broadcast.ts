/**
 * The bus on Postgres NOTIFY, through the backend's ONE listening connection.
 *
 * A message is `pg_notify(<schema>_wake, 'b<origin>:<channel>\n<payload>')`. NOTIFY payloads
 * are capped at 8,000 bytes by Postgres: a larger message is stored in the `bus` table and
 * the NOTIFY carries its row id (`B<origin>:<id>`); receivers read the row. So every message
 * up to the runbus payload limit travels whole, never truncated. Rows are swept after a
 * minute.
 *
 * Subscribers in this process get a message straight from `publish` (before it resolves),
 * and skip its NOTIFY echo (same origin): read-your-own-publish without a round trip.
 * Other processes get it at commit. Order per publisher is kept: a large message being
 * fetched holds back the ones that arrived after it.
 *
 * Like Redis pub/sub, NOTIFY keeps nothing for a listener that is not connected: when the
 * listening connection drops and comes back, every subscriber is told `onInterrupted`.
 */
import { randomUUID } from 'node:crypto'
import type { Broadcast, BroadcastListener, Unsubscribe } from '../../contract/contract.js'
import { compilePattern } from '../../contract/patterns.js'
import type { Driver } from './driver.js'

/** Bytes of NOTIFY payload we use at most (Postgres refuses 8,000 and more). */
const NOTIFY_MAX = 7900

interface Sub {
  readonly match: (channel: string) => boolean
  readonly listener: BroadcastListener
}

interface Incoming {
  channel: string
  payload: string
  ready: boolean
}

/** Counters of the Postgres bus, for tests and metrics. */
export interface PostgresBusStats {
  subscriptions: number
  /** Messages sent through a `bus` row (too large for a NOTIFY payload). */
  large: number
  /** Times the listening connection dropped and came back (subscribers were told). */
  interruptions: number
}

/** The Postgres implementation of `Broadcast`. Internal: made by `postgresBackend()`. */
export class PostgresBroadcast implements Broadcast {
  private readonly origin = randomUUID().slice(0, 8)
  private readonly subs = new Set<Sub>()
  private readonly inbound: Incoming[] = []
  private large = 0
  private interruptions = 0
  private closed = false

  constructor(
    private readonly db: Driver,
    private readonly s: string,
    private readonly channel: string,
    private readonly ready: () => Promise<void>,
  ) {}

  async publish(channel: string, payload: string): Promise<void> {
    await this.ready()
    const msg = `b${this.origin}:${channel}\n${payload}`
    if (Buffer.byteLength(msg) <= NOTIFY_MAX) {
      await this.db.query('SELECT pg_notify($1, $2)', [this.channel, msg], 'publish')
    } else {
      this.large++
      await this.db.query(
        `WITH m AS (INSERT INTO ${this.s}.bus (channel, payload, ts) VALUES ($2, $3, $4) RETURNING id)
         SELECT pg_notify($1, 'B' || $5 || ':' || id) FROM m`,
        [this.channel, channel, payload, Date.now(), this.origin],
        'publish',
      )
    }
    this.dispatch(channel, payload)
  }

  async subscribe(pattern: string, listener: BroadcastListener): Promise<Unsubscribe> {
    await this.ready()
    await this.db.listen()
    const sub: Sub = { match: compilePattern(pattern), listener }
    this.subs.add(sub)
    return () => {
      this.subs.delete(sub)
    }
  }

  /** A NOTIFY payload of the bus: `b…` (inline) or `B…` (a row id). */
  onNotify(kind: 'b' | 'B', body: string): void {
    if (this.closed || this.subs.size === 0) return
    const colon = body.indexOf(':')
    if (colon < 0 || body.slice(0, colon) === this.origin) return
    const rest = body.slice(colon + 1)
    if (kind === 'b') {
      const nl = rest.indexOf('\n')
      if (nl < 0) return
      const item = { channel: rest.slice(0, nl), payload: rest.slice(nl + 1), ready: true }
      if (this.inbound.length === 0) this.dispatch(item.channel, item.payload)
      else this.inbound.push(item)
      return
    }
    const item: Incoming = { channel: '', payload: '', ready: false }
    this.inbound.push(item)
    this.db
      .query(`SELECT channel, payload FROM ${this.s}.bus WHERE id = $1`, [Number(rest)], 'bus read')
      .then(
        (rows) => {
          if (rows[0]) {
            item.channel = rows[0].channel as string
            item.payload = rows[0].payload as string
          }
        },
        () => undefined, // gone or unreachable: like a lost NOTIFY
      )
      .finally(() => {
        item.ready = true
        this.flushInbound()
      })
  }

  private flushInbound(): void {
    while (this.inbound.length > 0 && this.inbound[0].ready) {
      const item = this.inbound.shift()!
      if (item.channel !== '') this.dispatch(item.channel, item.payload)
    }
  }

  private dispatch(channel: string, payload: string): void {
    for (const s of [...this.subs]) {
      if (!s.match(channel)) continue
      try {
        s.listener.onMessage(channel, payload)
      } catch {
        // one subscriber's failure does not stop the others
      }
    }
  }

  /** The listening connection came back: messages sent meanwhile may be lost. */
  onReconnect(info: { since: number; until: number }): void {
    this.interruptions++
    for (const s of [...this.subs]) {
      try {
        s.listener.onInterrupted?.(info)
      } catch {
        // one subscriber's failure does not stop the others
      }
    }
  }

  stats(): PostgresBusStats {
    return {
      subscriptions: this.subs.size,
      large: this.large,
      interruptions: this.interruptions,
    }
  }

  close(): void {
    this.closed = true
    this.subs.clear()
    this.inbound.length = 0
  }
}
