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
if (problems.length > 0) {
  console.error('export check failed:\n  ' + problems.join('\n  '))
  process.exit(1)
}
console.log(`export check: ${Object.keys(pkg.exports).length} subpaths resolve`)
