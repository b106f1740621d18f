import { readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { composeScript, loadScript } from './scripts.js'

const dir = new URL('./lua/', import.meta.url)

describe('Lua scripts and their shared fragments', () => {
  it('every script loads with its includes composed in, no directive left', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.lua'))
    expect(files.length).toBeGreaterThan(10)
    for (const f of files) {
      const m = /^(.+)-(\d+)\.lua$/.exec(f)
      expect(m, f).not.toBeNull()
      const script = loadScript(m![1], Number(m![2]))
      expect(script.source).not.toMatch(/--@include/)
      // A fragment's function is defined once, before its first use.
      for (const [, fn] of script.source.matchAll(/^local function (\w+)\(/gm)) {
        const def = script.source.indexOf(`local function ${fn}(`)
        expect(script.source.indexOf(`${fn}(`, def + 1), `${f}: ${fn}`).toBeGreaterThan(def)
      }
    }
    expect(loadScript('append', 2).source).toMatch(/local function runMeta\(/)
    expect(loadScript('work-reclaim', 5).source).toMatch(/local function deadRecord\(/)
  })

  it('replaces each directive line once, and throws on an unknown fragment', () => {
    const read = (name: string) => `-- ${name}\n`
    expect(composeScript('a\n--@include x\n--@include x\nb', read)).toBe('a\n-- x\n\nb')
    expect(() => composeScript('--@include no-such-fragment')).toThrow(/no-such-fragment/)
  })
})
