/*
 * Runs ONE implementation × scenario of the queue benchmark in this (fresh) process and prints
 * one JSON line: the first run is timed (as user code meets the queue: cold), or with `warm`
 * after two untimed passes. The checksum is verified so a fast wrong answer cannot win.
 *
 *   node --expose-gc --import tsx bench/queue-worker.ts <impl> <scenario> [n] [warm]
 *   node --expose-gc --import tsx bench/queue-worker.ts mem <runbus|array> [n]
 */
import { AsyncQueue } from '../src/queue/index.js'
import { IMPLS, SCENARIOS, expectedSum, runScenario, type ScenarioId } from './queue-impls.js'

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

async function measureMemory(what: string, n: number): Promise<void> {
  gc()
  gc()
  const before = process.memoryUsage().heapUsed
  let keep: unknown
  if (what === 'runbus') {
    const q = new AsyncQueue<number>()
    for (let i = 0; i < n; i++) q.push(i)
    keep = q
  } else {
    const a: number[] = []
    for (let i = 0; i < n; i++) a.push(i)
    keep = a
  }
  gc()
  gc()
  const after = process.memoryUsage().heapUsed
  process.stdout.write(
    JSON.stringify({ what, n, bytes: after - before, bytesPerItem: (after - before) / n }) + '\n',
  )
  // Keep `keep` alive until after the measurement.
  if (keep === undefined) await Promise.resolve()
}

async function main(): Promise<void> {
  const [implName, scenarioArg, nArg, mode] = process.argv.slice(2)
  const n = Number(nArg ?? 500_000)
  if (implName === 'mem') return measureMemory(scenarioArg ?? 'runbus', n)
  const impl = IMPLS.find((i) => i.name === implName)
  const scenario = scenarioArg as ScenarioId
  if (impl === undefined || !(scenario in SCENARIOS)) {
    throw new Error(`usage: queue-worker.ts <${IMPLS.map((i) => i.name).join('|')}> <scenario>`)
  }
  const na = impl.na?.[scenario]
  if (na !== undefined) {
    process.stdout.write(JSON.stringify({ impl: implName, scenario, na }) + '\n')
    return
  }
  // `warm`: two untimed passes on a quarter of the messages first (what a long-running
  // process sees). Default: the first run of a fresh process is the one timed, as a user's
  // harness measures it.
  const make = await impl.load() // before the clock: a user's import is not the queue's cost
  if (mode === 'warm') {
    const warm = Math.max(1024, Math.floor(n / 4 / 1024) * 1024)
    for (let k = 0; k < 2; k++) {
      const warmSum = await runScenario(make, scenario, warm)
      if (warmSum !== expectedSum(scenario, warm)) {
        throw new Error(`${implName} ${scenario}: warm-up checksum ${warmSum}`)
      }
    }
  }
  const t0 = performance.now()
  const sum = await runScenario(make, scenario, n)
  const ms = performance.now() - t0
  if (sum !== expectedSum(scenario, n)) {
    throw new Error(`${implName} ${scenario}: checksum ${sum} != ${expectedSum(scenario, n)}`)
  }
  process.stdout.write(
    JSON.stringify({ impl: implName, scenario, n, ms, msgsPerSec: (n / ms) * 1000 }) + '\n',
  )
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
