/**
 * Starts a throwaway 3-master Redis Cluster on free loopback ports for a test file: three
 * `redis-server --cluster-enabled yes` (config files in a temp dir), joined with
 * `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, ready once every node
 * reports `cluster_state:ok`. Nothing is persisted; `stop()` kills the nodes and removes
 * the temp dir.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { freePort } from './redis-server.js'

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

async function waitFor(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Redis Cluster: timed out waiting for ${what}`)
    await delay(50)
  }
}

/** Starts a 3-master cluster. Requires `redis-server` and `redis-cli` (see `redisAvailable`). */
export async function startRedisCluster(): Promise<TestRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'runbus-cluster-'))
  const ports: number[] = []
  while (ports.length < 3) {
    const p = await freePort()
    // The cluster bus uses port + 10000: it must be free too, and below 65536.
    if (p + 10000 < 65536 && !ports.includes(p)) ports.push(p)
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
    for (const port of ports)
      await waitFor(() => cli(port, 'ping').trim() === 'PONG', `node ${port}`)
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
