// Fails the check when a source folder imports a folder above it. The layers, bottom first
// (a folder may import only those listed before it; see docs/architecture.md):
// events, contract, queue, context.ts, budget.ts, streams, bus, work, asks, agent, backends, runbus.ts,
// protocol, hub, client, ai-sdk, cli, index.ts. Tests (`*.test.ts`) are not checked.
import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join, normalize, relative } from 'node:path'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const src = join(root, 'src')
const order = [
  'events',
  'contract',
  'queue',
  'context.ts',
  'budget.ts',
  'streams',
  'bus',
  'work',
  'asks',
  'agent',
  'backends',
  'runbus.ts',
  'protocol',
  'hub',
  'client',
  'ai-sdk',
  'cli',
  'index.ts',
]
const layerOf = (file) => order.indexOf(relative(src, file).split('/')[0])

function* walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) yield* walk(p)
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) yield p
  }
}

const problems = []
for (const file of walk(src)) {
  const a = layerOf(file)
  if (a < 0)
    problems.push(`${relative(root, file)} is in no layer (add it to scripts/check-layers.mjs)`)
  const text = readFileSync(file, 'utf8')
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = normalize(join(dirname(file), m[1])).replace(/\.js$/, '.ts')
    const b = layerOf(target)
    if (b > a)
      problems.push(`${relative(root, file)} imports ${relative(root, target)} (a layer above it)`)
  }
}
if (problems.length > 0) {
  console.error('layer check failed:\n  ' + problems.join('\n  '))
  process.exit(1)
}
console.log('layer check: no folder imports a folder above it')
