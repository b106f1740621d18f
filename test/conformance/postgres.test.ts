/**
 * The whole conformance suite, unchanged, on a real Postgres cluster started for this file.
 * Each factory call gets a fresh schema (kept migrated ahead by a schema pool), so tests
 * never see each other's rows.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgresBackend } from '../../src/backends/postgres/index.js'
import {
  pgTransaction,
  postgresAvailable,
  startPostgres,
  type TestPostgres,
} from '../helpers/postgres-server.js'
import { schemaPool, type SchemaPool } from '../helpers/postgres-schemas.js'
import { runConformance } from './suite.js'

// A loaded machine makes each backend's setup (pool, migration) slow: more time per test.
describe.skipIf(!postgresAvailable())('postgres', { timeout: 120_000 }, () => {
  let server: TestPostgres
  let admin: pg.Pool
  let schemas: SchemaPool
  beforeAll(async () => {
    server = await startPostgres()
    admin = new pg.Pool({ connectionString: server.url, max: 2 })
    schemas = schemaPool((fn) => pgTransaction(admin, fn))
  }, 60_000)
  afterAll(async () => {
    await admin?.end()
    await server?.stop()
  })
  runConformance('postgres', async () => {
    const schema = await schemas.acquire()
    return {
      backend: postgresBackend({ url: server.url, schema, maxConnections: 4 }),
      cleanup: () => schemas.release(schema),
    }
  })

  // Declared after the suite, so it runs last: every backend the suite made was closed.
  it('leaves no runbus connection open once every backend was closed', async () => {
    const open = () =>
      server
        .psql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'runbus:%'")
        .trim()
    const deadline = Date.now() + 5000
    while (open() !== '0' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(open()).toBe('0')
  })
})
