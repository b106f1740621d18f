/*
 * Fan-out benchmark: one run, N in-process followers, E events; deliveries per second and
 * peak memory, runbus (memory backend: stored log, replayable, bounded followers) against a
 * bare EventEmitter fan-out with a promise queue per subscriber (what seed 002 does, no
 * history, unbounded queues).
 *
 *   npm run bench -- fanout [--runs=3] [--events=100000] [--followers=1,100,1000]
 *
 * Every run of every case is a fresh child process (so peak memory is that case's alone);
 * runs are interleaved across implementations and the median is reported. The producer
 * emits in bursts of 100 events and yields to the event loop between bursts, as an agent
 * streaming tokens does. `runbus` reads with `for await` (one event per await, like the
 * emitter's readers); `runbus-batches` reads `follower.batches()` (one array per await, the
 * backend's own array shared by every follower), as the hub's SSE writer can. `emitter+log`
 * is the emitter fan-out whose producer also keeps every event in an array: the least a
 * replayable log costs in this heap, so "vs emitter+log" is runbus against the price of replay
 * alone. Prints a table and writes bench/results/fanout.json.
 */
import { spawnSync } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRunbus } from '../src/index.js'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const flag = (name: string, fallback: string): string => {
  const a = args.find((x) => x.startsWith(`--${name}=`))
  return a === undefined ? fallback : a.slice(name.length + 3)
}
const BURST = 100

interface Line {
  impl: string
  followers: number
  events: number
  ms: number
  deliveriesPerSec: number
  peakRssMB: number
  peakHeapMB: number
  /** Bytes (heap and ArrayBuffers) per retained event (runbus and emitter+log; the bare emitter keeps nothing). */
  retainedBytesPerEvent?: number
}

const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r))

function sampler(): { stop(): { rss: number; heap: number } } {
  let rss = 0
  let heap = 0
  const take = (): void => {
    const m = process.memoryUsage()
    rss = Math.max(rss, m.rss)
    heap = Math.max(heap, m.heapUsed)
  }
  take()
  const t = setInterval(take, 20)
  return {
    stop() {
      take()
      clearInterval(t)
      return { rss, heap }
    },
  }
}

/** Bytes per event the memory backend retains after a run (heap and ArrayBuffers), for the one measured run. */
let retainedPerEvent: number | undefined

/** Heap bytes in use after a full GC, with the ArrayBuffer memory outside the heap (typed arrays). */
const heapAfterGc = (): number => {
  global.gc?.()
  global.gc?.()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

async function runbusCase(followers: number, events: number, batches: boolean): Promise<number> {
  const heapBefore = heapAfterGc()
  const rb = createRunbus({ retention: { maxEvents: events + 10 } })
  const run = await rb.runs.create({ id: 'bench' })
  let delivered = 0
  const readers = Array.from({ length: followers }, async () => {
    if (batches) for await (const b of rb.runs.follow('bench').batches()) delivered += b.length
    else for await (const _ of rb.runs.follow('bench')) delivered++
  })
  const t0 = performance.now()
  for (let i = 0; i < events; i += BURST) {
    for (let j = i; j < i + BURST && j < events; j++) run.emit('text', { text: 'tok', i: j })
    await yieldLoop()
  }
  await run.end()
  await Promise.all(readers)
  const ms = performance.now() - t0
  if (delivered !== followers * (events + 1)) throw new Error(`delivered ${delivered}`)
  // The log still holds every event (retention above): what it costs per event, in heap.
  retainedPerEvent = (heapAfterGc() - heapBefore) / (events + 1)
  await rb.close()
  return ms
}

/**
 * Seed 002's broker: an emitter, one unbounded queue per subscriber, a "done" sentinel. With
 * `log`, the producer also keeps every event it emits in an array: the least any replayable
 * log costs in this heap (no ids, no seqs, no budget), so runbus's price of replay can be read
 * against it. Its retained bytes per event are measured the same way as runbus's.
 */
async function emitterCase(followers: number, events: number, log: boolean): Promise<number> {
  const heapBefore = log ? heapAfterGc() : 0
  const kept: Array<{ type: string }> = []
  const bus = new EventEmitter()
  bus.setMaxListeners(0)
  let delivered = 0
  const readers = Array.from({ length: followers }, async () => {
    // Seed 002: one unbounded queue per subscriber, the reader awaits `get()` per event.
    const buf: Array<{ type: string }> = []
    let head = 0
    let waiter: ((e: { type: string }) => void) | undefined
    const get = (): Promise<{ type: string }> => {
      if (head < buf.length) {
        const e = buf[head++]
        if (head === buf.length) {
          buf.length = 0
          head = 0
        }
        return Promise.resolve(e)
      }
      return new Promise((r) => (waiter = r))
    }
    const listener = (e: { type: string }): void => {
      if (waiter) {
        const w = waiter
        waiter = undefined
        w(e)
      } else buf.push(e)
    }
    bus.on('event', listener)
    for (;;) {
      const e = await get()
      delivered++
      if (e.type === 'done') break
    }
    bus.off('event', listener)
  })
  const t0 = performance.now()
  for (let i = 0; i < events; i += BURST) {
    for (let j = i; j < i + BURST && j < events; j++) {
      const e = { type: 'text', data: { text: 'tok', i: j } }
      if (log) kept.push(e)
      bus.emit('event', e)
    }
    await yieldLoop()
  }
  bus.emit('event', { type: 'done' })
  await Promise.all(readers)
  const ms = performance.now() - t0
  if (delivered !== followers * (events + 1)) throw new Error(`delivered ${delivered}`)
  if (log) retainedPerEvent = (heapAfterGc() - heapBefore) / kept.length
  return ms
}

async function child(impl: string, followers: number, events: number): Promise<void> {
  // Warm up the code paths once, small.
  const go = (f: number, e: number): Promise<number> =>
    impl.startsWith('emitter')
      ? emitterCase(f, e, impl === 'emitter+log')
      : runbusCase(f, e, impl === 'runbus-batches')
  await go(2, 2_000)
  retainedPerEvent = undefined
  global.gc?.()
  const mem = sampler()
  const ms = await go(followers, events)
  const peak = mem.stop()
  const line: Line = {
    impl,
    followers,
    events,
    ms,
    deliveriesPerSec: (followers * (events + 1) * 1000) / ms,
    peakRssMB: peak.rss / 2 ** 20,
    peakHeapMB: peak.heap / 2 ** 20,
    ...(retainedPerEvent === undefined ? {} : { retainedBytesPerEvent: retainedPerEvent }),
  }
  process.stdout.write(JSON.stringify(line) + '\n')
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function parent(): void {
  const runs = Number(flag('runs', '3'))
  const events = Number(flag('events', '100000'))
  const counts = flag('followers', '1,100,1000').split(',').map(Number)
  const impls = ['runbus', 'runbus-batches', 'emitter', 'emitter+log']
  const results: Line[] = []
  console.log(
    `fanout: ${events} events, followers ${counts.join('/')}, median of ${runs} runs, node ${process.version}, ${cpus()[0]?.model ?? ''}`,
  )
  for (const followers of counts) {
    const byImpl = new Map<string, Line[]>()
    for (let r = 0; r < runs; r++) {
      const order = impls.map((_, i) => impls[(i + r) % impls.length])
      for (const impl of order) {
        const out = spawnSync(
          process.execPath,
          [
            '--expose-gc',
            '--import',
            'tsx',
            fileURLToPath(import.meta.url),
            '--child',
            impl,
            String(followers),
            String(events),
          ],
          { encoding: 'utf8', maxBuffer: 1 << 20 },
        )
        if (out.status !== 0) {
          console.error(out.stderr)
          throw new Error(`${impl} ${followers} failed`)
        }
        const line = JSON.parse(out.stdout.trim().split('\n').pop()!) as Line
        byImpl.set(impl, [...(byImpl.get(impl) ?? []), line])
      }
    }
    for (const impl of impls) {
      const lines = byImpl.get(impl)!
      results.push({
        impl,
        followers,
        events,
        ms: median(lines.map((l) => l.ms)),
        deliveriesPerSec: median(lines.map((l) => l.deliveriesPerSec)),
        peakRssMB: median(lines.map((l) => l.peakRssMB)),
        peakHeapMB: median(lines.map((l) => l.peakHeapMB)),
        ...(lines[0].retainedBytesPerEvent === undefined
          ? {}
          : { retainedBytesPerEvent: median(lines.map((l) => l.retainedBytesPerEvent!)) }),
      })
    }
  }
  const rows = results.map((r) => {
    const peer = results.find((p) => p.impl === 'emitter' && p.followers === r.followers)!
    const logPeer = results.find((p) => p.impl === 'emitter+log' && p.followers === r.followers)!
    return {
      followers: r.followers,
      impl: r.impl,
      'deliveries/s': Math.round(r.deliveriesPerSec).toLocaleString('en-US'),
      'vs emitter': (r.deliveriesPerSec / peer.deliveriesPerSec).toFixed(2) + '×',
      'vs emitter+log': (r.deliveriesPerSec / logPeer.deliveriesPerSec).toFixed(2) + '×',
      ms: Math.round(r.ms),
      'peak RSS MB': r.peakRssMB.toFixed(0),
      'peak heap MB': r.peakHeapMB.toFixed(0),
      'retained B/event':
        r.retainedBytesPerEvent === undefined ? '' : r.retainedBytesPerEvent.toFixed(0),
    }
  })
  console.table(rows)
  mkdirSync(join(here, 'results'), { recursive: true })
  writeFileSync(
    join(here, 'results', 'fanout.json'),
    JSON.stringify(
      { node: process.version, cpu: cpus()[0]?.model, runs, events, results },
      null,
      2,
    ) + '\n',
  )
  console.log('wrote bench/results/fanout.json')
}

const at = args.indexOf('--child')
if (at >= 0) await child(args[at + 1], Number(args[at + 2]), Number(args[at + 3]))
else parent()
