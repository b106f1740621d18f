/*
 * Postgres benchmark, on a throwaway Postgres cluster started for it and on PGlite (file
 * mode, a temp data directory), peers side by side in the same invocation:
 *
 *   npm run bench -- postgres [--runs=3] [--n=20000] [--batch=100] [--jobs=2000]
 *
 * 1. Append → follower events/s. runbus: `run.emit()` in batches of `--batch`, each batch
 *    flushed (one append statement), a follower (`rb.runs.follow`) on a second backend (its
 *    own pool and LISTEN connection, as another process). Raw: `pg`, the same payloads as
 *    one multi-row INSERT per batch into a plain table, a reader polling `seq > $last` in a
 *    tight loop that JSON-parses each row. Timed from the first write to the reader holding
 *    event n. On PGlite the same, on one instance (it is single-process).
 * 2. Work queue processed jobs/s, runbus (`createWorkApi` on the Postgres backend, no bus
 *    notices) against pg-boss on the same database: `--jobs` no-op jobs added up front, then
 *    processed at concurrency 1 and 50; timed from the start of processing to the last
 *    completion. pg-boss runs as c workers of batch 1 (bound by its 0.5 s polling sleep:
 *    cut after 8 s, rated on what it did) and as 1 worker fetching 100 (c = 1) or 500
 *    (c = 50) jobs per poll, c at a time; the better one is its number.
 *
 * Statements per event/job are counted client-side (every statement sent by the runbus
 * driver, by the raw client, and through pg-boss's `db.executeSql`). Runs alternate; the
 * median is reported. Prints tables and writes bench/results/postgres.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { PGlite } from '@electric-sql/pglite'
import PgBoss from 'pg-boss'
import { createRunbus } from '../src/index.js'
import { postgresBackend, type PostgresBackend } from '../src/backends/postgres/index.js'
import { createWorkApi } from '../src/work/index.js'
import { postgresAvailable, startPostgres } from '../test/helpers/postgres-server.js'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const flag = (name: string, fallback: number): number => {
  const a = args.find((x) => x.startsWith(`--${name}=`))
  return a === undefined ? fallback : Number(a.slice(name.length + 3))
}
const RUNS = Math.max(1, flag('runs', 3))
const N = flag('n', 20_000)
const BATCH = flag('batch', 100)
const JOBS = flag('jobs', 2000)

const payload = (i: number) => ({ text: `token ${i} `, i })
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
let schemaN = 0
const freshSchema = () => `bench_${process.pid}_${++schemaN}`

interface Sample {
  perSec: number
  statements: number
}

// ---- append → follow ----

async function runbusStream(make: () => PostgresBackend, two: boolean): Promise<Sample> {
  const wb = make()
  const rbk = two ? make() : wb
  const retention = { maxEvents: N + 10 }
  const writer = createRunbus({ backend: wb, retention })
  const reader = createRunbus({ backend: rbk, retention })
  const run = await writer.runs.create()
  await Promise.all([wb.ping(), rbk.ping()])
  const follower = reader.runs.follow(run.id)
  const first = follower.next()
  await new Promise((r) => setTimeout(r, 50))
  const s0 = wb.statements + (two ? rbk.statements : 0)
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
  for (let i = 1; i <= N; i += BATCH) {
    for (let j = i; j < i + BATCH && j <= N; j++) run.emit('text', payload(j))
    await run.flush()
  }
  await following
  const ms = performance.now() - t0
  const statements = wb.statements + (two ? rbk.statements : 0) - s0
  follower.close()
  await run.end()
  await writer.close()
  await reader.close()
  await wb.close()
  if (two) await rbk.close()
  return { perSec: (N / ms) * 1000, statements: statements / N }
}

type Query = (text: string, params?: unknown[]) => Promise<Array<Record<string, unknown>>>

async function rawStream(writer: Query, reader: Query): Promise<Sample> {
  const table = `raw_${process.pid}_${++schemaN}`
  await writer(
    `CREATE TABLE ${table} (run text NOT NULL, seq bigint NOT NULL, type text NOT NULL, data text NOT NULL, ts double precision NOT NULL, PRIMARY KEY (run, seq))`,
  )
  let statements = 0
  const t0 = performance.now()
  const following = (async () => {
    let last = 0
    let sum = 0
    while (last < N) {
      statements++
      const rows = await reader(
        `SELECT seq, data FROM ${table} WHERE run = $1 AND seq > $2 ORDER BY seq LIMIT 1000`,
        ['r', last],
      )
      for (const r of rows) {
        sum += (JSON.parse(r.data as string) as { i: number }).i
        last = Number(r.seq)
      }
    }
    return sum
  })()
  for (let i = 1; i <= N; i += BATCH) {
    const values: string[] = []
    const params: unknown[] = []
    for (let j = i; j < i + BATCH && j <= N; j++) {
      const k = params.length
      values.push(`('r', $${k + 1}, 'text', $${k + 2}, $${k + 3})`)
      params.push(j, JSON.stringify(payload(j)), Date.now())
    }
    statements++
    await writer(
      `INSERT INTO ${table} (run, seq, type, data, ts) VALUES ${values.join(', ')}`,
      params,
    )
  }
  await following
  const ms = performance.now() - t0
  await writer(`DROP TABLE ${table}`)
  return { perSec: (N / ms) * 1000, statements: statements / N }
}

// ---- work queues ----

async function runbusWork(url: string, concurrency: number): Promise<Sample> {
  const backend = postgresBackend({ url, schema: freshSchema(), maxConnections: 20 })
  const work = createWorkApi({ work: backend.work }, {})
  const q = work.queue<number>('bench', { visibilityTimeout: 30_000 })
  for (let i = 0; i < JOBS; i += 1000) {
    await q.addMany(Array.from({ length: Math.min(1000, JOBS - i) }, (_, k) => ({ data: i + k })))
  }
  const s0 = backend.statements
  const t0 = performance.now()
  let done = 0
  let finish!: () => void
  const all = new Promise<void>((r) => (finish = r))
  const worker = q.process(
    async () => {
      if (++done === JOBS) finish()
    },
    { concurrency },
  )
  await all
  const ms = performance.now() - t0
  const statements = backend.statements - s0
  await worker.stop()
  await work.close()
  await backend.close()
  return { perSec: (JOBS / ms) * 1000, statements: statements / JOBS }
}

/**
 * pg-boss processes `batchSize` jobs per fetch per worker, and a worker sleeps out its
 * polling interval (0.5 s at least in pg-boss 10) between fetches: at batch 1 it is bound by
 * that sleep, so such runs are cut after `LIMIT_MS` and rated on the jobs done by then.
 * `inFlight` caps how many jobs of a batch run at once (1: one after another).
 */
const LIMIT_MS = 8000

async function pgBossWork(
  url: string,
  workers: number,
  batchSize: number,
  inFlight = batchSize,
): Promise<Sample> {
  const pool = new pg.Pool({ connectionString: url, max: 20 })
  let statements = 0
  let ended = false
  const db = {
    executeSql: async (text: string, values: unknown[]) => {
      // A run cut short stops pg-boss while its workers may still be polling or completing:
      // their statements after the pool ended never settle (pg-boss throws on any answer).
      if (ended) return new Promise<never>(() => {})
      statements++
      return pool.query(text, values)
    },
  }
  const boss = new PgBoss({ db, schema: freshSchema(), supervise: false, schedule: false })
  boss.on('error', () => {})
  await boss.start()
  await boss.createQueue('bench')
  for (let i = 0; i < JOBS; i += 1000) {
    await boss.insert(
      Array.from({ length: Math.min(1000, JOBS - i) }, (_, k) => ({
        name: 'bench',
        data: { n: i + k },
      })),
    )
  }
  const s0 = statements
  const t0 = performance.now()
  let done = 0
  let finish!: () => void
  const all = new Promise<void>((r) => (finish = r))
  for (let w = 0; w < workers; w++) {
    await boss.work('bench', { batchSize, pollingIntervalSeconds: 0.5 }, async (jobs) => {
      for (let k = 0; k < jobs.length; k += inFlight) {
        await Promise.all(
          jobs.slice(k, k + inFlight).map(async () => {
            if (++done === JOBS) finish()
          }),
        )
      }
    })
  }
  let cut: NodeJS.Timeout | undefined
  await Promise.race([all, new Promise<void>((r) => (cut = setTimeout(r, LIMIT_MS)))])
  clearTimeout(cut)
  const ms = performance.now() - t0
  const finished = done
  const used = statements - s0
  await boss.stop({ graceful: true, wait: true, timeout: 5000 })
  ended = true
  await pool.end()
  return { perSec: (finished / ms) * 1000, statements: used / Math.max(1, finished) }
}

// ---- main ----

if (!postgresAvailable()) {
  console.error('Postgres binaries are not installed: cannot run the Postgres benchmark')
  process.exit(1)
}
const server = await startPostgres()
const dataRoot = mkdtempSync(join(tmpdir(), 'runbus-bench-pglite-'))
const results: Record<string, { perSec: number; statements: number; runs: number[] }> = {}
const record = (name: string, samples: Sample[]) => {
  results[name] = {
    perSec: Math.round(median(samples.map((s) => s.perSec))),
    statements: Number(median(samples.map((s) => s.statements)).toFixed(3)),
    runs: samples.map((s) => Math.round(s.perSec)),
  }
}
try {
  // Postgres: append → follow.
  const wpool = new pg.Pool({ connectionString: server.url, max: 2 })
  const rpool = new pg.Pool({ connectionString: server.url, max: 2 })
  const wq: Query = async (t, p) => (await wpool.query(t, p)).rows
  const rq: Query = async (t, p) => (await rpool.query(t, p)).rows
  const makePg = () =>
    postgresBackend({ url: server.url, schema: 'bench_stream', maxConnections: 4 })
  const pgRaw: Sample[] = []
  const pgRb: Sample[] = []
  await rawStream(wq, rq)
  await runbusStream(makePg, true)
  for (let r = 0; r < RUNS; r++) {
    pgRaw.push(await rawStream(wq, rq))
    pgRb.push(await runbusStream(makePg, true))
  }
  record('postgres raw', pgRaw)
  record('postgres runbus', pgRb)
  const serverVersion = String((await wq('SHOW server_version'))[0].server_version)
  await wpool.end()
  await rpool.end()

  // PGlite (file mode): append → follow, one instance.
  const lite = await PGlite.create(join(dataRoot, 'data'))
  const lq: Query = async (t, p) => (await lite.query<Record<string, unknown>>(t, p)).rows
  const makeLite = () => postgresBackend({ pglite: lite, schema: 'bench_stream' })
  const liteRaw: Sample[] = []
  const liteRb: Sample[] = []
  await rawStream(lq, lq)
  await runbusStream(makeLite, false)
  for (let r = 0; r < RUNS; r++) {
    liteRaw.push(await rawStream(lq, lq))
    liteRb.push(await runbusStream(makeLite, false))
  }
  record('pglite raw', liteRaw)
  record('pglite runbus', liteRb)
  await lite.close()

  // Work queues on the Postgres server.
  for (const c of [1, 50]) {
    const rb: Sample[] = []
    const boss: Sample[] = []
    const bossBatch: Sample[] = []
    await runbusWork(server.url, c)
    for (let r = 0; r < RUNS; r++) {
      rb.push(await runbusWork(server.url, c))
      boss.push(await pgBossWork(server.url, c, 1))
      // Its best shape at this concurrency: one worker fetching 100 (c = 1: handled one
      // after another) or 500 (c = 50: at most 50 at a time) per poll.
      bossBatch.push(await pgBossWork(server.url, 1, c === 1 ? 100 : 500, c))
    }
    record(`work runbus c=${c}`, rb)
    record(`work pg-boss c=${c} (${c} worker${c > 1 ? 's' : ''} × batch 1)`, boss)
    record(
      `work pg-boss c=${c} (1 worker × batch ${c === 1 ? 100 : 500}, ${c} at a time)`,
      bossBatch,
    )
  }

  const ratio = (a: string, b: string) => (results[a].perSec / results[b].perSec).toFixed(2)
  const bestBoss = (c: number) =>
    Object.keys(results)
      .filter((k) => k.startsWith(`work pg-boss c=${c} `))
      .sort((a, b) => results[b].perSec - results[a].perSec)[0]
  console.log(
    `\nPostgres ${serverVersion} (local cluster, fsync off) and PGlite (file mode), ${cpus()[0]?.model ?? 'cpu'}; median of ${RUNS} runs\n`,
  )
  console.log(`Append → follower, ${fmt(N)} events in batches of ${BATCH}:\n`)
  console.log('| engine | variant | events/s | × raw | statements/event |')
  console.log('|---|---|---:|---:|---:|')
  for (const e of ['postgres', 'pglite']) {
    console.log(
      `| ${e} | raw multi-row INSERT + polling reader | ${fmt(results[`${e} raw`].perSec)} | 1.00 | ${results[`${e} raw`].statements} |`,
    )
    console.log(
      `| ${e} | runbus emit + follow | ${fmt(results[`${e} runbus`].perSec)} | ${ratio(`${e} runbus`, `${e} raw`)} | ${results[`${e} runbus`].statements} |`,
    )
  }
  console.log(`\nWork queue, ${fmt(JOBS)} no-op jobs, processed jobs/s (same server):\n`)
  console.log('| concurrency | variant | jobs/s | × pg-boss | statements/job |')
  console.log('|---:|---|---:|---:|---:|')
  for (const c of [1, 50]) {
    const boss = bestBoss(c)
    for (const k of Object.keys(results).filter((x) => x.startsWith(`work pg-boss c=${c} `))) {
      console.log(
        `| ${c} | ${k.replace(`work pg-boss c=${c} `, 'pg-boss ')} | ${fmt(results[k].perSec)} | ${k === boss ? '1.00' : ratio(k, boss)} | ${results[k].statements} |`,
      )
    }
    console.log(
      `| ${c} | runbus | ${fmt(results[`work runbus c=${c}`].perSec)} | ${ratio(`work runbus c=${c}`, boss)} | ${results[`work runbus c=${c}`].statements} |`,
    )
  }
  mkdirSync(join(here, 'results'), { recursive: true })
  writeFileSync(
    join(here, 'results', 'postgres.json'),
    JSON.stringify({ n: N, batch: BATCH, jobs: JOBS, runs: RUNS, serverVersion, results }, null, 2),
  )
} finally {
  await server.stop()
  rmSync(dataRoot, { recursive: true, force: true })
}
