/**
 * Bus streams (`GET /v1/channels/{pattern}/events`): one backend subscription per pattern per
 * hub process, each message serialized once and written to every connection on that
 * pattern. Bus messages are not kept, so there is no replay; a connection whose socket holds
 * more than its limit is cut like a slow run reader. A `: ready` comment (an empty line in
 * NDJSON) is the first thing on the stream once the subscription is in place.
 */
import type { Unsubscribe } from '../contract/contract.js'
import { BUS_READY, busFrame, pingOf, type StreamFormat } from '../protocol/framing.js'
import type { Runbus } from '../runbus.js'
import type { StreamSink } from './sink.js'
import { StallWatch } from './stall.js'

interface Conn {
  sink: StreamSink
  format: StreamFormat
  /** The slow-reader cut: nothing to replay from, so a hard limit. */
  stall: StallWatch
}

class PatternFeed {
  readonly conns = new Set<Conn>()
  unsub: Unsubscribe | undefined
  stopped = false
  ready: Promise<void>

  constructor(
    readonly owner: BusFanout,
    readonly pattern: string,
  ) {
    this.ready = this.#subscribe().then((unsub) => {
      if (this.stopped) unsub()
      else this.unsub = unsub
    })
  }

  /** One `rb.bus` subscription for every connection on the pattern. */
  async #subscribe(): Promise<Unsubscribe> {
    const ac = new AbortController()
    const sub = this.owner.rb.bus.subscribe(this.pattern, {
      signal: ac.signal,
      bufferSize: 10_000,
      onInterrupted: (info) => this.send('interrupted', { ...info }),
    })
    await sub.ready
    void (async () => {
      try {
        for await (const m of sub)
          this.send('message', { channel: m.channel, data: m.data, ts: m.ts })
      } catch {
        // aborted, or the instance closed: the connections end with the feed
      }
      // Ended on its own (the instance closed): end the connections too.
      this.stop()
    })()
    return () => ac.abort()
  }

  send(event: 'message' | 'interrupted', body: Record<string, unknown>): void {
    let sse: Uint8Array | undefined
    let nd: Uint8Array | undefined
    for (const c of this.conns) {
      if (c.format === 'sse') c.sink.write((sse ??= busFrame(event, body, 'sse')))
      else c.sink.write((nd ??= busFrame(event, body, 'ndjson')))
      this.owner.stats.framesOut++
      c.stall.overLimit()
    }
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.unsub?.()
    for (const c of [...this.conns]) c.sink.abort()
    this.conns.clear()
  }
}

/** Every bus stream of one hub. */
export class BusFanout {
  readonly stats = { framesOut: 0, cuts: 0 }
  readonly #feeds = new Map<string, PatternFeed>()

  constructor(
    readonly rb: Runbus,
    readonly maxQueuedBytes: number,
  ) {}

  /** Connections following any pattern. */
  get subscribers(): number {
    let n = 0
    for (const f of this.#feeds.values()) n += f.conns.size
    return n
  }

  /** Streams messages matching `pattern` into `sink` until the peer leaves. */
  async attach(pattern: string, sink: StreamSink, format: StreamFormat): Promise<void> {
    let feed = this.#feeds.get(pattern)
    if (!feed) {
      feed = new PatternFeed(this, pattern)
      this.#feeds.set(pattern, feed)
    }
    const conn: Conn = {
      sink,
      format,
      stall: new StallWatch(sink, this.stats, this.maxQueuedBytes),
    }
    feed.conns.add(conn)
    const f = feed
    sink.onClose(() => {
      f.conns.delete(conn)
      if (f.conns.size === 0) {
        f.stop()
        if (this.#feeds.get(pattern) === f) this.#feeds.delete(pattern)
      }
    })
    try {
      await f.ready
    } catch {
      sink.abort()
      return
    }
    // Tells the reader it is subscribed: whatever is published from now on reaches it.
    sink.write(BUS_READY[format])
  }

  /** Keep-alive for every bus connection. */
  ping(): void {
    for (const f of this.#feeds.values()) {
      for (const c of [...f.conns]) c.stall.tick(pingOf(c.format))
    }
  }

  /** Ends every bus stream. */
  close(): void {
    for (const f of this.#feeds.values()) f.stop()
    this.#feeds.clear()
  }
}
