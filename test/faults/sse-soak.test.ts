/**
 * SSE soak: readers churning against a real hub process (test/fixtures/soak-hub.ts) on
 * keep-alive connections, for `RUNBUS_SOAK_MS` (default 20 s, so CI stays under a minute).
 *
 * - "replayers" follow an ended run again and again on a few keep-alive sockets — what a
 *   browser `EventSource` on an ended run does forever — each time checking every seq
 *   exactly once, in order, then `end`;
 * - "followers" follow a live run, drop the connection after a short random time and
 *   resume with `Last-Event-ID`, checking every seq exactly once across reconnects.
 *
 * What must stay flat on the hub: the listeners on each socket (no `drain` listener left
 * per response), `MaxListenersExceededWarning`s (none), and the heap after GC.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { Agent, get, type IncomingMessage } from 'node:http'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SseParser, type SseMessage } from '../../src/protocol/framing.js'

const SOAK_MS = Number(process.env.RUNBUS_SOAK_MS ?? 20_000)
const EVENTS = 20

interface HubStats {
  heapUsed: number
  sockets: number
  maxDrainPerSocket: number
  listenersOnSockets: number
  liveEvents: number
  warnings: string[]
}

type Frame = SseMessage

/** Reads SSE frames from a response, calling `onFrame` for each (the protocol's parser). */
function frames(res: IncomingMessage, onFrame: (f: Frame) => void): Promise<void> {
  return new Promise((resolve) => {
    const parser = new SseParser({ onMessage: onFrame })
    res.on('data', (chunk: Buffer) => parser.feed(chunk))
    res.on('end', () => resolve())
    res.on('close', () => resolve())
    res.on('error', () => resolve())
  })
}

describe('SSE soak: readers churning on keep-alive connections (real hub process)', () => {
  let proc: ChildProcess
  let info: { url: string; token: string; ended: string; live: string }
  const waiting: Array<(s: HubStats) => void> = []

  beforeAll(async () => {
    proc = spawn(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', 'test/fixtures/soak-hub.ts'],
      { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, SOAK_EVENTS: String(EVENTS) } },
    )
    const lines = createInterface({ input: proc.stdout! })
    info = await new Promise((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`soak hub exited early (${code})`)))
      lines.on('line', (line) => {
        if (line.startsWith('ready ')) resolve(JSON.parse(line.slice(6)))
        if (line.startsWith('stats ')) waiting.shift()?.(JSON.parse(line.slice(6)) as HubStats)
      })
    })
  })
  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r))
      proc.stdin!.write('quit\n')
      const t = setTimeout(() => proc.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(t)
    }
  })

  const hubStats = () =>
    new Promise<HubStats>((resolve) => {
      waiting.push(resolve)
      proc.stdin!.write('stats\n')
    })

  it(
    `${Math.round(SOAK_MS / 1000)} s of churn: every seq exactly once; socket listeners and heap flat`,
    async () => {
      const keepAlive = new Agent({ keepAlive: true, maxSockets: 8 })
      const headers = (extra: Record<string, string> = {}) => ({
        authorization: `Bearer ${info.token}`,
        accept: 'text/event-stream',
        ...extra,
      })
      const problems: string[] = []
      let replays = 0
      let resumes = 0
      let stop = false

      const replayer = async () => {
        while (!stop) {
          const res = await new Promise<IncomingMessage>((resolve, reject) =>
            get(
              `${info.url}/v1/runs/${info.ended}/events`,
              { agent: keepAlive, headers: headers() },
              resolve,
            ).on('error', reject),
          )
          if (res.statusCode !== 200) {
            problems.push(`replay status ${res.statusCode}`)
            res.resume()
            continue
          }
          const seqs: number[] = []
          let ended = false
          await frames(res, (f) => {
            if (f.event === 'end') ended = true
            else if (f.event === 'n') seqs.push((JSON.parse(f.data) as { seq: number }).seq)
          })
          if (!ended || seqs.length !== EVENTS || seqs.some((s, i) => s !== i + 1))
            problems.push(`replay got seqs ${seqs.join(',')} end=${ended}`)
          replays++
        }
      }

      const follower = async (k: number) => {
        let last: string | undefined
        let lastSeq = 0
        while (!stop) {
          const h = last === undefined ? headers() : headers({ 'last-event-id': last })
          const req = get(`${info.url}/v1/runs/${info.live}/events`, { headers: h })
          const res = await new Promise<IncomingMessage | undefined>((resolve) => {
            req.once('response', resolve)
            req.once('error', () => resolve(undefined))
          })
          if (!res) continue
          const timer = setTimeout(() => req.destroy(), 20 + ((k * 37 + resumes * 11) % 200))
          await frames(res, (f) => {
            if (f.event !== 'tick') return
            const seq = (JSON.parse(f.data) as { seq: number }).seq
            if (seq !== lastSeq + 1) problems.push(`follower ${k}: seq ${seq} after ${lastSeq}`)
            lastSeq = seq
            last = f.id
          })
          clearTimeout(timer)
          resumes++
        }
      }

      const readers = [
        ...Array.from({ length: 16 }, () => replayer()),
        ...Array.from({ length: 8 }, (_, k) => follower(k)),
      ]
      const t0 = Date.now()
      // Warm up (JIT, pools, first allocations) for a fifth of the time, then measure.
      await new Promise((r) => setTimeout(r, SOAK_MS / 5))
      const before = await hubStats()
      const replaysBefore = replays
      await new Promise((r) => setTimeout(r, SOAK_MS - (Date.now() - t0)))
      const after = await hubStats()
      stop = true
      await Promise.all(readers)
      keepAlive.destroy()
      const grewMB = (after.heapUsed - before.heapUsed) / 1e6
      console.log(
        `[sse soak ${SOAK_MS} ms] replays=${replays} (${replays - replaysBefore} measured) on ≤8 keep-alive sockets, ` +
          `follower reconnects=${resumes}, live events=${after.liveEvents}; hub heap ${(before.heapUsed / 1e6).toFixed(1)} → ${(after.heapUsed / 1e6).toFixed(1)} MB (${grewMB >= 0 ? '+' : ''}${grewMB.toFixed(1)}), ` +
          `max drain listeners per socket ${before.maxDrainPerSocket} → ${after.maxDrainPerSocket}, warnings=${after.warnings.length}`,
      )
      expect(problems.slice(0, 5)).toEqual([])
      expect(replays - replaysBefore).toBeGreaterThan(100)
      expect(after.warnings).toEqual([])
      // One streaming response at a time per socket: a listener or two, never one per request.
      expect(after.maxDrainPerSocket).toBeLessThanOrEqual(2)
      // Flat: well under what a per-request leak costs (≈4.4 KB per request measured).
      expect(grewMB).toBeLessThan(Math.max(4, ((replays - replaysBefore) * 4_400) / 1e6 / 4))
    },
    SOAK_MS + 30_000,
  )
})
