/**
 * The whole conformance suite, unchanged, on PGlite, in memory and in a data directory.
 * One PGlite per mode for the file; each factory call gets a fresh schema on it.
 */
import { afterAll, beforeAll, describe } from 'vitest'
import { postgresBackend } from '../../src/backends/postgres/index.js'
import { openPglite, type TestPglite } from '../helpers/postgres-pglite.js'
import { runConformance } from './suite.js'

for (const mode of ['memory', 'file'] as const) {
  describe(`pglite (${mode})`, { timeout: 120_000 }, () => {
    let lite: TestPglite
    beforeAll(async () => {
      lite = await openPglite(mode)
    })
    afterAll(async () => {
      await lite?.close()
    })
    runConformance(`pglite ${mode}`, async () => {
      const schema = await lite.schemas.acquire()
      return {
        backend: postgresBackend({ pglite: lite.db, schema }),
        cleanup: () => lite.schemas.release(schema),
      }
    })
  })
}
