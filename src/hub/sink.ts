/**
 * A streaming response body the hub writes SSE or NDJSON frames into, independent of the
 * server underneath: a Web `ReadableStream` (for the `fetch` handler) or a `node:http`
 * response (for the Node adapter, which skips the stream and writes to the socket).
 *
 * Invariant: `queuedBytes` is what this connection holds in memory that the peer has not
 * taken yet. The fan-out reads it after each write and cuts the connection past its limit,
 * so a slow reader never makes the hub buffer without bound.
 */
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

/** One streaming connection, as the fan-out sees it. */
export interface StreamSink {
  /** Queues bytes for the peer. Never blocks; check `queuedBytes` after. No-op once closed. */
  write(chunk: Uint8Array): void
  /** Bytes written but not yet taken by the peer. */
  readonly queuedBytes: number
  /** Resolves when the queue is below half its limit (or the sink closed). */
  waitDrain(): Promise<void>
  /** Ends the stream after what is queued (a clean end: the run ended). */
  end(): void
  /** Drops the connection and what is queued (a slow reader cut, or shutdown). */
  abort(): void
  /** Whether the stream ended, was aborted or the peer went away. */
  readonly closed: boolean
  /** Calls `cb` once when the stream closes for any reason. */
  onClose(cb: () => void): void
}

class CloseHooks {
  #cbs: Array<() => void> = []
  #fired = false
  add(cb: () => void): void {
    if (this.#fired) queueMicrotask(cb)
    else this.#cbs.push(cb)
  }
  fire(): void {
    if (this.#fired) return
    this.#fired = true
    const cbs = this.#cbs
    this.#cbs = []
    for (const cb of cbs) {
      try {
        cb()
      } catch {
        // a close hook must not break the others
      }
    }
  }
}

/**
 * A sink whose other end is a Web `ReadableStream` (`sink.stream`), for `Response` bodies.
 * The stream's internal queue is the connection's buffer: its size is `queuedBytes`.
 */
export class WebStreamSink implements StreamSink {
  readonly stream: ReadableStream<Uint8Array>
  #controller!: ReadableStreamDefaultController<Uint8Array>
  #closed = false
  #drainWaiters: Array<() => void> = []
  readonly #hooks = new CloseHooks()
  readonly #lowWater: number
  readonly #limit: number

  constructor(limitBytes: number) {
    this.#limit = limitBytes
    this.#lowWater = Math.max(1, Math.floor(limitBytes / 2))
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.#controller = c
        },
        pull: () => {
          // desiredSize grew: the consumer took chunks.
          this.#recount()
        },
        cancel: () => {
          this.#finish()
        },
      },
      { highWaterMark: limitBytes, size: (chunk) => chunk.byteLength },
    )
  }

  #recount(): void {
    if (this.queuedBytes <= this.#lowWater) this.#wake()
  }

  #wake(): void {
    const ws = this.#drainWaiters
    this.#drainWaiters = []
    for (const w of ws) w()
  }

  get queuedBytes(): number {
    if (this.#closed) return 0
    return Math.max(0, this.#limit - (this.#controller.desiredSize ?? 0))
  }

  get closed(): boolean {
    return this.#closed
  }

  write(chunk: Uint8Array): void {
    if (this.#closed) return
    this.#controller.enqueue(chunk)
  }

  waitDrain(): Promise<void> {
    if (this.#closed || this.queuedBytes <= this.#lowWater) return Promise.resolve()
    return new Promise((resolve) => this.#drainWaiters.push(resolve))
  }

  end(): void {
    if (this.#closed) return
    try {
      this.#controller.close()
    } catch {
      // already closed by the consumer
    }
    this.#finish()
  }

  abort(): void {
    if (this.#closed) return
    try {
      this.#controller.error(new Error('stream cut by the hub'))
    } catch {
      // already closed
    }
    this.#finish()
  }

  #finish(): void {
    if (this.#closed) return
    this.#closed = true
    this.#wake()
    this.#hooks.fire()
  }

  onClose(cb: () => void): void {
    this.#hooks.add(cb)
  }
}

/** Chunk-framed copies of shared frames (`<hex size>\r\n<bytes>\r\n`), made once per frame. */
const chunked = new WeakMap<Uint8Array, Uint8Array>()

function chunkOf(frame: Uint8Array): Uint8Array {
  let c = chunked.get(frame)
  if (!c) {
    const head = new TextEncoder().encode(`${frame.byteLength.toString(16)}\r\n`)
    c = new Uint8Array(head.byteLength + frame.byteLength + 2)
    c.set(head, 0)
    c.set(frame, head.byteLength)
    c[c.byteLength - 2] = 13
    c[c.byteLength - 1] = 10
    chunked.set(frame, c)
  }
  return c
}

/** Sockets corked during this tick; uncorked together once the tick's writes are done. */
const corked = new Set<Socket>()
function uncorkAll(): void {
  for (const s of corked) s.uncork()
  corked.clear()
}

/**
 * A sink writing straight to a `node:http` response: no stream in between, and once the
 * head is out, each frame goes to the socket already framed as an HTTP chunk (framed once
 * per frame, shared by every connection), with every socket written in a tick uncorked
 * together after it. This skips the per-write work of `res.write` (its own chunk framing,
 * a three-buffer writev, a cork and a nextTick per write) that dominated the hub's CPU per
 * reader in the benchmark. Falls back to `res.write` when the response is not chunked
 * (HTTP/1.0).
 */
export class NodeResponseSink implements StreamSink {
  readonly #res: ServerResponse
  readonly #socket: Socket | undefined
  #closed = false
  readonly #hooks = new CloseHooks()
  /** Made when a writer first waits for the peer (most connections never do). */
  #drainWaiters: Array<() => void> | undefined = undefined
  /** The `drain` listener, on the response and the socket only while someone waits. */
  #onDrain: (() => void) | undefined = undefined
  readonly #lowWater: number

  constructor(res: ServerResponse, limitBytes: number) {
    this.#res = res
    this.#lowWater = Math.max(1, Math.floor(limitBytes / 2))
    // Only after the head went out (flushHeaders) and only for chunked responses.
    this.#socket =
      res.headersSent &&
      res.chunkedEncoding &&
      res.socket !== null &&
      process.env.RUNBUS_HUB_RES_WRITE !== '1'
        ? res.socket
        : undefined
    res.on('close', () => this.#finish())
  }

  /** Listens for `drain` while someone waits for the peer (a paced reader). */
  #listen(): void {
    if (this.#onDrain !== undefined) return
    const onDrain = (): void => {
      if (this.queuedBytes <= this.#lowWater) this.#wake()
    }
    this.#onDrain = onDrain
    this.#res.on('drain', onDrain)
    // The socket outlives this response on a keep-alive connection: the listener goes once
    // nobody waits (and in `#finish`), or every response on that socket would leave one.
    this.#socket?.on('drain', onDrain)
  }

  #unlisten(): void {
    const onDrain = this.#onDrain
    if (onDrain === undefined) return
    this.#onDrain = undefined
    this.#res.off('drain', onDrain)
    this.#socket?.off('drain', onDrain)
  }

  #wake(): void {
    const ws = this.#drainWaiters
    this.#drainWaiters = undefined
    this.#unlisten()
    if (ws !== undefined) for (const w of ws) w()
  }

  get queuedBytes(): number {
    return this.#socket ? this.#socket.writableLength : this.#res.writableLength
  }

  get closed(): boolean {
    return this.#closed
  }

  write(chunk: Uint8Array): void {
    if (this.#closed) return
    const socket = this.#socket
    if (!socket) {
      this.#res.write(chunk)
      return
    }
    if (!corked.has(socket)) {
      if (corked.size === 0) process.nextTick(uncorkAll)
      socket.cork()
      corked.add(socket)
    }
    socket.write(chunkOf(chunk))
  }

  waitDrain(): Promise<void> {
    if (this.#closed || this.queuedBytes <= this.#lowWater) return Promise.resolve()
    this.#listen()
    return new Promise((resolve) => (this.#drainWaiters ??= []).push(resolve))
  }

  end(): void {
    if (this.#closed) return
    this.#res.end()
    this.#finish()
  }

  abort(): void {
    if (this.#closed) return
    this.#res.destroy()
    this.#finish()
  }

  #finish(): void {
    if (this.#closed) return
    this.#closed = true
    this.#wake()
    this.#hooks.fire()
  }

  onClose(cb: () => void): void {
    this.#hooks.add(cb)
  }
}
