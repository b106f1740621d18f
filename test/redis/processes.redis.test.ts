/**
 * Across real processes: a writer and a follower in two child processes; an agent that
 * asks, answered from another process; the agent killed (SIGKILL) while its ask is pending,
 * restarted, re-attaching with `asks.wait`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRunbus } from '../../src/index.js'
import { redisBackend } from '../../src/backends/redis/index.js'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { until } from '../helpers/wait.js'

/** A child process running a fixture with tsx, its stdout as lines. */
class Child {
  readonly proc: ChildProcess
  readonly lines: string[] = []
  readonly exited: Promise<number | null>
  private stderr = ''
  constructor(fixture: string, args: string[]) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', `test/fixtures/${fixture}`, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    createInterface({ input: this.proc.stdout! }).on('line', (l) => this.lines.push(l))
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()))
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)))
  }
  async line(match: (l: string) => boolean, what: string, ms = 30_000): Promise<string> {
    await until(
      () => this.lines.some(match) || this.proc.exitCode !== null,
      `${what} (stderr: ${this.stderr})`,
      ms,
    )
    const l = this.lines.find(match)
    if (l === undefined)
      throw new Error(`${what}: exited with ${this.proc.exitCode}: ${this.stderr}`)
    return l
  }
  json(): Promise<Record<string, unknown>> {
    return this.line((l) => l.startsWith('{'), 'JSON result').then((l) => JSON.parse(l))
  }
  kill(): Promise<number | null> {
    this.proc.kill('SIGKILL')
    return this.exited
  }
}

describe.skipIf(!redisAvailable())('redis across processes', () => {
  let redis: TestRedis
  const children: Child[] = []
  const child = (fixture: string, args: string[]) => {
    const c = new Child(fixture, args)
    children.push(c)
    return c
  }
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    for (const c of children) if (c.proc.exitCode === null) await c.kill()
    await redis?.stop()
  })

  it('a writer process emits 10,000 events; a follower process receives exactly seq 1..10,001 in order', async () => {
    const prefix = `test-${randomUUID()}`
    const runId = 'big'
    const writer = child('redis-writer.ts', [redis.url, prefix, runId, '10000'])
    await writer.line((l) => l === 'created', 'writer created the run')
    const follower = child('redis-follower.ts', [redis.url, prefix, runId])
    await follower.line((l) => l === 'ready', 'follower ready')
    writer.proc.stdin!.write('go\n')
    await writer.line((l) => l === 'done', 'writer done', 60_000)
    const result = await follower.json()
    expect(result).toEqual({
      count: 10_001, // 10,000 events and the end
      inOrder: true,
      dataOk: true,
      last: 10_001,
      types: ['n', 'end'],
    })
    expect(await writer.exited).toBe(0)
    expect(await follower.exited).toBe(0)
  }, 90_000)

  it('an agent process asks, another process answers, the agent resumes', async () => {
    const prefix = `test-${randomUUID()}`
    const runId = `agent-${randomUUID()}`
    const agent = child('redis-agent.ts', ['ask', redis.url, prefix, runId])
    await agent.line((l) => l === 'asked', 'agent asked')
    const backend = redisBackend({ url: redis.url, prefix })
    const rb = createRunbus({ backend })
    try {
      const [ask] = await rb.asks.pending({ run: runId })
      expect(ask).toMatchObject({
        kind: 'confirm',
        state: 'pending',
        prompt: 'Deploy to production?',
      })
      await rb.asks.answer(ask.id, true, { by: 'ada' })
      expect(await agent.json()).toEqual({ answer: true })
      expect(await agent.exited).toBe(0)
      const page = await rb.runs.read(runId)
      expect(page.events.map((e) => e.type)).toEqual(['ask', 'answer', 'resumed', 'end'])
    } finally {
      await rb.close()
      await backend.close()
    }
  }, 60_000)

  it('the agent is killed while its ask is pending; restarted, it re-attaches and gets the answer given meanwhile', async () => {
    const prefix = `test-${randomUUID()}`
    const runId = `agent-${randomUUID()}`
    const agent = child('redis-agent.ts', ['ask', redis.url, prefix, runId])
    await agent.line((l) => l === 'asked', 'agent asked')
    const backend = redisBackend({ url: redis.url, prefix })
    const rb = createRunbus({ backend })
    try {
      const [ask] = await rb.asks.pending({ run: runId })
      expect(ask).toBeDefined()
      await agent.kill()
      // Answered while no agent is running: the answer is kept (it is in the run log too).
      await rb.asks.answer(ask.id, false, { by: 'grace' })
      const restarted = child('redis-agent.ts', ['reattach', redis.url, prefix, runId, ask.id])
      expect(await restarted.json()).toEqual({ answer: false })
      expect(await restarted.exited).toBe(0)
      const page = await rb.runs.read(runId)
      expect(page.events.map((e) => e.type)).toEqual(['ask', 'answer', 'resumed', 'end'])
      expect(page.events[2].data).toEqual({ answer: false, restarted: true })
    } finally {
      await rb.close()
      await backend.close()
    }
  }, 60_000)
})
