/**
 * A PGlite instance for a test file (in memory, or in a temp data directory), plus the
 * schema pool over it: every backend of the file shares the one instance (PGlite takes
 * hundreds of ms to start), each on its own schema.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { schemaPool, type SchemaPool } from './postgres-schemas.js'

/** A test PGlite. */
export interface TestPglite {
  readonly db: PGlite
  /** The data directory, or `memory://`. */
  readonly dataDir: string
  readonly schemas: SchemaPool
  close(): Promise<void>
}

/** Opens a PGlite: `mode: 'file'` in a fresh temp directory, else in memory. */
export async function openPglite(mode: 'file' | 'memory'): Promise<TestPglite> {
  const dir = mode === 'file' ? mkdtempSync(join(tmpdir(), 'runbus-pglite-')) : undefined
  const dataDir = dir === undefined ? 'memory://' : join(dir, 'data')
  const db = await PGlite.create(dataDir)
  const schemas = schemaPool(async (fn) => {
    await db.transaction(async (tx) => {
      await fn({
        query: async (t, p) => (await tx.query<Record<string, unknown>>(t, p ?? [])).rows,
        exec: async (t) => {
          await tx.exec(t)
        },
      })
    })
  }, 1)
  return {
    db,
    dataDir,
    schemas,
    async close() {
      await db.close()
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    },
  }
}
