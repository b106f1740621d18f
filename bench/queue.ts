/*
 * Queue benchmark: AsyncQueue against its peers on the same workloads, in one invocation.
 *
 *   npm run bench -- queue [filter] [--runs=3] [--n=500000] [--warm]
 *   npx tsx bench/queue.ts S2          (filter: scenario ids or implementation names,
 *                                        comma-separated, case-insensitive prefix match)
 *
 * Every implementation runs the same plain driver (bench/queue-impls.ts: push, `await send()`
 * only when push returned false, `for await`). Every run of every implementation × scenario
 * is a fresh child process (bench/queue-worker.ts) that runs once, cold (or after two
 * warm-up passes with --warm), and prints one JSON line. Runs are interleaved across
 * implementations (round-robin, rotating the order) so machine noise spreads evenly, and the
 * median is reported. A peer whose first run takes over SLOW_MS is re-run at n/10, RUNS_SLOW
 * times, and reported with its n (said in the table). Prints a table and JSON, and writes
 * bench/results/queue.json.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { IMPLS, SCENARIOS, type ScenarioId } from './queue-impls.js'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const flag = (name: string, fallback: number): number => {
  const a = args.find((x) => x.startsWith(`--${name}=`))
  return a === undefined ? fallback : Number(a.slice(name.length + 3))
}
const RUNS = flag('runs', 3)
const N = flag('n', 500_000)
const WARM = args.includes('--warm')
const SLOW_MS = 1500
const RUNS_SLOW = 3
const filters = args
  .filter((x) => !x.startsWith('--'))
  .flatMap((x) => x.split(','))
  .map((x) => x.toLowerCase())
  .filter((x) => x !== '')

const matches = (s: string): boolean => filters.some((f) => s.toLowerCase().startsWith(f))
// A filter naming scenarios restricts scenarios; one naming implementations restricts those
// (runbus always runs). `mem` alone runs only the memory measurement.
const allScenarios = Object.keys(SCENARIOS) as ScenarioId[]
const scenarioFilter = allScenarios.some(matches)
const implFilter = IMPLS.some((i) => matches(i.name))
const scenarioIds = allScenarios.filter(
  (s) => filters.length === 0 || (scenarioFilter ? matches(s) : implFilter),
)
const impls = IMPLS.filter((i) => !implFilter || i.name.startsWith('runbus') || matches(i.name))

interface WorkerLine {
  impl: string
  scenario: string
  n?: number
  ms?: number
  msgsPerSec?: number
  na?: string
  bytesPerItem?: number
}

// Bundle the worker once (esbuild ships with tsx): a process per run then starts in tens of
// milliseconds instead of paying the TypeScript loader each time. Falls back to the loader.
// Split into chunks so each peer's adapter, and the package it imports, stays a dynamic
// import that only the process measuring that peer loads (in one file, esbuild would hoist
// every package import to the top, and `effect`'s index alone slows the other rows by 7-30%,
// unevenly: it grows V8's young generation from 1 MB to 16 MB).
const bundleDir = join(here, 'results', 'queue-worker')
const bundled = join(bundleDir, 'queue-worker.mjs')
let workerArgv = ['--import', 'tsx', join(here, 'queue-worker.ts')]
try {
  const esbuild = await import('esbuild')
  rmSync(bundleDir, { recursive: true, force: true })
  mkdirSync(bundleDir, { recursive: true })
  await esbuild.build({
    entryPoints: [join(here, 'queue-worker.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    splitting: true,
    outdir: bundleDir,
    outExtension: { '.js': '.mjs' },
    logLevel: 'error',
  })
  workerArgv = [bundled]
} catch (error) {
  process.stderr.write(`(esbuild unavailable, using the tsx loader: ${String(error)})\n`)
}

function worker(...workerArgs: string[]): WorkerLine {
  if (WARM && workerArgs[0] !== 'mem') workerArgs.push('warm')
  const r = spawnSync(process.execPath, ['--expose-gc', ...workerArgv, ...workerArgs], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    timeout: 120_000,
  })
  const line = r.stdout.trim().split('\n').pop() ?? ''
  if (r.status !== 0 || !line.startsWith('{')) {
    throw new Error(`worker ${workerArgs.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`)
  }
  return JSON.parse(line) as WorkerLine
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

interface Cell {
  impl: string
  scenario: ScenarioId
  n?: number
  runs?: number[]
  median?: number
  na?: string
  note?: string
}

const started = performance.now()
const cells: Cell[] = []
for (const scenario of scenarioIds) {
  const row = impls
    .filter((impl) => impl.only === undefined || impl.only.includes(scenario))
    .map<Cell>((impl) => {
      const na = impl.na?.[scenario]
      const note = impl.notes?.[scenario]
      return na !== undefined
        ? { impl: impl.name, scenario, na }
        : {
            impl: impl.name,
            scenario,
            n: Math.min(N, impl.sizes?.[scenario] ?? N),
            runs: [],
            ...(note === undefined ? {} : { note }),
          }
    })
  const live = row.filter((c) => c.na === undefined)
  for (let r = 0; r < RUNS; r++) {
    // Rotate the order each round so no implementation always runs first or last.
    for (let k = 0; k < live.length; k++) {
      const cell = live[(k + r) % live.length]
      const runs = cell.runs!
      if (cell.n !== N && runs.length >= RUNS_SLOW) continue
      const out = worker(cell.impl, scenario, String(cell.n))
      if (cell.n === N && r === 0 && out.ms! > SLOW_MS && cell.impl !== 'runbus') {
        cell.n = Math.floor(N / 10 / 1024) * 1024
        continue // the first, slow run is not counted; the rest run at n/10
      }
      runs.push(out.msgsPerSec!)
    }
    // A slow cell may still owe runs after the main rounds.
    if (r === RUNS - 1) {
      for (const cell of live) {
        while (cell.runs!.length < (cell.n === N ? RUNS : RUNS_SLOW)) {
          cell.runs!.push(worker(cell.impl, scenario, String(cell.n)).msgsPerSec!)
        }
      }
    }
  }
  for (const cell of live) cell.median = median(cell.runs!)
  cells.push(...row)
  process.stderr.write(
    `  ${scenario} done (${((performance.now() - started) / 1000).toFixed(0)} s)\n`,
  )
}

// Memory per buffered item: 1M small integers in our queue vs a plain array.
const memory: Record<string, number> = {}
if (filters.length === 0 || matches('mem')) {
  for (const what of ['runbus', 'array']) {
    memory[what] = median([0, 1, 2].map(() => worker('mem', what, String(N)).bytesPerItem!))
  }
}

// ---- report ----------------------------------------------------------------------------------

const fmt = (x: number): string => (x / 1e6).toFixed(x >= 1e8 ? 0 : x >= 1e7 ? 1 : 2)
const names = impls.map((i) => i.name)
// The yardsticks: the hand-written floor, and Node's own events.on iterator.
const header = [
  'scenario',
  ...names.map((n) => `${n} M/s`),
  '× best peer',
  '× floor',
  '× events.on',
]
const rows: string[][] = []
const ratios: Record<
  string,
  {
    bestPeer?: string
    vsBestPeer?: number
    vsFloor?: number
    vsEventsOn?: number
    lowWaterMark?: { vsFloor?: number; vsEventsOn?: number }
  }
> = {}
const footnotes: string[] = []
for (const scenario of scenarioIds) {
  const row = cells.filter((c) => c.scenario === scenario)
  const ours = row.find((c) => c.impl === 'runbus')?.median
  const floor = row.find((c) => c.impl === 'floor')?.median
  const eventsOn = row.find((c) => c.impl === 'events.on')?.median
  const lwm = row.find((c) => c.impl === 'runbus-lwm')?.median
  const peers = row.filter(
    (c) => !c.impl.startsWith('runbus') && c.impl !== 'floor' && c.median !== undefined,
  )
  const best = peers.reduce<Cell | undefined>(
    (a, c) => (a === undefined || c.median! > a.median! ? c : a),
    undefined,
  )
  const r = (ratios[scenario] = {
    ...(best === undefined ? {} : { bestPeer: best.impl }),
    ...(ours !== undefined && best !== undefined ? { vsBestPeer: ours / best.median! } : {}),
    ...(ours !== undefined && floor !== undefined ? { vsFloor: ours / floor } : {}),
    ...(ours !== undefined && eventsOn !== undefined ? { vsEventsOn: ours / eventsOn } : {}),
    ...(lwm === undefined
      ? {}
      : {
          lowWaterMark: {
            ...(floor !== undefined ? { vsFloor: lwm / floor } : {}),
            ...(eventsOn !== undefined ? { vsEventsOn: lwm / eventsOn } : {}),
          },
        }),
  })
  // runbus-lwm's ratios ride in the same columns, after ours: "1.01× (lwm 1.80×)".
  const withLwm = (ratio: number | undefined, lwmRatio: number | undefined): string =>
    ratio === undefined
      ? ''
      : `${ratio.toFixed(2)}×` + (lwmRatio === undefined ? '' : ` (lwm ${lwmRatio.toFixed(2)}×)`)
  rows.push([
    scenario,
    ...names.map((name) => {
      const c = row.find((x) => x.impl === name)
      if (c === undefined) return ''
      if (c.na !== undefined) {
        footnotes.push(`${scenario} ${name}: n/a (${c.na})`)
        return 'n/a'
      }
      if (c.note !== undefined) footnotes.push(`${scenario} ${name}: ${c.note}`)
      const small = c.n !== N ? `*` : ''
      if (small) footnotes.push(`${scenario} ${name}: slow, ${c.runs!.length} runs at n=${c.n}`)
      return fmt(c.median!) + small
    }),
    r.vsBestPeer === undefined ? '' : `${r.vsBestPeer.toFixed(2)}× ${r.bestPeer}`,
    withLwm(r.vsFloor, r.lowWaterMark?.vsFloor),
    withLwm(r.vsEventsOn, r.lowWaterMark?.vsEventsOn),
  ])
}
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
const line = (cols: string[]): string =>
  cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
console.log(
  `\nqueue benchmark: ${N.toLocaleString('en-US')} messages, plain drivers, ` +
    `${WARM ? 'after 2 warm-up passes' : 'first run of each fresh process'}, median of ${RUNS} processes, ` +
    `node ${process.version}, ${availableParallelism()} cpu (${cpus()[0]?.model ?? '?'})\n`,
)
for (const id of scenarioIds) console.log(`  ${id.padEnd(4)} ${SCENARIOS[id]}`)
console.log()
console.log(line(header))
for (const r of rows) console.log(line(r))
if (footnotes.length > 0) console.log('\n' + footnotes.map((f) => `  ${f}`).join('\n'))
if (Object.keys(memory).length > 0) {
  console.log(
    `\nmemory per buffered small integer (1M, heapUsed delta): runbus ${memory.runbus.toFixed(1)} B, ` +
      `plain array ${memory.array.toFixed(1)} B`,
  )
}
const seconds = (performance.now() - started) / 1000
console.log(`\n(${seconds.toFixed(0)} s)`)

const json = {
  benchmark: 'queue',
  date: new Date().toISOString(),
  node: process.version,
  cpus: availableParallelism(),
  n: N,
  runs: RUNS,
  warm: WARM,
  scenarios: Object.fromEntries(scenarioIds.map((id) => [id, SCENARIOS[id]])),
  results: cells.map((c) => ({
    scenario: c.scenario,
    impl: c.impl,
    ...(c.na !== undefined
      ? { na: c.na }
      : { n: c.n, msgsPerSec: c.median, runs: c.runs, ...(c.note ? { note: c.note } : {}) }),
  })),
  ratios,
  memoryBytesPerItem: memory,
  seconds,
}
console.log('\n' + JSON.stringify(json))
mkdirSync(join(here, 'results'), { recursive: true })
writeFileSync(join(here, 'results', 'queue.json'), JSON.stringify(json, null, 2) + '\n')
