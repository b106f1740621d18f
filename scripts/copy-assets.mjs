// Copies the non-TypeScript files the build needs at run time (Redis Lua scripts and the
// fragments they include, lua/includes/).
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const from = join(root, 'src/backends/redis/lua')
const to = join(root, 'dist/backends/redis/lua')
for (const sub of ['', 'includes']) {
  const src = join(from, sub)
  const dst = join(to, sub)
  if (!existsSync(src)) continue
  mkdirSync(dst, { recursive: true })
  for (const f of readdirSync(src)) if (f.endsWith('.lua')) cpSync(join(src, f), join(dst, f))
}
