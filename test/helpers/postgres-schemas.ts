/**
 * Fresh, isolated runbus schemas for conformance tests, cheaply. A factory call must give
 * a backend that sees nothing of the others, and migrating a schema costs tens of ms (more
 * on a loaded machine): the pool keeps a few schemas migrated ahead, in the background,
 * and recycles released ones (emptied with one TRUNCATE once their backend was closed).
 */
import { randomUUID } from 'node:crypto'
import type { Session } from '../../src/backends/postgres/driver.js'
import { migrate } from '../../src/backends/postgres/schema.js'

/** A pool of migrated runbus schemas. */
export interface SchemaPool {
  /** A schema no open backend uses, migrated (or about to be, by its backend). */
  acquire(): Promise<string>
  /** Empties `schema` (its backend must be closed) and makes it available again. */
  release(schema: string): Promise<void>
}

const TABLES = ['runs', 'events', 'inbox', 'kv', 'bus', 'jobs', 'work_ids', 'work_stats']

/** A schema pool over `transaction` (runs `fn` in one transaction on the database). */
export function schemaPool(
  transaction: (fn: (s: Session) => Promise<void>) => Promise<void>,
  ahead = 3,
): SchemaPool {
  const free: string[] = []
  const warming: Array<Promise<string | undefined>> = []
  const fresh = () => `t_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  const warm = () => {
    while (warming.length < ahead) {
      const name = fresh()
      warming.push(
        transaction((s) => migrate(s, name)).then(
          () => name,
          () => undefined,
        ),
      )
    }
  }
  return {
    async acquire() {
      const recycled = free.pop()
      if (recycled !== undefined) return recycled
      warm()
      const name = await warming.shift()!
      warm()
      return name ?? fresh()
    },
    async release(schema) {
      try {
        await transaction(async (s) => {
          await s.exec(`TRUNCATE ${TABLES.map((t) => `"${schema}".${t}`).join(', ')}`)
        })
        free.push(schema)
      } catch {
        // Never migrated (the test never touched it) or broken: not reused.
      }
    },
  }
}
