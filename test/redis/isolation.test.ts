/**
 * A memory-only user never loads ioredis: only `runbus/redis` does. ioredis is CommonJS,
 * so once loaded it shows up in the CommonJS module cache of the process.
 */
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'

function loadsIoredis(entry: string): boolean {
  const code = `
    const { createRequire } = await import('node:module')
    await import(${JSON.stringify(entry)})
    const cache = createRequire(import.meta.url).cache
    console.log(Object.keys(cache).some((k) => k.includes('/node_modules/ioredis/')))
  `
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
  })
  if (r.status !== 0) throw new Error(r.stderr)
  return r.stdout.trim() === 'true'
}

describe('module isolation', () => {
  it('the main entry (memory backend) does not load ioredis; runbus/redis does', () => {
    expect(loadsIoredis('./src/index.ts')).toBe(false)
    expect(loadsIoredis('./src/backends/redis/index.ts')).toBe(true)
  }, 30_000)
})
