/**
 * Starts a throwaway 3-master Redis Cluster on free loopback ports for a test file: three
 * `redis-server --cluster-enabled yes` (config files in a temp dir), joined with
 * `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, ready once every node
 * reports `cluster_state:ok`. Nothing is persisted; `stop()` kills the nodes and removes
 * the temp dir.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './redis-server.js'
import { until } from './wait.js'

/** A running test cluster. */
export interface TestRedisCluster {
  /** The masters' ports. */
  readonly ports: readonly number[]
  /** Startup nodes for `new Cluster(nodes)`. */
  readonly nodes: ReadonlyArray<{ host: string; port: number }>
  /** Runs redis-cli against one node (`-c` follows redirects) and returns stdout. */
  cli(port: number, ...args: string[]): string
  /** Stops every node and removes the config files. */
  stop(): Promise<void>
}

function cli(port: number, ...args: string[]): string {
  return spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).stdout
}

function waitFor(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  return until(cond, `Redis Cluster: ${what}`, ms, 50)
}

/** Whether nothing listens on `port` of 127.0.0.1 right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

/**
 * Starts a 3-master cluster. Requires `redis-server` and `redis-cli` (see `redisAvailable`).
 * Ports are picked free (each with its bus port, +10000), but another
 * test file starting servers at the same moment can take one before a node binds it: a node
 * that exits at start is such a race, and the cluster is started again on other ports (at
 * most 3 attempts). Any other failure is thrown at once.
 */
export async function startRedisCluster(): Promise<TestRedisCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce()
    } catch (err) {
      if (!(err instanceof PortRace) || attempt >= 3) throw err
    }
  }
}

/** A node exited before it answered: its port (or bus port) was taken meanwhile. */
class PortRace extends Error {}

async function startOnce(): Promise<TestRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'runbus-cluster-'))
  const ports: number[] = []
  while (ports.length < 3) {
    const p = await freePort()
    // The cluster bus uses port + 10000: it must be free too, and below 65536.
    if (p + 10000 < 65536 && !ports.includes(p) && (await portFree(p + 10000))) ports.push(p)
  }
  const procs: ChildProcess[] = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        '2000',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    ),
  )
  const stop = async () => {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve()
            p.once('exit', () => resolve())
            p.kill('SIGKILL')
          }),
      ),
    )
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (const [i, port] of ports.entries()) {
      await waitFor(() => {
        if (procs[i].exitCode !== null) throw new PortRace(`node ${port} exited at start`)
        return cli(port, 'ping').trim() === 'PONG'
      }, `node ${port}`)
    }
    const r = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8' },
    )
    if (r.status !== 0) throw new Error(`redis-cli --cluster create failed: ${r.stdout}${r.stderr}`)
    for (const port of ports) {
      await waitFor(
        () => cli(port, 'cluster', 'info').includes('cluster_state:ok'),
        `cluster_state:ok on ${port}`,
      )
    }
  } catch (err) {
    await stop()
    throw err
  }
  return {
    ports,
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    cli,
    stop,
  }
}
