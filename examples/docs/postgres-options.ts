import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRunbus } from 'runbus'
import { postgresBackend } from 'runbus/postgres'

// postgresBackend({ url: 'postgres://app@db:5432/app' }) // runbus opens its own pool
// postgresBackend({ pool }) // your pg.Pool (never ended by runbus)
// postgresBackend({ pglite: 'memory://' }) // PGlite in memory
// postgresBackend({ pglite: myPGliteInstance }) // yours (never closed by runbus)
const dir = await mkdtemp(join(tmpdir(), 'runbus-')) // e.g. './.runbus'
const backend = postgresBackend({ pglite: dir, schema: 'runbus' }) // PGlite, data in that directory

const rb = createRunbus({ backend, ownBackend: true })
const run = await rb.runs.create()
await run.end({ status: 'completed' })
console.log((await rb.runs.get(run.id)).status) // completed
await rb.close()
