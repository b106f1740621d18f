/**
 * The work-queue conformance suite, unchanged, on a real Postgres cluster started for this
 * file, through the backend as users get it. Each test gets a fresh schema.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe } from 'vitest'
import { postgresBackend } from '../../src/backends/postgres/index.js'
import {
  pgTransaction,
  postgresAvailable,
  startPostgres,
  type TestPostgres,
} from '../helpers/postgres-server.js'
import { schemaPool, type SchemaPool } from '../helpers/postgres-schemas.js'
import { runWorkConformance } from './work-suite.js'

describe.skipIf(!postgresAvailable())('work on Postgres', { timeout: 60_000 }, () => {
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

  runWorkConformance(
    'postgres',
    async () => {
      const schema = await schemas.acquire()
      const backend = postgresBackend({ url: server.url, schema, maxConnections: 4 })
      return {
        store: backend.work,
        cleanup: async () => {
          await backend.close()
          await schemas.release(schema)
        },
      }
    },
    { fakeTime: false },
  )
})
