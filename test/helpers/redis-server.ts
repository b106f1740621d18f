/**
 * Starts a real, throwaway `redis-server` on a free loopback port for a test file, so
 * tests can kill and restart it (fault tests). Nothing is persisted.
 *
 * Under `CI=true` a missing `redis-server` is a failure; elsewhere the Redis suites are
 * skipped with a loud message (`redisAvailable()`).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { until } from './wait.js'

/** Whether `redis-server` can be run here. Throws under CI when it cannot. */
export function redisAvailable(): boolean {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  const ok = r.status === 0
  if (!ok && process.env.CI === 'true') {
    throw new Error('redis-server is not installed, and CI=true: Redis tests must run in CI')
  }
  if (!ok)
    console.warn(
      '\n*** redis-server not found: Redis tests are SKIPPED (install redis-server) ***\n',
    )
  return ok
}

/** A free TCP port on 127.0.0.1 (the OS picks one, we release it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** A running test Redis. */
export interface TestRedis {
  readonly port: number
  readonly url: string
  /** Stops it with SIGKILL (a crash, not a shutdown). Resolves once the process exited. */
  kill(): Promise<void>
  /** Starts it again on the same port (empty: nothing was persisted). */
  start(): Promise<void>
  /** Stops it for good. */
  stop(): Promise<void>
  /** Runs redis-cli against it and returns stdout. */
  cli(...args: string[]): string
}

function waitUntilUp(port: number, proc: ChildProcess, timeoutMs = 10_000): Promise<void> {
  return until(
    () => {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`)
      const r = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' })
      return r.stdout.trim() === 'PONG'
    },
    `redis-server on port ${port} to start`,
    timeoutMs,
    25,
  )
}

/** Starts a Redis for this test file. Extra `redis-server` args may be given. */
export async function startRedis(extraArgs: string[] = []): Promise<TestRedis> {
  const port = await freePort()
  let proc: ChildProcess | undefined
  const launch = async () => {
    proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        ...extraArgs,
      ],
      { stdio: 'ignore' },
    )
    await waitUntilUp(port, proc)
  }
  const halt = async (signal: NodeJS.Signals) => {
    const p = proc
    proc = undefined
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()))
    p.kill(signal)
    await exited
  }
  await launch()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: () => halt('SIGKILL'),
    start: launch,
    stop: () => halt('SIGTERM'),
    cli: (...args) =>
      spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout,
  }
}
