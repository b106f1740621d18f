/**
 * The work-queue conformance suite, unchanged, on PGlite in memory and in a data directory.
 */
import { afterAll, beforeAll, describe } from 'vitest'
import { postgresBackend } from '../../src/backends/postgres/index.js'
import { openPglite, type TestPglite } from '../helpers/postgres-pglite.js'
import { runWorkConformance } from './work-suite.js'

for (const mode of ['memory', 'file'] as const) {
  describe(`work on pglite (${mode})`, { timeout: 60_000 }, () => {
    let lite: TestPglite
    beforeAll(async () => {
      lite = await openPglite(mode)
    })
    afterAll(async () => {
      await lite?.close()
    })
    runWorkConformance(
      `pglite ${mode}`,
      async () => {
        const schema = await lite.schemas.acquire()
        const backend = postgresBackend({ pglite: lite.db, schema })
        return {
          store: backend.work,
          cleanup: async () => {
            await backend.close()
            await lite.schemas.release(schema)
          },
        }
      },
      { fakeTime: false },
    )
  })
}
