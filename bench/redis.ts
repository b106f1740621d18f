/*
 * Redis benchmark: append → follower delivered events/s, runbus against the raw ceiling,
 * side by side in the same invocation on a redis-server started for it.
 *
 *   npm run bench -- redis [--runs=3] [--n=100000]
 *
 * - runbus: `run.emit()` × n on one runbus instance (its own Redis backend), a follower
 *   (`rb.runs.follow`) on a second instance with its own backend (its own connections, as
 *   another process would have). Timed from the first emit to the follower holding event n.
 * - raw ceiling: ioredis, the same payloads as pipelined XADD (1,000 per pipeline, all
 *   pipelines in flight at once) on one connection, and an `XREAD BLOCK COUNT 1000` loop on a
 *   second connection that JSON-parses each entry (the runbus follower decodes too).
 *
 * Runs alternate (raw, runbus, raw, runbus…) so machine noise spreads evenly; the median is
 * reported. Redis commands per event come from INFO commandstats deltas (commands run inside
 * Lua scripts count). Prints a table and writes bench/results/redis.json.
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { createRunbus } from '../src/index.js'
import { redisBackend } from '../src/backends/redis/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../test/helpers/redis-server.js'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const flag = (name: string, fallback: number): number => {
  const a = args.find((x) => x.startsWith(`--${name}=`))
  return a === undefined ? fallback : Number(a.slice(name.length + 3))
}
const RUNS = Math.max(3, flag('runs', 3))
const N = flag('n', 100_000)

/** What one event carries: a streamed token, like an agent emits. */
const payload = (i: number) => ({ text: `token ${i} `, i })

interface Sample {
  ms: number
  eventsPerSec: number
  commands: Record<string, number>
}

/** Redis calls per command since the last snapshot, from INFO commandstats. */
function commandStats(redis: TestRedis): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of redis.cli('INFO', 'commandstats').split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim())
    if (m) out[m[1]] = Number(m[2])
  }
  return out
}

function delta(before: Record<string, number>, after: Record<string, number>) {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0)
    if (d > 0 && k !== 'info') out[k] = d
  }
  return out
}

async function raw(redis: TestRedis): Promise<Sample> {
  const key = `bench-raw-${randomUUID()}`
  const producer = new Redis(redis.url)
  const reader = new Redis(redis.url)
  await Promise.all([producer.ping(), reader.ping()])
  const before = commandStats(redis)
  const t0 = performance.now()
  const following = (async () => {
    let last = '0-0'
    let got = 0
    let sum = 0
    while (got < N) {
      const res = await reader.xread('COUNT', 1000, 'BLOCK', 5000, 'STREAMS', key, last)
      if (!res) continue
      for (const [, entries] of res) {
        for (const [id, fields] of entries) {
          last = id
          const data = JSON.parse(fields[3]) as { i: number }
          sum += data.i
          got++
        }
      }
    }
    return sum
  })()
  const pipelines: Promise<unknown>[] = []
  for (let i = 1; i <= N; i += 1000) {
    const p = producer.pipeline()
    for (let j = i; j < i + 1000 && j <= N; j++) {
      p.xadd(key, '*', 't', 'text', 'd', JSON.stringify(payload(j)), 'ts', Date.now())
    }
    pipelines.push(p.exec())
  }
  await Promise.all(pipelines)
  await following
  const ms = performance.now() - t0
  const commands = delta(before, commandStats(redis))
  await producer.del(key)
  producer.disconnect()
  reader.disconnect()
  return { ms, eventsPerSec: (N / ms) * 1000, commands }
}

async function runbus(redis: TestRedis): Promise<Sample> {
  const prefix = `bench-${randomUUID()}`
  const writerBackend = redisBackend({ url: redis.url, prefix })
  const readerBackend = redisBackend({ url: redis.url, prefix })
  const retention = { maxEvents: N + 10 }
  const writer = createRunbus({ backend: writerBackend, retention })
  const reader = createRunbus({ backend: readerBackend, retention })
  const run = await writer.runs.create()
  await Promise.all([writerBackend.ping(), readerBackend.ping()])
  const follower = reader.runs.follow(run.id)
  const first = follower.next() // establishes the follower (watch + read)
  const before = commandStats(redis)
  const t0 = performance.now()
  const following = (async () => {
    let sum = 0
    let r = await first
    while (!r.done) {
      sum += (r.value.data as { i: number }).i
      if (r.value.seq >= N) break
      r = await follower.next()
    }
    return sum
  })()
  for (let i = 1; i <= N; i++) run.emit('text', payload(i))
  await run.flush()
  await following
  const ms = performance.now() - t0
  const commands = delta(before, commandStats(redis))
  follower.close()
  await run.end({ status: 'completed' })
  await writer.close()
  await reader.close()
  await writerBackend.close()
  await readerBackend.close()
  return { ms, eventsPerSec: (N / ms) * 1000, commands }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function summarize(samples: Sample[]) {
  const mid = samples.find((s) => s.ms === median(samples.map((x) => x.ms)))!
  const total = Object.values(mid.commands).reduce((a, b) => a + b, 0)
  return {
    eventsPerSec: Math.round(median(samples.map((s) => s.eventsPerSec))),
    ms: Math.round(median(samples.map((s) => s.ms))),
    commandsPerEvent: Number((total / N).toFixed(3)),
    commands: mid.commands,
    runs: samples.map((s) => Math.round(s.eventsPerSec)),
  }
}

if (!redisAvailable()) {
  console.error('redis-server is not installed: cannot run the Redis benchmark')
  process.exit(1)
}
const redis = await startRedis()
try {
  const results: { raw: Sample[]; runbus: Sample[] } = { raw: [], runbus: [] }
  // Warm-up (JIT, connections), not counted.
  await raw(redis)
  await runbus(redis)
  for (let r = 0; r < RUNS; r++) {
    results.raw.push(await raw(redis))
    results.runbus.push(await runbus(redis))
  }
  const rawSum = summarize(results.raw)
  const rbSum = summarize(results.runbus)
  const ratio = Number((rbSum.eventsPerSec / rawSum.eventsPerSec).toFixed(2))
  const redisVersion = /redis_version:(\S+)/.exec(redis.cli('INFO', 'server'))?.[1]
  const fmt = (n: number) => n.toLocaleString('en-US')
  const top = (c: Record<string, number>) =>
    Object.entries(c)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([k, v]) => `${k} ${(v / N).toFixed(3)}`)
      .join(', ')
  console.log(
    `\nRedis append → follower, ${fmt(N)} events, median of ${RUNS} runs (Redis ${redisVersion}, ${cpus()[0]?.model ?? 'cpu'})\n`,
  )
  const rows = [
    ['variant', 'events/s', 'ms', '× raw', 'cmds/event', 'per event'],
    [
      'raw ceiling (pipelined XADD + XREAD)',
      fmt(rawSum.eventsPerSec),
      fmt(rawSum.ms),
      '1.00',
      String(rawSum.commandsPerEvent),
      top(rawSum.commands),
    ],
    [
      'runbus (emit + follow)',
      fmt(rbSum.eventsPerSec),
      fmt(rbSum.ms),
      ratio.toFixed(2),
      String(rbSum.commandsPerEvent),
      top(rbSum.commands),
    ],
  ]
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
  for (const r of rows) console.log(r.map((x, c) => x.padEnd(widths[c])).join('  '))
  console.log(`\nrunbus / raw = ${ratio} (target ≥ 0.7)`)
  const out = {
    benchmark: 'redis',
    date: new Date().toISOString(),
    n: N,
    runs: RUNS,
    redis: redisVersion,
    node: process.version,
    cpu: cpus()[0]?.model,
    raw: rawSum,
    runbus: rbSum,
    ratio,
    target: 0.7,
  }
  mkdirSync(join(here, 'results'), { recursive: true })
  writeFileSync(join(here, 'results', 'redis.json'), JSON.stringify(out, null, 2) + '\n')
  console.log('wrote bench/results/redis.json')
} finally {
  await redis.stop()
}
