/**
 * `npm run bench -- <name> [filter…]` runs `bench/<name>.ts` (queue, fanout, redis, work,
 * hub, ai-sdk, postgres). With no name it lists them. Each benchmark prints a table and writes JSON to
 * `bench/results/<name>.json`, with our code and its peers side by side in the same run.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const known = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && (!f.includes('-') || f === 'ai-sdk.ts'))
  .map((f) => f.slice(0, -3))
const [name, ...rest] = process.argv.slice(2)
if (!name || !existsSync(join(here, `${name}.ts`))) {
  console.log(`usage: npm run bench -- <${known.join('|')}> [filter]`)
  process.exit(name ? 1 : 0)
}
const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, `${name}.ts`), ...rest], {
  stdio: 'inherit',
})
process.exit(r.status ?? 1)
