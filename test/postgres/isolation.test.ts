/**
 * A memory or Redis user never loads `pg` or PGlite: only `runbus/postgres` does, and only
 * the engine it is given. `pg` is CommonJS (it shows up in the CommonJS module cache);
 * PGlite is ESM, seen by a resolve hook that reports every specifier resolved.
 */
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'

const HOOK = `data:text/javascript,${encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@electric-sql/pglite')) process.stderr.write('[resolved pglite]')
  return next(specifier, context)
}`)}`

function loads(entry: string, use = ''): { pg: boolean; pglite: boolean } {
  const code = `
    const { createRequire, register } = await import('node:module')
    register(${JSON.stringify(HOOK)})
    const mod = await import(${JSON.stringify(entry)})
    ${use}
    const cache = createRequire(import.meta.url).cache
    console.log(Object.keys(cache).some((k) => k.includes('/node_modules/pg/')))
  `
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
  })
  if (r.status !== 0) throw new Error(r.stderr)
  return { pg: r.stdout.trim().endsWith('true'), pglite: r.stderr.includes('[resolved pglite]') }
}

describe('module isolation (postgres)', () => {
  it('the main entry and runbus/redis load neither pg nor PGlite; runbus/postgres loads the engine it uses', () => {
    // Importing the postgres subpath loads neither until a backend is used.
    const importAll = `await import('./src/backends/redis/index.ts'); await import('./src/backends/postgres/index.ts')`
    expect(loads('./src/index.ts', importAll)).toEqual({ pg: false, pglite: false })
    const usePglite = `const b = mod.postgresBackend({ pglite: 'memory://' }); await b.ping(); await b.close()`
    expect(loads('./src/backends/postgres/index.ts', usePglite)).toEqual({
      pg: false,
      pglite: true,
    })
    const usePg = `const b = mod.postgresBackend({ url: 'postgres://127.0.0.1:1/x', commandTimeoutMs: 300 }); await b.ping().catch(() => {}); await b.close()`
    expect(loads('./src/backends/postgres/index.ts', usePg)).toEqual({ pg: true, pglite: false })
  }, 240_000)
})
