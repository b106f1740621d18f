/**
 * The bus on Redis pub/sub: PUBLISH on the command connection, PSUBSCRIBE through ONE
 * shared subscriber connection per backend instance (opened on the first subscribe).
 *
 * Channel `c` is published as `<prefix>:bus:c`; runbus pattern `p` is subscribed as the
 * Redis glob `<prefix>:bus:<toRedisGlob(p)>` and every message is checked with the exact
 * runbus matcher before delivery (a Redis `*` also matches dots). Subscribers whose
 * patterns map to the same glob share one PSUBSCRIBE.
 *
 * Pub/sub keeps nothing and a dropped connection loses what was published meanwhile, with
 * no error from Redis. So when the subscriber connection drops, runbus re-subscribes
 * itself once it is back (auto-resubscribe is off) and then tells every subscriber
 * `onInterrupted({ since, until })`: it cannot know what was lost, but it does not pretend
 * nothing was.
 *
 * On a Redis Cluster, PUBLISH is propagated to every node over the cluster bus, so the one
 * subscriber connection (ioredis picks a node) sees messages published anywhere. Sharded
 * pub/sub (SSUBSCRIBE) would scale better but has no patterns.
 */
import type { Broadcast, BroadcastListener, Unsubscribe } from '../../contract/contract.js'
import { bounded } from './connection.js'
import type { RedisConnection, RedisContext } from './context.js'
import { compilePattern } from '../../contract/patterns.js'
import { escapeGlob, toRedisGlob } from './patterns.js'

interface Sub {
  readonly match: (channel: string) => boolean
  readonly listener: BroadcastListener
}

/** A publish of ours waiting for its message to reach our own matching subscriptions. */
interface Echo {
  /** Globs that still have to see it. */
  readonly globs: Set<string>
  done: () => void
}

interface GlobEntry {
  readonly subs: Set<Sub>
  /** Settles once Redis acknowledged the PSUBSCRIBE. */
  ready: Promise<void>
}

/** Counters of the Redis bus, for tests and metrics. */
export interface RedisBusStats {
  /** Redis globs subscribed now (patterns mapping to one glob share it). */
  globs: number
  /** Subscriptions now. */
  subscriptions: number
  /** Times the subscriber connection dropped and came back (subscribers were told). */
  interruptions: number
}

/** The Redis implementation of `Broadcast`. */
export class RedisBroadcast implements Broadcast {
  private readonly ctx: RedisContext
  private readonly openSubscriber: () => RedisConnection
  private readonly base: string
  private readonly globs = new Map<string, GlobEntry>()
  private sub: RedisConnection | undefined
  private downSince: number | undefined
  private closed = false
  private readonly echoes = new Map<string, Echo[]>()
  private interruptions = 0

  constructor(ctx: RedisContext, openSubscriber: () => RedisConnection) {
    this.ctx = ctx
    this.openSubscriber = openSubscriber
    this.base = `${ctx.prefix}:bus:`
  }

  async publish(channel: string, payload: string): Promise<void> {
    const full = this.base + channel
    // Read-your-own-publish for subscribers in this process: when some of ours match,
    // publish resolves once the message came back to them (bounded: pub/sub may lose it,
    // and then `onInterrupted` tells them). On a single node it is already queued on our
    // subscriber connection when PUBLISH returns; on Cluster it travels the cluster bus.
    const echo = this.expectEcho(full, channel, payload)
    try {
      await bounded(this.ctx.client, this.ctx.commandTimeoutMs, 'publish', () =>
        this.ctx.client.publish(full, payload),
      )
    } catch (err) {
      echo?.cancel()
      throw err
    }
    await echo?.arrived
  }

  private expectEcho(
    full: string,
    channel: string,
    payload: string,
  ): { arrived: Promise<void>; cancel(): void } | undefined {
    if (!this.sub || this.sub.status !== 'ready') return undefined
    const globs = new Set<string>()
    for (const [glob, entry] of this.globs) {
      for (const s of entry.subs) {
        if (s.match(channel)) {
          globs.add(glob)
          break
        }
      }
    }
    if (globs.size === 0) return undefined
    const key = `${full}\0${payload}`
    let resolveArrived!: () => void
    const arrived = new Promise<void>((resolve) => (resolveArrived = resolve))
    const waiter: Echo = {
      globs,
      done: () => {
        clearTimeout(timer)
        const list = this.echoes.get(key)
        const i = list ? list.indexOf(waiter) : -1
        if (list && i >= 0) {
          list.splice(i, 1)
          if (list.length === 0) this.echoes.delete(key)
        }
        resolveArrived()
      },
    }
    const timer = setTimeout(waiter.done, Math.min(1000, this.ctx.commandTimeoutMs))
    const list = this.echoes.get(key)
    if (list) list.push(waiter)
    else this.echoes.set(key, [waiter])
    return { arrived, cancel: waiter.done }
  }

  async subscribe(pattern: string, listener: BroadcastListener): Promise<Unsubscribe> {
    const conn = this.connection()
    const glob = escapeGlob(this.base) + toRedisGlob(pattern)
    const sub: Sub = { match: compilePattern(pattern), listener }
    let entry = this.globs.get(glob)
    if (!entry) {
      const created: GlobEntry = { subs: new Set(), ready: Promise.resolve() }
      created.ready = bounded(conn, this.ctx.commandTimeoutMs, 'subscribe', () =>
        conn.psubscribe(glob),
      ).then(() => undefined)
      this.globs.set(glob, created)
      entry = created
    }
    entry.subs.add(sub)
    const e = entry
    try {
      await e.ready
    } catch (err) {
      e.subs.delete(sub)
      if (e.subs.size === 0 && this.globs.get(glob) === e) this.globs.delete(glob)
      throw err
    }
    let done = false
    return () => {
      if (done) return
      done = true
      e.subs.delete(sub)
      if (e.subs.size === 0 && this.globs.get(glob) === e) {
        this.globs.delete(glob)
        if (this.sub === conn && conn.status === 'ready') {
          conn.punsubscribe(glob).catch(() => {})
        }
      }
    }
  }

  /** Counters: globs, subscriptions, interruptions. */
  stats(): RedisBusStats {
    let subscriptions = 0
    for (const e of this.globs.values()) subscriptions += e.subs.size
    return { globs: this.globs.size, subscriptions, interruptions: this.interruptions }
  }

  /** Closes the subscriber connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.globs.clear()
    const conn = this.sub
    this.sub = undefined
    conn?.disconnect()
  }

  private connection(): RedisConnection {
    if (this.sub) return this.sub
    const conn = this.openSubscriber()
    conn.on('error', () => {})
    conn.on('pmessage', (glob: string, channel: string, message: string) =>
      this.onMessage(glob, channel, message),
    )
    conn.on('close', () => {
      this.downSince ??= Date.now()
    })
    conn.on('ready', () => {
      if (this.downSince !== undefined) void this.resubscribe(conn)
    })
    this.sub = conn
    return conn
  }

  private async resubscribe(conn: RedisConnection): Promise<void> {
    const since = this.downSince ?? Date.now()
    const globs = [...this.globs.keys()]
    try {
      if (globs.length > 0) await conn.psubscribe(...globs)
    } catch {
      return // the connection dropped again; the next 'ready' tries again
    }
    if (this.closed || conn.status !== 'ready') return
    this.downSince = undefined
    this.interruptions++
    const info = { since, until: Date.now() }
    for (const entry of [...this.globs.values()]) {
      for (const s of [...entry.subs]) {
        try {
          s.listener.onInterrupted?.(info)
        } catch {
          // one subscriber's failure does not stop the others
        }
      }
    }
  }

  private onMessage(glob: string, fullChannel: string, message: string) {
    const entry = this.globs.get(glob)
    this.settleEcho(glob, fullChannel, message)
    if (!entry || !fullChannel.startsWith(this.base)) return
    const channel = fullChannel.slice(this.base.length)
    for (const s of [...entry.subs]) {
      if (!s.match(channel)) continue
      try {
        s.listener.onMessage(channel, message)
      } catch {
        // one subscriber's failure does not stop the others
      }
    }
  }

  private settleEcho(glob: string, fullChannel: string, message: string) {
    const waiting = this.echoes.get(`${fullChannel}\0${message}`)
    if (!waiting) return
    for (const w of [...waiting]) {
      if (w.globs.delete(glob)) {
        if (w.globs.size === 0) w.done()
        return
      }
    }
  }
}
