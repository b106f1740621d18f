/*
 * Runs ONE implementation × scenario of the queue benchmark in this (fresh) process and prints
 * one JSON line. Two warm-ups on a quarter of the messages let the JIT settle first, then the
 * best of up to three timed runs is reported; every checksum is verified so a fast wrong
 * answer cannot win.
 *
 *   node --expose-gc --import tsx bench/queue-worker.ts <impl> <scenario> [n]
 *   node --expose-gc --import tsx bench/queue-worker.ts mem <runbus|array> [n]
 */
import { AsyncQueue } from '../src/queue/index.js'
import { IMPLS, SCENARIOS, expectedSum, type ScenarioId } from './queue-impls.js'

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
  const [implName, scenarioArg, nArg] = process.argv.slice(2)
  const n = Number(nArg ?? 1_000_000)
  if (implName === 'mem') return measureMemory(scenarioArg ?? 'runbus', n)
  const impl = IMPLS.find((i) => i.name === implName)
  const scenario = scenarioArg as ScenarioId
  if (impl === undefined || !(scenario in SCENARIOS)) {
    throw new Error(`usage: queue-worker.ts <${IMPLS.map((i) => i.name).join('|')}> <scenario>`)
  }
  const run = impl.scenarios[scenario]
  if (typeof run === 'string') {
    process.stdout.write(JSON.stringify({ impl: implName, scenario, na: run }) + '\n')
    return
  }
  // Two warm-up passes: the first one's optimised code often deoptimises where it reaches
  // code it had no feedback for (the drain after the pushes); the second runs it settled.
  const warm = Math.max(1024, Math.floor(n / 4 / 1024) * 1024)
  for (let k = 0; k < 2; k++) {
    const warmSum = await run(warm)
    if (warmSum !== expectedSum(scenario, warm)) {
      throw new Error(
        `${implName} ${scenario}: warm-up checksum ${warmSum} != ${expectedSum(scenario, warm)}`,
      )
    }
  }
  // Best of up to 3 timed runs (within ~1 s): on a shared machine a single run often
  // includes someone else's burst. No gc() between runs: a full GC drops optimised code
  // that embeds objects from the warm-up.
  let ms = Infinity
  const budget = performance.now() + 1000
  for (let k = 0; k < 3 && (k === 0 || performance.now() < budget); k++) {
    const t0 = performance.now()
    const sum = await run(n)
    ms = Math.min(ms, performance.now() - t0)
    if (sum !== expectedSum(scenario, n)) {
      throw new Error(`${implName} ${scenario}: checksum ${sum} != ${expectedSum(scenario, n)}`)
    }
  }
  process.stdout.write(
    JSON.stringify({ impl: implName, scenario, n, ms, msgsPerSec: (n / ms) * 1000 }) + '\n',
  )
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
