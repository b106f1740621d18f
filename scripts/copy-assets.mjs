// Copies the non-TypeScript files the build needs at run time (Redis Lua scripts).
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const from = join(root, 'src/backends/redis/lua')
const to = join(root, 'dist/backends/redis/lua')
if (existsSync(from)) {
  mkdirSync(to, { recursive: true })
  for (const f of readdirSync(from)) if (f.endsWith('.lua')) cpSync(join(from, f), join(to, f))
}
