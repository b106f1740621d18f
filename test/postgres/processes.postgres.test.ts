/**
 * Postgres across real processes and through faults, on one throwaway cluster:
 * - a follower process sees another process's appends live; an ask created in one process
 *   is answered in another;
 * - every runbus connection killed (`pg_terminate_backend`) twice during a 6,000-event
 *   stream followed by another process: no gap, no duplicate;
 * - the server stopped: every call fails with `BackendUnavailableError` within the bound,
 *   and everything works again once it is back (last: it stops the server).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BackendUnavailableError, createRunbus } from '../../src/index.js'
import { postgresBackend, type PostgresBackend } from '../../src/backends/postgres/index.js'
import { postgresAvailable, startPostgres, type TestPostgres } from '../helpers/postgres-server.js'
import { until } from '../conformance/helpers.js'

/** A child process running the postgres fixture with tsx, its stdout as lines. */
class Child {
  readonly proc: ChildProcess
  readonly lines: string[] = []
  readonly exited: Promise<number | null>
  private stderr = ''
  constructor(args: string[]) {
    this.proc = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/fixtures/postgres-child.ts', ...args],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    )
    createInterface({ input: this.proc.stdout! }).on('line', (l) => this.lines.push(l))
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()))
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)))
  }
  async line(match: (l: string) => boolean, what: string, ms = 60_000): Promise<string> {
    await until(() => this.lines.some(match) || this.proc.exitCode !== null, ms, what)
    const l = this.lines.find(match)
    if (l === undefined) throw new Error(`${what}: exited ${this.proc.exitCode}: ${this.stderr}`)
    return l
  }
  async json(): Promise<Record<string, unknown>> {
    return JSON.parse(await this.line((l) => l.startsWith('{'), 'JSON result')) as Record<
      string,
      unknown
    >
  }
}

const fresh = () => `p_${randomUUID().replaceAll('-', '').slice(0, 12)}`

describe.skipIf(!postgresAvailable())(
  'postgres across processes and faults',
  { timeout: 120_000 },
  () => {
    let server: TestPostgres
    const children: Child[] = []
    const backends: PostgresBackend[] = []
    const backend = (schema: string, extra: { commandTimeoutMs?: number } = {}) => {
      const b = postgresBackend({ url: server.url, schema, pollMs: 200, ...extra })
      backends.push(b)
      return b
    }
    beforeAll(async () => {
      server = await startPostgres()
    }, 60_000)
    afterAll(async () => {
      for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL')
      for (const b of backends) await b.close()
      await server?.stop()
    })
    const child = (args: string[]) => {
      const c = new Child(args)
      children.push(c)
      return c
    }
    const terminateAll = () =>
      Number(
        server
          .psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'runbus:%'",
          )
          .trim(),
      )

    it('a follower process sees the appends of this one live; an ask made in a process is answered here', async () => {
      const schema = fresh()
      const b = backend(schema)
      const rb = createRunbus({ backend: b })
      const run = await rb.runs.create({ id: 'live' })
      const follower = child(['follow', server.url, schema, 'live'])
      await follower.line((l) => l === 'ready', 'follower ready')
      for (let i = 1; i <= 300; i++) {
        run.emit('n', i)
        if (i % 50 === 0) await run.flush()
      }
      await run.end()
      expect(await follower.json()).toEqual({
        count: 301,
        inOrder: true,
        dataOk: true,
        last: 301,
        dups: 0,
      })

      const agent = child(['ask', server.url, schema, 'asking'])
      const asked = await agent.line((l) => l.startsWith('asked '), 'the agent asked')
      const askId = asked.slice('asked '.length)
      expect(await rb.asks.get(askId)).toMatchObject({ state: 'pending', run: 'asking' })
      await rb.asks.answer(askId, true, { by: 'ada' })
      expect(await agent.json()).toEqual({ answer: true })
      expect(await agent.exited).toBe(0)
      await rb.close()
    })

    // Once flaky: a pool connection terminated right after the server accepted it delivered
    // ReadyForQuery and the FATAL in one chunk, and pg emitted an unheard 'error' (a crash)
    // before our listener was on; a kill during the follower's migration or LISTEN failed
    // it. Startup kills below exercise both.
    it('pg_terminate_backend of every runbus connection, twice, in a 6,000-event stream: the follower process gets each event once, in order', async () => {
      const schema = fresh()
      const b = backend(schema, { commandTimeoutMs: 10_000 })
      const rb = createRunbus({ backend: b, retention: { maxEvents: 100_000 } })
      const run = await rb.runs.create({ id: 'stream' })
      const follower = child(['follow', server.url, schema, 'stream'])
      // Kill every runbus connection while the follower process starts (its migration,
      // LISTEN and first read meet terminations), for up to a second, then let it start.
      const t0 = Date.now()
      while (!follower.lines.includes('ready') && Date.now() - t0 < 1000) {
        terminateAll()
        await new Promise((r) => setTimeout(r, 30))
      }
      await follower.line((l) => l === 'ready', 'follower ready')
      let kills = 0
      for (let i = 1; i <= 6000; i++) {
        run.emit('n', i)
        if (i % 100 === 0) {
          if (i === 2000 || i === 4000) {
            kills += terminateAll()
          }
          // A flush that failed keeps its events; flush again until they are stored.
          for (let tries = 0; ; tries++) {
            try {
              await run.flush()
              break
            } catch (err) {
              expect(err).toBeInstanceOf(BackendUnavailableError)
              if (tries > 100) throw err
              await new Promise((r) => setTimeout(r, 50))
            }
          }
        }
      }
      for (;;) {
        try {
          await run.end()
          break
        } catch (err) {
          expect(err).toBeInstanceOf(BackendUnavailableError)
          await new Promise((r) => setTimeout(r, 50))
        }
      }
      // Both the writer's and the follower process's connections were among those killed.
      expect(kills).toBeGreaterThanOrEqual(4)
      expect(await follower.json()).toEqual({
        count: 6001,
        inOrder: true,
        dataOk: true,
        last: 6001,
        dups: 0,
      })
      const page = await rb.runs.read('stream', { limit: 10_000 })
      expect(page.events.map((e) => e.seq)).toEqual(Array.from({ length: 6001 }, (_, i) => i + 1))
      await rb.close()
    })

    it('with the server stopped every call fails typed within the bound; all works again once it is back', async () => {
      const schema = fresh()
      const bound = 1000
      const b = backend(schema, { commandTimeoutMs: bound })
      const rb = createRunbus({ backend: b })
      const run = await rb.runs.create({ id: 'down' })
      await run.append('a', 1)
      const interrupted: number[] = []
      const sub = rb.bus.subscribe('x.y', { onInterrupted: () => interrupted.push(Date.now()) })
      await sub.ready
      const follower = rb.runs.follow('down')
      expect((await follower.next()).value).toMatchObject({ seq: 1 })
      await server.kill()
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['ping', () => b.ping()],
        ['createRun', () => b.runs.createRun({ id: 'x', maxEvents: 10, ts: Date.now() })],
        ['getRun', () => b.runs.getRun('down')],
        ['listRuns', () => b.runs.listRuns({ limit: 10 })],
        ['append', () => b.runs.append('down', [{ type: 't', data: 1, json: '1', ts: 1 }])],
        ['read', () => b.runs.read('down', 0, 10)],
        ['sendInbox', () => b.runs.sendInbox('down', { type: 't', data: 1, json: '1', ts: 1 })],
        ['kv.get', () => b.kv.get('k')],
        ['kv.setIfAbsent', () => b.kv.setIfAbsent('k', 'v')],
        ['publish', () => b.broadcast.publish('x.y', '1')],
        ['work.add', () => b.work.add('q', [{ payload: '1' }])],
        ['work.claim', () => b.work.claim('q', 'c', { max: 1, visibilityMs: 1000, blockMs: 500 })],
        ['work.stats', () => b.work.stats('q')],
      ]
      for (const [what, call] of calls) {
        const t0 = Date.now()
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(err, what).toBeInstanceOf(BackendUnavailableError)
        expect(Date.now() - t0, what).toBeLessThan(bound + 1500)
      }
      await server.start()
      await until(
        () =>
          b.ping().then(
            () => true,
            () => false,
          ),
        30_000,
        'the backend to answer again',
      )
      await run.append('b', 2)
      expect((await follower.next()).value).toMatchObject({ seq: 2, type: 'b' })
      await until(() => interrupted.length > 0, 30_000, 'the bus to report the interruption')
      await rb.bus.publish('x.y', 'after')
      const it = sub[Symbol.asyncIterator]()
      expect((await it.next()).value).toMatchObject({ data: 'after' })
      follower.close()
      sub.close()
      await rb.close()
    })
  },
)
