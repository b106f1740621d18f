// Fails the test command when a package.json export points at a file the build did not
// produce, or when the internal/* subpath is not closed. Run after `npm run build`.
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join, sep } from 'node:path'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const problems = []
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (target === null) continue
  const files = typeof target === 'string' ? [target] : Object.values(target)
  for (const file of files) {
    if (!existsSync(join(root, file)))
      problems.push(`${subpath} -> ${file} is missing from the build`)
  }
}
if (pkg.exports['./internal/*'] !== null) problems.push('./internal/* must be closed (null)')
for (const bin of Object.values(pkg.bin ?? {})) {
  if (!existsSync(join(root, bin))) problems.push(`bin ${bin} is missing from the build`)
}
// The optional peer `ai` is loaded by `runbus/ai-sdk` only: no other built file imports it.
const dist = join(root, 'dist')
for (const file of existsSync(dist) ? readdirSync(dist, { recursive: true }) : []) {
  const path = String(file)
  if (!path.endsWith('.js') || path.startsWith(`ai-sdk${sep}`)) continue
  if (
    /\bfrom\s+['"]ai(\/[^'"]*)?['"]|import\(\s*['"]ai['"]/.test(
      readFileSync(join(dist, path), 'utf8'),
    )
  )
    problems.push(`dist/${path} imports the optional peer 'ai' (only runbus/ai-sdk may)`)
}

// The published types must not lead to internal modules: walk the .d.ts files reachable
// from every export and refuse the ones listed here (and any `@internal` left over, which
// `stripInternal` removes from the build).
const INTERNAL_DTS = [
  'context.d.ts',
  'budget.d.ts',
  'streams/feed.d.ts',
  'hub/route.d.ts',
  'hub/router.d.ts',
  'hub/run-readers.d.ts',
  'hub/bus-fanout.d.ts',
  'hub/compat.d.ts',
].map((f) => join(dist, ...f.split('/')))
const seen = new Set()
const queue = []
for (const target of Object.values(pkg.exports)) {
  if (target && typeof target === 'object' && typeof target.types === 'string')
    queue.push(join(root, target.types))
}
while (queue.length > 0) {
  const file = queue.pop()
  if (seen.has(file) || !existsSync(file)) continue
  seen.add(file)
  const text = readFileSync(file, 'utf8')
  if (INTERNAL_DTS.includes(file))
    problems.push(
      `${file.slice(root.length + 1)} is internal but reachable from the published types`,
    )
  if (/@internal\b/.test(text))
    problems.push(`${file.slice(root.length + 1)} still mentions @internal (stripInternal is off?)`)
  for (const m of text.matchAll(/(?:from\s+|import\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    queue.push(join(dirname(file), m[1].replace(/\.js$/, '.d.ts')))
  }
}
if (problems.length > 0) {
  console.error('export check failed:\n  ' + problems.join('\n  '))
  process.exit(1)
}
console.log(
  `export check: ${Object.keys(pkg.exports).length} subpaths resolve; ${seen.size} published .d.ts files, none internal`,
)
