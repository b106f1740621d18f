/**
 * Starts a real, throwaway Postgres cluster for a test file: `initdb` + `pg_ctl` from
 * `/usr/lib/postgresql/<version>/bin`, on a free loopback port, data in a temp dir, so fault
 * tests can stop, kill and restart it. Postgres refuses to run as root, and tests run as
 * root: the server runs as the `postgres` system user (`runuser -u postgres --`), and the
 * temp dir is made theirs. Trust auth on loopback only; fsync off (a test cluster).
 *
 * Under `CI=true` missing binaries are a failure; elsewhere the Postgres suites are skipped
 * with a loud message (`postgresAvailable()`).
 */
import { spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './redis-server.js'

/** The directory of the newest installed Postgres's binaries, or undefined. */
export function postgresBinDir(): string | undefined {
  const base = '/usr/lib/postgresql'
  if (!existsSync(base)) return undefined
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : join(base, versions[0], 'bin')
}

function asRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0
}

/** Whether a Postgres server can be started here. Throws under CI when it cannot. */
export function postgresAvailable(): boolean {
  const bin = postgresBinDir()
  let ok = bin !== undefined
  if (ok && asRoot()) {
    ok = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).status === 0
  }
  if (!ok && process.env.CI === 'true') {
    throw new Error(
      'Postgres binaries (/usr/lib/postgresql/*/bin) or the postgres user are missing, and CI=true: Postgres tests must run in CI',
    )
  }
  if (!ok) {
    console.warn(
      '\n*** Postgres not found: Postgres tests are SKIPPED (apt-get install postgresql) ***\n',
    )
  }
  return ok
}

/** A running test Postgres. */
export interface TestPostgres {
  readonly port: number
  /** `postgres://postgres@127.0.0.1:<port>/postgres`. */
  readonly url: string
  /** Stops it at once (`pg_ctl stop -m immediate`: a crash, no shutdown checkpoint). */
  kill(): Promise<void>
  /** Starts it again on the same port and data (what was committed is still there). */
  start(): Promise<void>
  /** Stops it for good and deletes its data. */
  stop(): Promise<void>
  /** Runs one SQL statement with psql and returns its output (unaligned, tuples only). */
  psql(sql: string): string
}

function run(bin: string, args: string[], what: string): string {
  const cmd = asRoot() ? 'runuser' : bin
  const full = asRoot() ? ['-u', 'postgres', '--', bin, ...args] : args
  const r = spawnSync(cmd, full, { encoding: 'utf8', timeout: 60_000 })
  if (r.status !== 0) {
    throw new Error(`${what} failed (${r.status}): ${r.stderr || r.stdout}`)
  }
  return r.stdout
}

/** Starts a throwaway Postgres for this test file. */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBinDir()
  if (bin === undefined) throw new Error('no Postgres binaries in /usr/lib/postgresql/*/bin')
  const dir = mkdtempSync(join(tmpdir(), 'runbus-pg-'))
  if (asRoot()) {
    const id = (a: string) =>
      Number(spawnSync('id', [a, 'postgres'], { encoding: 'utf8' }).stdout.trim())
    chownSync(dir, id('-u'), id('-g'))
  }
  const data = join(dir, 'data')
  const port = await freePort()
  run(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'],
    'initdb',
  )
  const launch = async () => {
    run(
      join(bin, 'pg_ctl'),
      [
        '-D',
        data,
        '-l',
        join(dir, 'log'),
        '-w',
        '-t',
        '30',
        '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=1000`,
        'start',
      ],
      'pg_ctl start',
    )
  }
  const halt = (mode: 'immediate' | 'fast') => {
    try {
      run(join(bin, 'pg_ctl'), ['-D', data, '-m', mode, '-w', 'stop'], 'pg_ctl stop')
    } catch (err) {
      if (!/Is server running|No such file|not running/i.test(String(err))) throw err
    }
  }
  await launch()
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    kill: async () => halt('immediate'),
    start: launch,
    stop: async () => {
      halt('fast')
      rmSync(dir, { recursive: true, force: true })
    },
    psql: (sql: string) =>
      run(
        join(bin, 'psql'),
        [
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-U',
          'postgres',
          '-d',
          'postgres',
          '-At',
          '-c',
          sql,
        ],
        'psql',
      ),
  }
}

/** Runs `fn` in one transaction on a connection of `pool` (test fixtures: migrations). */
export async function pgTransaction(
  pool: import('pg').Pool,
  fn: (s: import('../../src/backends/postgres/driver.js').Session) => Promise<void>,
): Promise<void> {
  const c = await pool.connect()
  try {
    await c.query('BEGIN')
    await fn({
      query: async (t, p) => (await c.query(t, p ?? [])).rows as Record<string, unknown>[],
      exec: async (t) => {
        await c.query(t)
      },
    })
    await c.query('COMMIT')
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined)
    throw err
  } finally {
    c.release()
  }
}
