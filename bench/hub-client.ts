/*
 * The reader side of the hub benchmark: N raw HTTP/1.1 connections (node:net) following one
 * stream, parsed minimally (each event's emit time is found by a regex over the text; frame
 * boundaries by the blank line), in a process of its own. Commands arrive over IPC.
 */
import { connect, type Socket } from 'node:net'

const now = (): number => performance.timeOrigin + performance.now()

interface Conn {
  socket: Socket
  carry: Buffer | undefined
  headers: boolean
  received: number
}

let conns: Conn[] = []
let latencies = new Float64Array(1 << 20)
let nLat = 0
const DEBUG = process.env.BENCH_DEBUG === '1'
const perEvent = new Map<number, number[]>()
let received = 0
let lastAt = 0

const NEEDLE = Buffer.from('"t":')
const HEAD_END = Buffer.from('\r\n\r\n')

/** Reads the number at `i` (digits and one dot) without making strings. */
function numberAt(buf: Buffer, i: number): { value: number; end: number } {
  let value = 0
  let scale = 0
  let j = i
  for (; j < buf.length; j++) {
    const ch = buf[j]
    if (ch === 46) scale = 1
    else if (ch >= 48 && ch <= 57) {
      if (scale === 0) value = value * 10 + (ch - 48)
      else value += (ch - 48) / 10 ** scale++
    } else break
  }
  return { value, end: j }
}

function onData(c: Conn, chunk: Buffer): void {
  const at = now()
  let buf = c.carry ? Buffer.concat([c.carry, chunk]) : chunk
  c.carry = undefined
  if (!c.headers) {
    const i = buf.indexOf(HEAD_END)
    if (i < 0) {
      c.carry = buf
      return
    }
    c.headers = true
    buf = buf.subarray(i + 4)
  }
  let i = 0
  for (;;) {
    const k = buf.indexOf(NEEDLE, i)
    if (k < 0) break
    const { value, end } = numberAt(buf, k + 4)
    if (end >= buf.length) {
      // the number may go on in the next chunk
      c.carry = Buffer.from(buf.subarray(k))
      break
    }
    i = end
    const lat = at - value
    if (nLat === latencies.length) {
      const bigger = new Float64Array(latencies.length * 2)
      bigger.set(latencies)
      latencies = bigger
    }
    latencies[nLat++] = lat
    if (DEBUG) {
      const e = perEvent.get(value) ?? [Infinity, 0, 0]
      e[0] = Math.min(e[0], lat)
      e[1] = Math.max(e[1], lat)
      e[2]++
      perEvent.set(value, e)
    }
    c.received++
    received++
    lastAt = at
  }
  if (!c.carry && buf.length >= 3) {
    // keep a possible partial needle at the end
    const tail = buf.subarray(buf.length - 3)
    if (tail.includes(34)) c.carry = Buffer.from(tail)
  }
}

// One read buffer for every socket: `onread` hands each read to us synchronously, without
// allocating a Buffer or going through the stream machinery (the cheapest read Node has).
const READ_BUF = Buffer.allocUnsafe(256 * 1024)

function open(port: number, path: string, localAddress: string): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const c: Conn = {
      socket: undefined as unknown as Socket,
      carry: undefined,
      headers: false,
      received: 0,
    }
    const socket = connect({
      port,
      host: '127.0.0.1',
      localAddress,
      onread: {
        buffer: READ_BUF,
        callback: (n: number, buf: Uint8Array) => {
          onData(c, (buf as Buffer).subarray(0, n))
          return true
        },
      },
    })
    c.socket = socket
    socket.setNoDelay(true)
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`)
      resolve(c)
    })
    socket.on('error', () => undefined)
  })
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

process.on('message', (msg: { id: number; cmd: string; arg?: Record<string, unknown> }) => {
  const reply = (value: unknown): void => {
    process.send!({ type: 'reply', id: msg.id, value })
  }
  void (async () => {
    switch (msg.cmd) {
      case 'connect': {
        const { port, path, n, localAddress } = msg.arg as {
          port: number
          path: string
          n: number
          localAddress: string
        }
        conns = []
        const batch = 256
        let errors = 0
        for (let i = 0; i < n; i += batch) {
          const opened = await Promise.allSettled(
            Array.from({ length: Math.min(batch, n - i) }, () => open(port, path, localAddress)),
          )
          for (const o of opened) {
            if (o.status === 'fulfilled') conns.push(o.value)
            else errors++
          }
        }
        // wait for every response head
        const deadline = Date.now() + 60_000
        while (conns.some((c) => !c.headers) && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20))
        return reply({ open: conns.length, errors, headers: conns.filter((c) => c.headers).length })
      }
      case 'cpu':
        return reply(process.cpuUsage())
      case 'reset':
        if (DEBUG && perEvent.size > 0) {
          console.error(
            [...perEvent.values()].map((e) => `${e[0].toFixed(0)}-${e[1].toFixed(0)}`).join(' '),
          )
        }
        perEvent.clear()
        nLat = 0
        received = 0
        lastAt = 0
        return reply(true)
      case 'wait': {
        const { count, timeoutMs } = msg.arg as { count: number; timeoutMs: number }
        const deadline = Date.now() + timeoutMs
        while (received < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
        return reply({ received, lastAt })
      }
      case 'stats': {
        const sorted = latencies.slice(0, nLat).sort()
        return reply({
          received,
          lastAt,
          p50: pct(sorted, 50),
          p90: pct(sorted, 90),
          p99: pct(sorted, 99),
          max: sorted.length ? sorted[sorted.length - 1] : NaN,
          closed: conns.filter((c) => c.socket.destroyed).length,
          ...((msg.arg as { raw?: boolean } | undefined)?.raw ? { raw: Array.from(sorted) } : {}),
        })
      }
      case 'close':
        for (const c of conns) c.socket.resetAndDestroy()
        conns = []
        return reply(true)
      case 'exit':
        reply(true)
        setTimeout(() => process.exit(0), 20)
        return
    }
  })()
})
process.send!({ type: 'ready' })
