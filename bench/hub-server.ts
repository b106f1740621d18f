/*
 * The server side of the hub benchmark, one process per variant (forked by bench/hub.ts):
 *
 *   runbus-node  the hub's node:http adapter (hub.node), what `runbus serve` uses
 *   runbus-web   the hub's Web handler (hub.fetch) served through the generic
 *                Request/Response bridge, as a Node framework adapter would
 *   naive        node:http + EventEmitter SSE, one listener and one JSON.stringify per
 *                connection per event (seed 002's broker, in Node)
 *
 * Commands arrive over IPC; the emitter runs in this process, as an agent would, and stamps
 * each event with its emit time (performance.timeOrigin + now, comparable across processes
 * on one machine).
 */
import { EventEmitter } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRunbus } from '../src/index.js'
import { createHub } from '../src/hub/index.js'
import { fetchListener } from '../src/hub/bridge.js'
import type { Run } from '../src/agent/run.js'

const variant = process.argv[2] ?? 'runbus-node'
const now = (): number => performance.timeOrigin + performance.now()
const gc = (globalThis as { gc?: () => void }).gc

interface Variant {
  listener: (req: IncomingMessage, res: ServerResponse) => void
  newRun(id: string): Promise<string>
  emit(n: number): Promise<void>
  readers(): number
  end(): Promise<void>
}

function runbusVariant(web: boolean): Variant {
  const rb = createRunbus({ retention: { maxEvents: 100_000 } })
  // Every reader comes from one address (and no token): lift the connection caps, which
  // would otherwise admit 256 readers per address.
  const hub = createHub({
    runbus: rb,
    insecure: true,
    onError: (e) => console.error(e),
    limits: { maxConnections: 1_000_000, maxConnectionsPerAddress: 1_000_000 },
  })
  let run: Run | undefined
  return {
    listener: web ? fetchListener(hub.fetch) : hub.node,
    async newRun(id) {
      run = await rb.runs.create({ id })
      return `/v1/runs/${id}/events`
    },
    async emit(n) {
      for (let i = 0; i < n; i++) run!.emit('tick', { t: now() })
      await run!.flush()
    },
    readers: () => (run ? hub.readers(run.id) : 0),
    async end() {
      await run?.end()
    },
  }
}

function naiveVariant(): Variant {
  const emitter = new EventEmitter()
  emitter.setMaxListeners(0)
  let runId = ''
  let seq = 0
  return {
    listener(req, res) {
      const m = /^\/runs\/([^/]+)\/events/.exec(req.url ?? '')
      if (!m) {
        res.writeHead(404).end()
        return
      }
      const id = m[1]
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      res.flushHeaders()
      const onEvent = (ev: { id: string; type: string; data: unknown }): void => {
        if (ev.type === 'done') {
          res.end()
          return
        }
        res.write(`id: ${ev.id}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`)
      }
      emitter.on(id, onEvent)
      res.on('close', () => emitter.off(id, onEvent))
    },
    async newRun(id) {
      runId = id
      seq = 0
      return `/runs/${id}/events`
    },
    async emit(n) {
      for (let i = 0; i < n; i++) {
        seq++
        emitter.emit(runId, {
          id: String(seq),
          run: runId,
          seq,
          type: 'tick',
          data: { t: now() },
          ts: Date.now(),
        })
      }
    },
    readers: () => emitter.listenerCount(runId),
    async end() {
      emitter.emit(runId, { type: 'done' })
    },
  }
}

const v = variant === 'naive' ? naiveVariant() : runbusVariant(variant === 'runbus-web')
const server = createServer(v.listener)
server.keepAliveTimeout = 120_000
server.headersTimeout = 120_000
server.requestTimeout = 0
server.listen(0, '127.0.0.1', 4096, () => {
  process.send!({ type: 'ready', port: (server.address() as AddressInfo).port })
})

function mem(): { rss: number; heap: number } {
  gc?.()
  gc?.()
  const m = process.memoryUsage()
  return { rss: m.rss, heap: m.heapUsed + m.external + m.arrayBuffers }
}

process.on('message', (msg: { id: number; cmd: string; arg?: number | string }) => {
  const reply = (value: unknown): void => {
    process.send!({ type: 'reply', id: msg.id, value })
  }
  void (async () => {
    switch (msg.cmd) {
      case 'newRun':
        return reply(await v.newRun(String(msg.arg)))
      case 'cpu':
        return reply(process.cpuUsage())
      case 'mem':
        return reply(mem())
      case 'readers':
        return reply(v.readers())
      case 'emit': {
        const t0 = now()
        await v.emit(Number(msg.arg))
        return reply({ t0, t1: now() })
      }
      case 'end':
        await v.end()
        return reply(true)
      case 'exit':
        reply(true)
        server.closeAllConnections()
        server.close()
        setTimeout(() => process.exit(0), 50)
        return
    }
  })().catch((err: unknown) => {
    console.error(err)
    reply({ error: String(err) })
  })
})
