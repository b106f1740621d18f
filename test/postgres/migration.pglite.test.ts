/**
 * A data directory left by an older runbus (schema v1) is migrated on open: the version
 * table lists every version up to the current one, the old run is still there and keeps its untrimmed inbox (its `max_inbox` is
 * NULL), and runs created after the migration trim their inbox to `maxInboxMessages`.
 *
 * The v1 directory is built for real: v1's SQL applied alone, a run and its inbox written
 * through v1's functions, PGlite closed; then a new PGlite opens the same directory.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { afterEach, describe, expect, it } from 'vitest'
import { createRunbus } from '../../src/index.js'
import { postgresBackend } from '../../src/backends/postgres/index.js'
import { migrate, SCHEMA_VERSION } from '../../src/backends/postgres/schema.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** Applies migrations up to `target` in one transaction, as `migrate` does on open. */
async function migrateTo(db: PGlite, schema: string, target: number): Promise<void> {
  await db.transaction(async (tx) => {
    await migrate(
      {
        query: async (t, p) => (await tx.query<Record<string, unknown>>(t, p ?? [])).rows,
        exec: async (t) => {
          await tx.exec(t)
        },
      },
      schema,
      target,
    )
  })
}

describe('postgres schema migration (PGlite data directory)', { timeout: 60_000 }, () => {
  it('opens a v1 directory, migrates it to v2, keeps its runs and trims only new inboxes', async () => {
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(2)
    const dir = mkdtempSync(join(tmpdir(), 'runbus-migrate-'))
    dirs.push(dir)
    const dataDir = join(dir, 'data')
    const schema = 'runbus'

    // An older runbus: schema v1 only, one run with five inbox messages.
    const old = await PGlite.create(dataDir)
    await migrateTo(old, schema, 1)
    const now = Date.now()
    await old.query(`SELECT "${schema}".create_run($1, $2, $3, $4, $5)`, [
      'old-run',
      JSON.stringify({ from: 'v1' }),
      1000,
      now,
      now,
    ])
    for (let i = 1; i <= 5; i++) {
      await old.query(`SELECT "${schema}".send_inbox($1, $2, $3, $4, $5)`, [
        'old-run',
        'note',
        JSON.stringify(i),
        now + i,
        now + i,
      ])
    }
    const v1 = await old.query<{ v: number }>(`SELECT max(version) AS v FROM "${schema}".version`)
    expect(v1.rows[0].v).toBe(1)
    await old.close()

    // This runbus opens the same directory.
    const db = await PGlite.create(dataDir)
    const rb = createRunbus({
      backend: postgresBackend({ pglite: db, schema }),
      retention: { maxInboxMessages: 2 },
    })
    try {
      const info = await rb.runs.get('old-run')
      expect(info.status).toBe('running')
      expect(info.meta).toEqual({ from: 'v1' })
      const versions = await db.query<{ version: number }>(
        `SELECT version FROM "${schema}".version ORDER BY version`,
      )
      expect(versions.rows.map((r) => r.version)).toEqual(
        Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
      )

      // The old run keeps the behaviour it was created with: no inbox trimming.
      await rb.runs.send('old-run', { type: 'note', data: 6 })
      const oldInbox = await rb.runs.readInbox('old-run')
      expect(oldInbox.map((m) => m.data)).toEqual([1, 2, 3, 4, 5, 6])

      // A run created after the migration trims to maxInboxMessages (2).
      const run = await rb.runs.add({ id: 'new-run' })
      for (let i = 1; i <= 5; i++) await rb.runs.send(run.id, { type: 'note', data: i })
      const newInbox = await rb.runs.readInbox(run.id)
      expect(newInbox.map((m) => m.data)).toEqual([4, 5])
      // The three trimmed are counted; the old run's untrimmed sends are not.
      expect(rb.stats().inboxTrimmed).toBe(3)
      await rb.runs.end(run.id)
    } finally {
      await rb.close()
      await db.close()
    }
  })
})
