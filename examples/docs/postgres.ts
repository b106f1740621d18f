import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRunbus } from 'runbus'
import { postgresBackend } from 'runbus/postgres'

const backend = process.env.DATABASE_URL
  ? postgresBackend({ url: process.env.DATABASE_URL, schema: 'runbus' }) // or { pool }
  : postgresBackend({ pglite: await mkdtemp(join(tmpdir(), 'runbus-')) }) // PGlite: no server
const rb = createRunbus({ backend, ownBackend: true })

const run = await rb.runs.create()
run.text('a row in Postgres')
await run.end({ status: 'completed' })
for await (const ev of rb.runs.follow(run.id)) console.log(ev.seq, ev.type)
await rb.close()
