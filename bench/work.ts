/*
 * Work-queue benchmark: runbus against BullMQ on the same fresh redis-server, in one run.
 *
 *   npm run bench -- work [--n=50000] [--runs=3]
 *
 * Cases, each with N jobs (default 50,000), median of RUNS runs (fewer for a slow peer,
 * said in the table):
 * - add: bulk adds in chunks of 1,000 (runbus `addMany`, BullMQ `addBulk`), jobs/s.
 * - process c=1, c=50: jobs added beforehand; a worker with a no-op handler at that
 *   concurrency, timed from start until every job is acknowledged, jobs/s.
 * - c=1 prefetch=50 (runbus only, compared with BullMQ's c=1): one handler at a time, 50
 *   jobs read ahead.
 * Every case counts the Redis commands it caused (INFO commandstats deltas, commands run
 * inside Lua scripts included, INFO itself excluded) and prints commands per job.
 * Writes bench/results/work.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { keyBuilder, type RedisContext } from '../src/backends/redis/context.js'
import { createRedisWorkStore } from '../src/backends/redis/work.js'
import { createWorkApi } from '../src/work/index.js'
import { startRedis } from '../test/helpers/redis-server.js'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const flag = (name: string, fallback: number): number => {
  const a = args.find((x) => x.startsWith(`--${name}=`))
  return a === undefined ? fallback : Number(a.slice(name.length + 3))
}
const N = flag('n', 50_000)
const RUNS = flag('runs', 3)
/** A peer case whose first run takes longer than this runs once more only. */
const SLOW_MS = 20_000
const CHUNK = 1_000

const redis = await startRedis()
const admin = new Redis(redis.url)

async function commandCalls(): Promise<Map<string, number>> {
  const info = await admin.info('commandstats')
  const out = new Map<string, number>()
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1], Number(m[2]))
  return out
}

async function measure(
  fn: () => Promise<void>,
): Promise<{ ms: number; commands: number; top: string }> {
  await admin.config('RESETSTAT')
  const t0 = performance.now()
  await fn()
  const ms = performance.now() - t0
  const calls = await commandCalls()
  calls.delete('info')
  calls.delete('config')
  let commands = 0
  for (const v of calls.values()) commands += v
  const top = [...calls.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([k, v]) => `${k} ${(v / N).toFixed(2)}`)
    .join(', ')
  return { ms, commands, top }
}

// ---------------------------------------------------------------- runbus

function runbus() {
  const client = new Redis(redis.url)
  const opened: Redis[] = [client]
  const prefix = `bench${Date.now()}`
  const ctx: RedisContext = {
    prefix,
    client,
    commandTimeoutMs: 5_000,
    key: keyBuilder(prefix),
    duplicate: () => {
      const c = client.duplicate()
      opened.push(c)
      return c
    },
  }
  const store = createRedisWorkStore(ctx)
  const work = createWorkApi({ work: store })
  const q = work.queue<{ n: number }>('bench')
  return {
    async add() {
      for (let i = 0; i < N; i += CHUNK)
        await q.addMany(
          Array.from({ length: Math.min(CHUNK, N - i) }, (_, k) => ({ data: { n: i + k } })),
        )
    },
    async process(concurrency: number, prefetch: number) {
      let done = 0
      let finish!: () => void
      const all = new Promise<void>((r) => (finish = r))
      const worker = q.process(
        async () => {
          if (++done === N) finish()
        },
        { concurrency, prefetch },
      )
      await all
      await worker.stop({ drain: true })
      const s = await q.stats()
      if (s.completed < N) throw new Error(`runbus: only ${s.completed} of ${N} acknowledged`)
    },
    async close() {
      await work.close()
      await store.close()
      for (const c of opened) c.disconnect()
    },
  }
}

// ---------------------------------------------------------------- BullMQ

function bullmq() {
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null }
  const queue = new Queue('bench', { connection })
  return {
    async add() {
      for (let i = 0; i < N; i += CHUNK)
        await queue.addBulk(
          Array.from({ length: Math.min(CHUNK, N - i) }, (_, k) => ({
            name: 'j',
            data: { n: i + k },
            opts: { removeOnComplete: true, removeOnFail: true },
          })),
        )
    },
    async process(concurrency: number, _prefetch: number) {
      let done = 0
      let finish!: () => void
      const all = new Promise<void>((r) => (finish = r))
      const worker = new Worker('bench', async () => {}, { connection, concurrency })
      worker.on('completed', () => {
        if (++done === N) finish()
      })
      await all
      await worker.close()
    },
    async close() {
      await queue.close()
    },
  }
}

// ---------------------------------------------------------------- runs

type System = 'runbus' | 'bullmq'
interface Case {
  name: string
  concurrency: number
  prefetch: number
  /** The BullMQ case this one is compared with (BullMQ has no read-ahead). */
  peer: string
  systems: System[]
}
const systems: Record<System, () => ReturnType<typeof runbus>> = { runbus, bullmq }
const cases: Case[] = [
  { name: 'add', concurrency: 0, prefetch: 0, peer: 'add', systems: ['runbus', 'bullmq'] },
  {
    name: 'process c=1',
    concurrency: 1,
    prefetch: 0,
    peer: 'process c=1',
    systems: ['runbus', 'bullmq'],
  },
  {
    name: 'process c=50',
    concurrency: 50,
    prefetch: 0,
    peer: 'process c=50',
    systems: ['runbus', 'bullmq'],
  },
  {
    name: 'c=1 prefetch=50',
    concurrency: 1,
    prefetch: 50,
    peer: 'process c=1',
    systems: ['runbus'],
  },
]

interface Result {
  system: System
  case: string
  runs: number
  jobsPerSec: number
  commandsPerJob: number
  top: string
  all: number[]
}
const results: Result[] = []

async function runCase(
  system: System,
  c: Case,
): Promise<{ rate: number; cpj: number; top: string }> {
  await admin.flushall()
  const sys = systems[system]()
  try {
    if (c.name === 'add') {
      const m = await measure(() => sys.add())
      return { rate: (N / m.ms) * 1000, cpj: m.commands / N, top: m.top }
    }
    await sys.add()
    const m = await measure(() => sys.process(c.concurrency, c.prefetch))
    return { rate: (N / m.ms) * 1000, cpj: m.commands / N, top: m.top }
  } finally {
    await sys.close()
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

console.log(`work bench: N=${N}, runs=${RUNS}, ${cpus().length} cpus, ${cpus()[0]?.model ?? ''}`)
for (const c of cases) {
  // Runs alternate between the systems so machine noise spreads over both.
  const state = new Map<
    System,
    { rates: number[]; last: { rate: number; cpj: number; top: string }; runs: number }
  >()
  for (const system of c.systems)
    state.set(system, { rates: [], last: { rate: 0, cpj: 0, top: '' }, runs: RUNS })
  for (let r = 0; r < RUNS; r++) {
    for (const system of c.systems) {
      const st = state.get(system)!
      if (r >= st.runs) continue
      const t0 = Date.now()
      st.last = await runCase(system, c)
      st.rates.push(st.last.rate)
      // A slow peer case runs at most twice, to keep the whole bench within minutes.
      if (r === 0 && Date.now() - t0 > SLOW_MS) st.runs = Math.min(st.runs, 2)
      process.stdout.write(
        `  ${system} ${c.name} run ${r + 1}: ${Math.round(st.last.rate)} jobs/s\n`,
      )
    }
  }
  for (const system of c.systems) {
    const st = state.get(system)!
    results.push({
      system,
      case: c.name,
      runs: st.rates.length,
      jobsPerSec: Math.round(median(st.rates)),
      commandsPerJob: Number(st.last.cpj.toFixed(2)),
      top: st.last.top,
      all: st.rates.map(Math.round),
    })
  }
}

const pad = (s: string | number, n: number) => String(s).padEnd(n)
console.log(
  `\n${pad('case', 17)}${pad('system', 8)}${pad('jobs/s', 10)}${pad('vs BullMQ', 11)}${pad('cmds/job', 10)}${pad('runs', 6)}top commands per job`,
)
for (const r of results) {
  const peerCase = cases.find((c) => c.name === r.case)!.peer
  const peer = results.find((x) => x.case === peerCase && x.system === 'bullmq')!
  const ratio = r.system === 'runbus' ? `${(r.jobsPerSec / peer.jobsPerSec).toFixed(1)}×` : ''
  console.log(
    `${pad(r.case, 17)}${pad(r.system, 8)}${pad(r.jobsPerSec, 10)}${pad(ratio, 11)}${pad(r.commandsPerJob, 10)}${pad(r.runs, 6)}${r.top}`,
  )
}
mkdirSync(join(here, 'results'), { recursive: true })
writeFileSync(
  join(here, 'results', 'work.json'),
  JSON.stringify(
    {
      date: new Date().toISOString(),
      n: N,
      node: process.version,
      cpus: cpus().length,
      redis: (await admin.info('server')).match(/redis_version:(\S+)/)?.[1],
      results,
    },
    null,
    2,
  ) + '\n',
)
admin.disconnect()
await redis.stop()
