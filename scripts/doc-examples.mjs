// The docs' code blocks, found and checked in one place (used by test/docs/examples.test.ts).
// Every fenced block in README.md and docs/*.md is preceded by one marker line:
//   <!-- example: examples/docs/NAME.ts -->   the block is that file, verbatim; the test
//                                             type-checks it (tsc) and runs it
//   <!-- not-run: why -->                     a shell command, an output, a fragment…
// `node scripts/doc-examples.mjs --write` copies each example file into its block.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const MARKER = /^<!--\s*(example|not-run):\s*(.*?)\s*-->\s*$/

export function docFiles() {
  return [
    'README.md',
    ...readdirSync(join(root, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => `docs/${f}`),
  ]
}

/** Every fenced block of one markdown file: { doc, line, lang, code, start, end, marker }. */
export function blocksOf(doc, text = readFileSync(join(root, doc), 'utf8')) {
  const lines = text.split('\n')
  const blocks = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})(\S*)/.exec(lines[i])
    if (!open) continue
    let j = i + 1
    while (j < lines.length && lines[j] !== open[1]) j++
    let k = i - 1
    while (k >= 0 && lines[k].trim() === '') k--
    const m = k >= 0 ? MARKER.exec(lines[k]) : null
    blocks.push({
      doc,
      line: i + 1,
      lang: open[2],
      code: lines.slice(i + 1, j).join('\n') + '\n',
      start: i + 1,
      end: j,
      marker: m ? { kind: m[1], value: m[2] } : undefined,
    })
    i = j
  }
  return blocks
}

export function allBlocks() {
  return docFiles().flatMap((doc) => blocksOf(doc))
}

if (process.argv.includes('--write')) {
  for (const doc of docFiles()) {
    const lines = readFileSync(join(root, doc), 'utf8').split('\n')
    // Bottom up, so earlier line numbers stay valid.
    for (const b of blocksOf(doc).reverse()) {
      if (b.marker?.kind !== 'example') continue
      const code = readFileSync(join(root, b.marker.value), 'utf8').replace(/\n$/, '')
      lines.splice(b.start, b.end - b.start, ...code.split('\n'))
    }
    writeFileSync(join(root, doc), lines.join('\n'))
  }
}
