/**
 * `runbus/ai-sdk`'s resumable streams on a real Postgres cluster started for this file: a few
 * of the suite's behaviours (the whole suite runs on PGlite, which shares the backend code),
 * each test on a fresh schema; readers and the producer on one instance's connection pool.
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
import { resumableSuite } from './resumable-suite.js'

describe.skipIf(!postgresAvailable())('runbus/ai-sdk on Postgres', { timeout: 60_000 }, () => {
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
  resumableSuite(
    'postgres',
    async () => {
      const schema = await schemas.acquire()
      return {
        backend: postgresBackend({ url: server.url, schema, maxConnections: 4 }),
        cleanup: () => schemas.release(schema),
      }
    },
    {
      only: [
        'resumes an in-progress stream with its history, then live',
        'serves many resumes of one stream',
        'hasExistingStream goes null → true → "DONE"',
        'supports the split APIs: createNewResumableStream + resumeExistingStream',
      ],
    },
  )
})
