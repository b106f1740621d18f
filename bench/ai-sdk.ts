/*
 * ai-sdk benchmark: an AI SDK answer (`streamText` on the `ai/test` mock model, 10,000 UI
 * message chunks, as SSE text) through a resumable stream to 1 and to 100 readers that
 * resumed it while it was being produced, runbus against `resumable-stream` on the same
 * redis-server in the same invocation.
 *
 *   npm run bench -- ai-sdk [--runs=3] [--n=10000] [--readers=1,100] [--only=runbus UI]
 *
 * - resumable-stream: `createResumableStreamContext` from `resumable-stream/ioredis` (its own
 *   publisher and subscriber connections); the producer's `resumableStream(id, makeStream)`,
 *   then the readers' `resumeExistingStream(id)` on a second context (another process's view).
 * - runbus: `createResumableStreamContext` from `runbus/ai-sdk` on a runbus Redis backend, the
 *   readers on a second runbus instance with its own backend; the same calls.
 * - runbus UI: `pipeUIMessageStream` + readers on `uiMessageStreamResponse` bodies (SSE with
 *   ids), the structured path of `runbus/ai-sdk`.
 *
 * Readers join once the producer's first chunk is out (the model holds its text until they
 * have resumed, so each implementation serves resumed readers, not a finished stream); the
 * clock runs from the text's first delta until every reader holds the whole answer. chunks/s = n / that time (how
 * fast the answer reaches everyone); delivered/s = n × readers / that time. Runs alternate
 * between the implementations; medians are reported. Writes bench/results/ai-sdk.json.
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { JsonToSseTransformStream, streamText } from 'ai'
import { MockLanguageModelV3 } from 'ai/test'
import { createResumableStreamContext as peerContext } from 'resumable-stream/ioredis'
import { createRunbus } from '../src/index.js'
import { redisBackend } from '../src/backends/redis/index.js'
import {
  createResumableStreamContext,
  pipeUIMessageStream,
  uiMessageStreamResponse,
} from '../src/ai-sdk/index.js'
import { mockModel } from '../examples/ai-sdk-chat/mock-model.js'
import { redisAvailable, startRedis, type TestRedis } from '../test/helpers/redis-server.js'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const arg = (name: string): string | undefined =>
  args.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3)
const RUNS = Math.max(1, Number(arg('runs') ?? 3))
const N = Number(arg('n') ?? 10_000)
const READERS = (arg('readers') ?? '1,100').split(',').map(Number)
/** Run only these implementations (comma-separated names; for profiling one path). */
const ONLY = arg('only')?.split(',')

/** An answer of exactly N UI chunks: N - 6 one-character deltas plus start/step/text framing. */
const TEXT = Array.from({ length: N - 6 }, (_, i) => String(i % 10)).join('')
/**
 * The model holds its first text delta until `gate` opens: the readers resume an answer in
 * progress (its start is out), and the clock starts when the text starts flowing.
 */
let gate: Promise<void> = Promise.resolve()
let openGate: () => void = () => undefined
const closeGate = (): void => {
  gate = new Promise((r) => (openGate = r))
}
const base = mockModel({ reply: () => TEXT, chunkChars: 1 })
const model = new MockLanguageModelV3({
  doStream: async (options) => {
    const r = await base.doStream(options)
    const held = gate
    return {
      ...r,
      stream: r.stream.pipeThrough(
        new TransformStream({
          async transform(part, c) {
            if (part.type === 'text-delta') await held
            c.enqueue(part)
          },
        }),
      ),
    }
  },
})
const answer = (signal?: AbortSignal) =>
  streamText({ model, prompt: 'go', ...(signal ? { abortSignal: signal } : {}) })
const sseAnswer = (): ReadableStream<string> =>
  answer().toUIMessageStream().pipeThrough(new JsonToSseTransformStream())

/** Counts SSE `data:` frames in a stream of text; resolves with the count at its end. */
async function countFrames(stream: ReadableStream<string>): Promise<number> {
  let frames = 0
  let tail = ''
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    const text = tail + value
    let i = 0
    for (;;) {
      const j = text.indexOf('\n\n', i)
      if (j < 0) break
      if (text.startsWith('data: ', text.lastIndexOf('\n', j - 1) + 1)) frames++
      i = j + 2
    }
    tail = text.slice(i)
  }
  return frames
}

interface Sample {
  ms: number
  chunksPerSec: number
  deliveredPerSec: number
}

const sample = (t0: number, readers: number): Sample => {
  const ms = performance.now() - t0
  return {
    ms,
    chunksPerSec: Math.round((N / ms) * 1000),
    deliveredPerSec: Math.round(((N * readers) / ms) * 1000),
  }
}

function firstChunk(stream: ReadableStream<string>): {
  first: Promise<void>
  rest: Promise<number>
} {
  let seen!: () => void
  const first = new Promise<void>((r) => (seen = r))
  const counted = stream.pipeThrough(
    new TransformStream<string, string>({
      transform(chunk, c) {
        seen()
        c.enqueue(chunk)
      },
    }),
  )
  return { first, rest: countFrames(counted) }
}

async function peer(redis: TestRedis, readers: number): Promise<Sample> {
  const conns = [0, 1, 2, 3].map(() => new Redis(redis.url))
  const keyPrefix = `bench-${randomUUID()}`
  const producerCtx = peerContext({
    waitUntil: null,
    keyPrefix,
    publisher: conns[0],
    subscriber: conns[1],
  })
  const readerCtx = peerContext({
    waitUntil: null,
    keyPrefix,
    publisher: conns[2],
    subscriber: conns[3],
  })
  try {
    closeGate()
    const own = await producerCtx.resumableStream('s', sseAnswer)
    const { first, rest } = firstChunk(own!)
    await first
    const resumed = await Promise.all(
      Array.from({ length: readers }, () => readerCtx.resumeExistingStream('s')),
    )
    const t0 = performance.now()
    openGate()
    const counts = await Promise.all([rest, ...resumed.map((s) => countFrames(s!))])
    const s = sample(t0, readers)
    check('resumable-stream', counts)
    return s
  } finally {
    for (const c of conns) c.disconnect()
  }
}

async function runbus(redis: TestRedis, readers: number): Promise<Sample> {
  const prefix = `bench-${randomUUID()}`
  const retention = { maxEvents: N + 100 }
  const a = redisBackend({ url: redis.url, prefix })
  const b = redisBackend({ url: redis.url, prefix })
  const producerRb = createRunbus({ backend: a, retention })
  const readerRb = createRunbus({ backend: b, retention })
  try {
    const producerCtx = createResumableStreamContext({ runbus: producerRb, waitUntil: null })
    const readerCtx = createResumableStreamContext({ runbus: readerRb, waitUntil: null })
    closeGate()
    const own = await producerCtx.resumableStream('s', sseAnswer)
    const { first, rest } = firstChunk(own!)
    await first
    const resumed = await Promise.all(
      Array.from({ length: readers }, () => readerCtx.resumeExistingStream('s')),
    )
    const t0 = performance.now()
    openGate()
    const counts = await Promise.all([rest, ...resumed.map((s) => countFrames(s!))])
    const s = sample(t0, readers)
    check('runbus', counts)
    return s
  } finally {
    await producerRb.close()
    await readerRb.close()
    await a.close()
    await b.close()
  }
}

async function runbusUI(redis: TestRedis, readers: number): Promise<Sample> {
  const prefix = `bench-${randomUUID()}`
  const retention = { maxEvents: N + 100 }
  const a = redisBackend({ url: redis.url, prefix })
  const b = redisBackend({ url: redis.url, prefix })
  const producerRb = createRunbus({ backend: a, retention })
  const readerRb = createRunbus({ backend: b, retention })
  try {
    closeGate()
    const run = await producerRb.runs.create()
    const piped = pipeUIMessageStream(run, answer(run.signal).toUIMessageStream())
    const own = (await uiMessageStreamResponse(producerRb, run.id)).body!.pipeThrough(
      new TextDecoderStream(),
    )
    const { first, rest } = firstChunk(own)
    await first
    const resumed = await Promise.all(
      Array.from({ length: readers }, () => uiMessageStreamResponse(readerRb, run.id)),
    )
    const t0 = performance.now()
    openGate()
    const counts = await Promise.all([
      rest,
      ...resumed.map((r) => countFrames(r.body!.pipeThrough(new TextDecoderStream()))),
    ])
    const s = sample(t0, readers)
    await piped
    // uiMessageStreamResponse also sends data: [DONE]
    check(
      'runbus UI',
      counts.map((c) => c - 1),
    )
    return s
  } finally {
    await producerRb.close()
    await readerRb.close()
    await a.close()
    await b.close()
  }
}

function check(name: string, counts: number[]): void {
  // JsonToSseTransformStream ends with data: [DONE] too.
  const bad = counts.filter((c) => c !== N && c !== N + 1)
  if (bad.length > 0) throw new Error(`${name}: a reader got ${bad[0]} frames, not ${N}`)
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function main(): Promise<void> {
  if (!redisAvailable()) {
    console.log('redis-server is not installed: the ai-sdk benchmark needs it')
    process.exit(1)
  }
  const redis = await startRedis()
  const impls = { 'resumable-stream': peer, runbus, 'runbus UI': runbusUI }
  const results: Record<string, Record<number, Sample[]>> = {}
  try {
    for (const readers of READERS) {
      for (let r = 0; r < RUNS; r++) {
        for (const [name, fn] of Object.entries(impls)) {
          if (ONLY !== undefined && !ONLY.includes(name)) continue
          const s = await fn(redis, readers)
          ;((results[name] ??= {})[readers] ??= []).push(s)
          console.error(`  ${name} readers=${readers} run ${r + 1}: ${s.chunksPerSec} chunks/s`)
        }
      }
    }
  } finally {
    await redis.stop()
  }
  const rows: Array<Record<string, string | number>> = []
  console.log(
    `\nai-sdk: ${N.toLocaleString('en')} UI chunks from streamText (mock model) to N resumed readers, ` +
      `same Redis, median of ${RUNS} (${cpus().length} cores)\n`,
  )
  console.log(
    '| readers | resumable-stream chunks/s | runbus chunks/s | × | runbus UI chunks/s | × | delivered/s (runbus / peer) |',
  )
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const readers of READERS) {
    if (ONLY !== undefined) break
    const m = (name: string, k: keyof Sample) => median(results[name][readers].map((s) => s[k]))
    const peerRate = m('resumable-stream', 'chunksPerSec')
    const ours = m('runbus', 'chunksPerSec')
    const ui = m('runbus UI', 'chunksPerSec')
    const row = {
      readers,
      peer: peerRate,
      runbus: ours,
      ratio: +(ours / peerRate).toFixed(2),
      runbusUI: ui,
      ratioUI: +(ui / peerRate).toFixed(2),
      deliveredRunbus: m('runbus', 'deliveredPerSec'),
      deliveredPeer: m('resumable-stream', 'deliveredPerSec'),
    }
    rows.push(row)
    console.log(
      `| ${readers} | ${peerRate.toLocaleString('en')} | ${ours.toLocaleString('en')} | ${row.ratio}× | ` +
        `${ui.toLocaleString('en')} | ${row.ratioUI}× | ${row.deliveredRunbus.toLocaleString('en')} / ${row.deliveredPeer.toLocaleString('en')} |`,
    )
  }
  mkdirSync(join(here, 'results'), { recursive: true })
  writeFileSync(
    join(here, 'results', 'ai-sdk.json'),
    JSON.stringify({ n: N, runs: RUNS, rows, samples: results }, null, 2),
  )
}

await main()
