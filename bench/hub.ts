/*
 * Hub benchmark: one run followed by 1,000, then 5,000, then 10,000 SSE readers from a
 * separate process on loopback, for the hub's node:http adapter, its Web handler (through
 * the generic Request/Response bridge) and a naive baseline (node:http + EventEmitter, one
 * JSON.stringify per connection per event, as seed 002), side by side in one invocation.
 *
 *   npm run bench -- hub [variant,…] [--sizes=1000,5000,10000] [--paced=12] [--interval=250]
 *                        [--burst=100] [--clients=1]   (reader processes; N is split between them)
 *
 * Per variant and size it reports: emit→receive latency p50/p99/max over paced events (one
 * every 250 ms, below every variant's capacity, so latency is not queueing), events/s
 * delivered over a burst (events × readers / time from the first emit to the last frame
 * received), and memory per connection (hub RSS and heap growth
 * after the readers connected, after GC, / N). Also: the hub's own fan-out time per event
 * (emit → last write issued) and the CPU the hub process spent per event (user + system:
 * on loopback the kernel's share is most of it). Each server variant is its own process
 * (bench/hub-server.ts, with --expose-gc), the readers another (bench/hub-client.ts).
 * Prints a table and writes bench/results/hub.json.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const flag = (name: string, fallback: string): string =>
  args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback
const SIZES = flag('sizes', '1000,5000,10000').split(',').map(Number)
const PACED = Number(flag('paced', '12'))
const INTERVAL = Number(flag('interval', '250'))
const BURST = Number(flag('burst', '100'))
const CLIENTS = Number(flag('clients', '1'))
const filters = args.filter((a) => !a.startsWith('--')).flatMap((a) => a.split(','))
const ALL = ['runbus-node', 'runbus-web', 'naive']
const VARIANTS = filters.length ? ALL.filter((v) => filters.some((f) => v.startsWith(f))) : ALL

class Peer {
  #next = 0
  #pending = new Map<number, (v: unknown) => void>()
  readonly ready: Promise<Record<string, unknown>>
  constructor(readonly proc: ChildProcess) {
    this.ready = new Promise((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`child exited with ${code}`)))
      proc.on('message', (m: { type: string; id?: number; value?: unknown }) => {
        if (m.type === 'ready') resolve(m)
        else if (m.type === 'reply') {
          this.#pending.get(m.id!)?.(m.value)
          this.#pending.delete(m.id!)
        }
      })
    })
  }
  call<T>(cmd: string, arg?: unknown): Promise<T> {
    const id = ++this.#next
    return new Promise<T>((resolve) => {
      this.#pending.set(id, resolve as (v: unknown) => void)
      this.proc.send({ id, cmd, arg })
    })
  }
}

function child(file: string, argv: string[], gc: boolean): Peer {
  const execArgv = ['--import', 'tsx', ...(gc ? ['--expose-gc'] : []), '--max-old-space-size=4096']
  return new Peer(
    fork(join(here, file), argv, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  )
}

interface Row {
  variant: string
  readers: number
  connected: number
  p50Ms: number
  /** Server-side time to emit one event and write it to every reader (median). */
  fanoutMs: number
  /** CPU the hub process used per paced event (user + system), and the readers' process. */
  serverCpuMsPerEvent: number
  /** Of which in the kernel (system time). */
  serverSysMsPerEvent: number
  clientCpuMsPerEvent: number
  p99Ms: number
  maxMs: number
  pacedDelivered: number
  eventsPerSec: number
  burstDelivered: number
  rssPerConnKB: number
  heapPerConnKB: number
}

interface Stats {
  received: number
  lastAt: number
  p50: number
  p99: number
  max: number
  closed: number
}

/** Several reader processes driven as one. */
class Readers {
  constructor(readonly peers: Peer[]) {}
  all<T>(cmd: string, arg?: (i: number) => unknown): Promise<T[]> {
    return Promise.all(this.peers.map((p, i) => p.call<T>(cmd, arg?.(i))))
  }
  async call<T>(cmd: string, arg?: unknown): Promise<T> {
    switch (cmd) {
      case 'connect': {
        const a = arg as { n: number; localAddress: string }
        const k = this.peers.length
        const res = await this.all<{ open: number; headers: number }>('connect', (i) => ({
          ...a,
          n: Math.floor(a.n / k) + (i < a.n % k ? 1 : 0),
          localAddress: `${a.localAddress.split('.').slice(0, 3).join('.')}.${Number(a.localAddress.split('.')[3]) + i * 60}`,
        }))
        return {
          open: res.reduce((x, r) => x + r.open, 0),
          headers: res.reduce((x, r) => x + r.headers, 0),
        } as T
      }
      case 'wait': {
        const a = arg as { count: number; timeoutMs: number }
        const per = a.count / this.peers.length
        const res = await this.all<{ received: number; lastAt: number }>('wait', () => ({
          ...a,
          count: Math.floor(per),
        }))
        return {
          received: res.reduce((x, r) => x + r.received, 0),
          lastAt: Math.max(...res.map((r) => r.lastAt)),
        } as T
      }
      case 'stats': {
        const res = await this.all<Stats & { raw: number[] }>('stats', () => ({ raw: true }))
        const merged = Float64Array.from(res.flatMap((r) => r.raw)).sort()
        const at = (p: number) =>
          merged[Math.min(merged.length - 1, Math.floor((p / 100) * merged.length))]
        return {
          received: res.reduce((x, r) => x + r.received, 0),
          lastAt: Math.max(...res.map((r) => r.lastAt)),
          p50: at(50),
          p99: at(99),
          max: merged.length ? merged[merged.length - 1] : NaN,
          closed: res.reduce((x, r) => x + r.closed, 0),
        } as T
      }
      case 'cpu': {
        const res = await this.all<{ user: number; system: number }>('cpu')
        return {
          user: res.reduce((x, r) => x + r.user, 0),
          system: res.reduce((x, r) => x + r.system, 0),
        } as T
      }
      default:
        await this.all(cmd, () => arg)
        return undefined as T
    }
  }
}

const rows: Row[] = []
const client = new Readers(Array.from({ length: CLIENTS }, () => child('hub-client.ts', [], false)))
await Promise.all(client.peers.map((p) => p.ready))
let addr = 2
for (const variant of VARIANTS) {
  const server = child('hub-server.ts', [variant], true)
  const { port } = (await server.ready) as { port: number }
  for (const n of SIZES) {
    const path = await server.call<string>('newRun', `bench-${n}`)
    const before = await server.call<{ rss: number; heap: number }>('mem')
    // A fresh loopback source address per phase: closed sockets never exhaust the ports.
    const opened = await client.call<{ open: number; headers: number }>('connect', {
      port,
      path,
      n,
      localAddress: `127.0.0.${addr++}`,
    })
    const deadline = Date.now() + 60_000
    while ((await server.call<number>('readers')) < opened.headers && Date.now() < deadline)
      await sleep(20)
    const connected = await server.call<number>('readers')
    const after = await server.call<{ rss: number; heap: number }>('mem')
    // warm-up
    await client.call('reset')
    await server.call('emit', 3)
    await client.call('wait', { count: connected * 3, timeoutMs: 30_000 })
    // latency: paced events
    await client.call('reset')
    type Cpu = { user: number; system: number }
    const cpu0 = await Promise.all([server.call<Cpu>('cpu'), client.call<Cpu>('cpu')])
    const fanoutMs: number[] = []
    for (let i = 0; i < PACED; i++) {
      const { t0, t1 } = await server.call<{ t0: number; t1: number }>('emit', 1)
      fanoutMs.push(t1 - t0)
      await sleep(INTERVAL)
    }
    fanoutMs.sort((a, b) => a - b)
    await client.call('wait', { count: connected * PACED, timeoutMs: 30_000 })
    const paced = await client.call<Stats>('stats')
    const cpu1 = await Promise.all([server.call<Cpu>('cpu'), client.call<Cpu>('cpu')])
    const cpuMs = (i: 0 | 1, k: 'user' | 'system') =>
      ((cpu1[i][k] - cpu0[i][k]) / 1000 / PACED).toFixed(1)
    if (process.env.BENCH_DEBUG) {
      console.error(
        `${variant} ${n}: per paced event cpu ms: server user ${cpuMs(0, 'user')} sys ${cpuMs(0, 'system')}; client user ${cpuMs(1, 'user')} sys ${cpuMs(1, 'system')}`,
      )
    }
    // throughput: a burst
    await client.call('reset')
    const { t0 } = await server.call<{ t0: number }>('emit', BURST)
    await client.call('wait', { count: connected * BURST, timeoutMs: 60_000 })
    const burst = await client.call<Stats>('stats')
    await client.call('close')
    await server.call('end')
    const row: Row = {
      variant,
      readers: n,
      connected,
      p50Ms: +paced.p50.toFixed(2),
      fanoutMs: +fanoutMs[Math.floor(fanoutMs.length / 2)].toFixed(2),
      serverCpuMsPerEvent: +(Number(cpuMs(0, 'user')) + Number(cpuMs(0, 'system'))).toFixed(1),
      serverSysMsPerEvent: Number(cpuMs(0, 'system')),
      clientCpuMsPerEvent: +(Number(cpuMs(1, 'user')) + Number(cpuMs(1, 'system'))).toFixed(1),
      p99Ms: +paced.p99.toFixed(2),
      maxMs: +paced.max.toFixed(2),
      pacedDelivered: +(paced.received / (connected * PACED)).toFixed(4),
      eventsPerSec: Math.round(burst.received / ((burst.lastAt - t0) / 1000)),
      burstDelivered: +(burst.received / (connected * BURST)).toFixed(4),
      rssPerConnKB: +((after.rss - before.rss) / 1024 / Math.max(1, connected)).toFixed(2),
      heapPerConnKB: +((after.heap - before.heap) / 1024 / Math.max(1, connected)).toFixed(2),
    }
    rows.push(row)
    console.error(JSON.stringify(row))
    await sleep(200)
  }
  await server.call('exit')
}
await client.call('exit')

const head = [
  'variant',
  'readers',
  'fan-out ms',
  'hub CPU ms/event',
  'p50 ms',
  'p99 ms',
  'max ms',
  'events/s delivered',
  'delivered',
  'RSS/conn KB',
  'heap/conn KB',
]
const lines = rows.map((r) => [
  r.variant,
  `${r.connected}/${r.readers}`,
  r.fanoutMs.toFixed(1),
  r.serverCpuMsPerEvent.toFixed(1),
  r.p50Ms.toFixed(1),
  r.p99Ms.toFixed(1),
  r.maxMs.toFixed(1),
  r.eventsPerSec.toLocaleString('en-US'),
  `${(Math.min(r.pacedDelivered, r.burstDelivered) * 100).toFixed(1)}%`,
  r.rssPerConnKB.toFixed(1),
  r.heapPerConnKB.toFixed(1),
])
const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)))
const fmt = (cells: string[]): string =>
  '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |'
console.log(
  `\nhub: one run, N SSE readers on loopback; ${PACED} paced events (${INTERVAL} ms apart) for latency, a burst of ${BURST} for throughput`,
)
console.log(fmt(head))
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|')
for (const l of lines) console.log(fmt(l))
mkdirSync(join(here, 'results'), { recursive: true })
writeFileSync(
  join(here, 'results', 'hub.json'),
  JSON.stringify(
    {
      bench: 'hub',
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      memGB: Math.round(totalmem() / 2 ** 30),
      paced: PACED,
      burst: BURST,
      rows,
    },
    null,
    2,
  ) + '\n',
)
console.log('\nwrote bench/results/hub.json')
