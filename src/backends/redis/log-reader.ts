/**
 * The shared follower: ONE reader per backend instance serves every stream (run logs and
 * inboxes) that the process watches, and fans new entries out locally.
 *
 * Single node: one dedicated connection loops on `XREAD COUNT n BLOCK ms STREAMS k1…kn
 * id1…idn`, one cursor (last delivered id) per stream. When a watch is added while the
 * read blocks, the command connection sends `CLIENT UNBLOCK <reader id>` so the next read
 * includes it at once (retried briefly if the read was not blocking yet).
 *
 * Cluster: a multi-key XREAD must stay in one hash slot, and every run has its own slot,
 * so one blocking call cannot cover them. The reader polls instead: one non-blocking XREAD
 * per run (log and inbox share the run's slot) on the command client, in parallel, then
 * waits `pollMs` (or a new watch) when nothing came. No extra connection at all.
 *
 * Invariants:
 * - A watch starts at the stream's last id read when it was added, so every entry appended
 *   after `watch()` resolved is delivered (the cursor never moves past an undelivered one).
 * - After a dropped connection the reader re-reads from each cursor: no gap, no duplicate.
 *   If entries were trimmed meanwhile (the first seq read is past the cursor + 1),
 *   listeners get `onGap(lastSeq)` before the events.
 * - An entry that does not decode is reported to `onError` and skipped; the cursor moves
 *   past it, so it never blocks the entries after it.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { DecodeError } from '../../events/errors.js'
import type { RunEvent } from '../../events/envelope.js'
import { epochTagOf, eventIdOf } from '../../events/envelope.js'
import type { RedisConnection } from './context.js'
import { isCluster } from './connection.js'
import { BlockingConnection } from './blocking.js'
import { backoffDelay } from '../../events/jitter.js'

/** A raw stream entry as XREAD/XRANGE return it: id and flat field list. */
export type RawEntry = [id: string, fields: string[]]

/** Receives a stream's decoded entries (run events or inbox messages). */
export interface StreamListener {
  onEvents(events: RunEvent[]): void
  onGap?(afterSeq: number): void
  /** The connection came back: re-check the run (see `LogListener.onResync`). */
  onResync?(): void
  onError?(err: Error): void
}

/** The seq in a runbus stream id `<seq>-0`, or `undefined` for any other id. */
export function seqOfStreamId(id: string): number | undefined {
  const m = /^([0-9]{1,16})-0$/.exec(id)
  if (!m) return undefined
  const n = Number(m[1])
  return Number.isSafeInteger(n) ? n : undefined
}

/**
 * The id tag of the incarnation a stream's entries carry (field `e`, the run's createdAt),
 * kept from one entry to the next so the tag is computed once per run, not per entry.
 * `fallback` is the tag of entries without `e` (written before entries carried it, and inbox
 * messages, whose ids stay plain): the run's tag when the caller knows it, else `''`.
 */
export class EpochTags {
  #raw: string | undefined = undefined
  #tag = ''
  constructor(readonly fallback = '') {}

  /** The tag for an entry's `e` field (`undefined`: the entry has none). */
  of(raw: string | undefined): string {
    if (raw === undefined || raw === '') return this.fallback
    if (raw !== this.#raw) {
      this.#raw = raw
      this.#tag = epochTagOf(Number(raw))
    }
    return this.#tag
  }
}

/** Decodes one stream entry of `run`; throws `DecodeError` when it is not runbus's. */
export function decodeEntry(run: string, entry: RawEntry, tags: EpochTags): RunEvent {
  const [id, fields] = entry
  const seq = seqOfStreamId(id)
  if (seq === undefined || seq < 1) {
    throw new DecodeError(`run ${JSON.stringify(run)}: stream entry ${id} has no runbus seq`)
  }
  let type: string | undefined
  let json: string | undefined
  let ts: string | undefined
  let epoch: string | undefined
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const f = fields[i]
    if (f === 't') type = fields[i + 1]
    else if (f === 'd') json = fields[i + 1]
    else if (f === 'ts') ts = fields[i + 1]
    else if (f === 'e') epoch = fields[i + 1]
  }
  if (type === undefined || json === undefined || ts === undefined) {
    throw new DecodeError(
      `run ${JSON.stringify(run)}: stream entry ${id} lacks the fields t, d and ts`,
    )
  }
  const t = Number(ts)
  if (!Number.isFinite(t)) {
    throw new DecodeError(`run ${JSON.stringify(run)}: stream entry ${id} has a bad ts`)
  }
  let data: unknown
  try {
    data = JSON.parse(json)
  } catch (cause) {
    throw new DecodeError(
      `run ${JSON.stringify(run)}: stream entry ${id} holds data that is not JSON`,
      { cause },
    )
  }
  return { id: eventIdOf(seq, tags.of(epoch)), run, seq, type, data, ts: t }
}

interface Tail {
  readonly key: string
  readonly run: string
  /** The run's hash tag (groups keys of one slot on Cluster). */
  readonly tag: string
  lastId: string
  /** Seq of the last runbus entry passed; for gap detection. */
  lastSeq: number
  readonly listeners: Set<StreamListener>
  /** The incarnation tag of the entries last read (see `EpochTags`). */
  readonly tags: EpochTags
}

/** Options of the shared reader. */
export interface LogReaderOptions {
  /** The command connection (also used to wake the reader, and to poll on Cluster). */
  client: RedisConnection
  /** Opens the dedicated blocking connection (single node only). */
  openBlocking: () => RedisConnection
  /** How long one XREAD blocks, ms. */
  blockMs?: number
  /** Max entries per stream per read. */
  count?: number
  /** Cluster poll interval when idle, ms. */
  pollMs?: number
  /** How long CLIENT ID on the blocking connection may take, ms (default 5 000). */
  commandTimeoutMs?: number
}

/** Counters for tests and metrics. */
export interface LogReaderStats {
  /** XREAD calls issued. */
  reads: number
  /** Times the reader connection failed and the reader resumed from its cursors. */
  reconnects: number
  /** Streams currently followed. */
  streams: number
  /** Entries that did not decode (reported to `onError` and skipped). */
  decodeErrors: number
  /** Times followers were told `onGap` (entries trimmed before they were read). */
  gaps: number
}

/** The per-process shared follower. See the file comment. */
export class LogReader {
  private readonly client: RedisConnection
  private readonly openBlocking: () => RedisConnection
  private readonly blockMs: number
  private readonly count: number
  private readonly pollMs: number
  private readonly cluster: boolean
  private readonly tails = new Map<string, Tail>()
  private readonly commandTimeoutMs: number
  /** The blocking connection (single node), with its CLIENT ID for `unblock`. */
  private blocking: BlockingConnection | undefined
  private running = false
  private closed = false
  /** Bumped on every watch; a read started at an older generation must be woken. */
  private generation = 0
  private readGeneration = -1
  private inRead = false
  private wakeIdle: (() => void) | undefined
  private loopDone: Promise<void> | undefined
  /** Set after a failed read: check every stream before reading on (see `resync`). */
  private needResync = false
  readonly stats: LogReaderStats = { reads: 0, reconnects: 0, streams: 0, decodeErrors: 0, gaps: 0 }

  constructor(opts: LogReaderOptions) {
    this.client = opts.client
    this.openBlocking = opts.openBlocking
    this.blockMs = opts.blockMs ?? 5000
    this.count = opts.count ?? 1000
    this.pollMs = opts.pollMs ?? 25
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 5000
    this.cluster = isCluster(opts.client)
  }

  /**
   * Starts following `key` (a stream of `run`) after entry `fromId`. Resolves at once:
   * the cursor is in place, so every entry after `fromId` will be delivered.
   */
  follow(key: string, run: string, tag: string, fromId: string, listener: StreamListener) {
    let tail = this.tails.get(key)
    if (!tail) {
      tail = {
        key,
        run,
        tag,
        lastId: fromId,
        lastSeq: seqOfStreamId(fromId) ?? 0,
        listeners: new Set(),
        tags: new EpochTags(),
      }
      this.tails.set(key, tail)
    }
    tail.listeners.add(listener)
    this.stats.streams = this.tails.size
    this.generation++
    this.ensureRunning()
    this.wake()
    const t = tail
    return () => {
      t.listeners.delete(listener)
      if (t.listeners.size === 0 && this.tails.get(key) === t) {
        this.tails.delete(key)
        this.stats.streams = this.tails.size
      }
    }
  }

  /** Stops the reader and closes its connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.tails.clear()
    this.wakeIdle?.()
    const blocking = this.blocking
    this.blocking = undefined
    blocking?.drop() // a blocked XREAD rejects at once
    await this.loopDone
  }

  private ensureRunning() {
    if (this.running || this.closed) return
    this.running = true
    this.loopDone = this.loop().finally(() => {
      this.running = false
    })
  }

  private wake() {
    if (this.wakeIdle) {
      const w = this.wakeIdle
      this.wakeIdle = undefined
      w()
      return
    }
    if (!this.cluster) void this.unblock()
  }

  /** Wakes a blocked XREAD that does not yet include the newest watches. */
  private async unblock(): Promise<void> {
    for (let attempt = 0; attempt < 200 && !this.closed; attempt++) {
      if (!this.inRead || this.readGeneration >= this.generation) return
      const blocking = this.blocking
      const id = blocking?.knownId
      if (id === -1) return
      if (blocking && id !== undefined) {
        // 1: woken; -1: the call failed, the read will time out on its own (blockMs).
        if ((await blocking.unblock(this.client)) !== 0) return
      }
      // Not blocking yet (the XREAD is on its way): try again shortly.
      await delay(attempt < 20 ? 1 : 10)
    }
  }

  private idle(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined
      this.wakeIdle = () => {
        clearTimeout(timer)
        resolve()
      }
      if (ms !== undefined) {
        timer = setTimeout(() => {
          this.wakeIdle = undefined
          resolve()
        }, ms)
      }
    })
  }

  private async loop(): Promise<void> {
    let failures = 0
    while (!this.closed) {
      if (this.tails.size === 0) {
        await this.idle()
        continue
      }
      try {
        if (this.needResync) {
          await this.resync()
          this.needResync = false
        }
        const got = this.cluster ? await this.readCluster() : await this.readSingle()
        failures = 0
        if (this.cluster && !got && !this.closed) await this.idle(this.pollMs)
      } catch {
        if (this.closed) break
        this.stats.reconnects++
        this.needResync = true
        // The connection reconnects by itself; wait a little and re-read from the cursors.
        failures++
        await this.idle(backoffDelay(failures, { initialMs: 20, maxMs: 1000 }))
      }
    }
  }

  /**
   * After the connection failed, the server may not be the one we read from (Redis
   * restarted empty, a failover to a replica that lagged) and a run may have been created
   * again. For each stream: when its last entry is now before our cursor, the stream was
   * replaced: read it again from its start and tell its listeners to re-read from their
   * own positions (`onGap`), where the core checks that the run is still the same one.
   */
  private async resync(): Promise<void> {
    for (const t of [...this.tails.values()]) {
      const last = (await this.client.call('XREVRANGE', t.key, '+', '-', 'COUNT', 1)) as
        RawEntry[] | null
      const top = last?.[0]?.[0]
      const seq = top === undefined ? 0 : (seqOfStreamId(top) ?? 0)
      // A stream still at or past our cursor lost nothing (a reconnect alone is not a gap),
      // but it may be another incarnation of the run: listeners that can check say so.
      const replaced = seq < t.lastSeq
      if (replaced) {
        t.lastId = '0-0'
        t.lastSeq = 0
        this.stats.gaps++
      }
      for (const l of [...t.listeners]) {
        try {
          if (replaced) l.onGap?.(t.lastSeq)
          else l.onResync?.()
        } catch {
          // a listener's failure is its own
        }
      }
    }
  }

  private blockingConn(): BlockingConnection {
    if (!this.blocking || this.blocking.dropped)
      this.blocking = new BlockingConnection(this.openBlocking, this.commandTimeoutMs)
    return this.blocking
  }

  private async readSingle(): Promise<boolean> {
    const blocking = this.blockingConn()
    // Known before the read blocks, so a new watch can wake it (CLIENT UNBLOCK). With an
    // ACL without CLIENT the id is -1: new watches then wait for the next read (blockMs).
    if (blocking.knownId === undefined) await blocking.run('CLIENT ID', () => blocking.id())
    const tails = [...this.tails.values()]
    const args: (string | number)[] = ['COUNT', this.count, 'BLOCK', this.blockMs, 'STREAMS']
    for (const t of tails) args.push(t.key)
    for (const t of tails) args.push(t.lastId)
    this.readGeneration = this.generation
    this.inRead = true
    this.stats.reads++
    let res: unknown
    try {
      // Rejects as soon as the connection closes: ioredis does not fail a blocked command
      // whose connection died, so the reader does, and re-reads from its cursors.
      res = await blocking.run('XREAD', (conn) => conn.call('XREAD', ...args))
    } finally {
      this.inRead = false
    }
    return this.dispatch(res)
  }

  private async readCluster(): Promise<boolean> {
    const groups = new Map<string, Tail[]>()
    for (const t of this.tails.values()) {
      const g = groups.get(t.tag)
      if (g) g.push(t)
      else groups.set(t.tag, [t])
    }
    const reads = [...groups.values()].map((tails) => {
      const args: (string | number)[] = ['COUNT', this.count, 'STREAMS']
      for (const t of tails) args.push(t.key)
      for (const t of tails) args.push(t.lastId)
      this.stats.reads++
      return this.client.call('XREAD', ...args)
    })
    let got = false
    for (const res of await Promise.all(reads)) if (this.dispatch(res)) got = true
    return got
  }

  /**
   * Delivers an XREAD reply in any shape a client may hand it: RESP2 (`[[key, entries]…]`),
   * a RESP3 map as a flat array (ioredis's default `legacy` mapping), or as an object/Map.
   */
  private dispatch(res: unknown): boolean {
    if (res === null || typeof res !== 'object') return false
    const pairs: [string, RawEntry[]][] = []
    if (res instanceof Map) {
      for (const [k, v] of res as Map<unknown, RawEntry[]>) pairs.push([String(k), v])
    } else if (!Array.isArray(res)) {
      for (const [k, v] of Object.entries(res as Record<string, RawEntry[]>)) pairs.push([k, v])
    } else if (res.length === 0) {
      return false
    } else if (Array.isArray(res[0])) {
      for (const p of res as [string, RawEntry[]][]) pairs.push(p)
    } else {
      for (let i = 0; i + 1 < res.length; i += 2) {
        pairs.push([String(res[i]), res[i + 1] as RawEntry[]])
      }
    }
    let got = false
    for (const [key, entries] of pairs) {
      const tail = this.tails.get(key)
      if (!tail || entries.length === 0) continue
      got = true
      this.deliver(tail, entries)
    }
    return got
  }

  private deliver(tail: Tail, entries: RawEntry[]) {
    const events: RunEvent[] = []
    const errors: Error[] = []
    let gapAfter: number | undefined
    for (const entry of entries) {
      tail.lastId = entry[0]
      try {
        const ev = decodeEntry(tail.run, entry, tail.tags)
        if (ev.seq <= tail.lastSeq) continue
        if (ev.seq > tail.lastSeq + 1 && gapAfter === undefined && events.length === 0) {
          gapAfter = tail.lastSeq
        }
        tail.lastSeq = ev.seq
        events.push(ev)
      } catch (err) {
        errors.push(err as Error)
      }
    }
    this.stats.decodeErrors += errors.length
    if (gapAfter !== undefined) this.stats.gaps++
    for (const l of [...tail.listeners]) {
      if (!tail.listeners.has(l)) continue
      try {
        for (const err of errors) l.onError?.(err)
        if (gapAfter !== undefined) l.onGap?.(gapAfter)
        if (events.length > 0) l.onEvents(events)
      } catch {
        // A listener's failure is its own; the others still get their events.
      }
    }
  }
}
