/**
 * The docs' examples run as written. Every fenced block of README.md and docs/*.md is either
 * an example (`<!-- example: examples/docs/NAME.ts -->` before it: the block must be that
 * file verbatim, `tsc` type-checks the file under strict with the rest of the repo, and this
 * test runs it in its own Node process, which must exit 0 by itself: nothing left open)
 * or explicitly not run (`<!-- not-run: why -->`: shell commands, outputs, fragments).
 * A block with neither fails. Redis examples get `REDIS_URL` of a server started here, and
 * Redis Cluster examples (those reading `REDIS_CLUSTER_NODES`) the nodes of a 3-master
 * cluster started here only when one needs it (`host:port,…`).
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// @ts-expect-error a plain .mjs script without types
import { allBlocks, blocksOf, root } from '../../scripts/doc-examples.mjs'
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis-server.js'
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.js'

interface Block {
  doc: string
  line: number
  lang: string
  code: string
  marker: { kind: 'example' | 'not-run'; value: string } | undefined
}

const blocks = (allBlocks as () => Block[])()
const examples = blocks.filter((b) => b.marker?.kind === 'example')
const notRun = blocks.filter((b) => b.marker?.kind === 'not-run')
const where = (b: Block): string => `${b.doc}:${b.line}`

function runExample(
  file: string,
  env: Record<string, string>,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root as string,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? (signal ? 128 : 1), out })
    })
  })
}

describe('docs examples', () => {
  it('the parser sees each block with the marker on the line before it (blank lines between are fine)', () => {
    const md = [
      '<!-- example: examples/docs/a.ts -->',
      '```ts',
      'x',
      '```',
      '',
      '<!-- not-run: a shell command -->',
      '',
      '```sh',
      'ls',
      '```',
      'text',
      '```js',
      'unmarked()',
      '```',
    ].join('\n')
    const found = (blocksOf as (doc: string, text: string) => Block[])('t.md', md)
    expect(found.map((b) => [b.lang, b.code, b.marker?.kind])).toEqual([
      ['ts', 'x\n', 'example'],
      ['sh', 'ls\n', 'not-run'],
      ['js', 'unmarked()\n', undefined],
    ])
  })

  it('every code block is an example or marked not-run, and every example is its file verbatim', () => {
    const unmarked = blocks.filter((b) => b.marker === undefined).map(where)
    expect(unmarked, 'blocks neither run nor marked <!-- not-run: why -->').toEqual([])
    const empty = notRun.filter((b) => b.marker!.value === '').map(where)
    expect(empty, 'a not-run marker needs a reason').toEqual([])
    for (const b of examples) {
      const file = readFileSync(join(root as string, b.marker!.value), 'utf8')
      expect(
        b.code,
        `${where(b)} differs from ${b.marker!.value} (node scripts/doc-examples.mjs --write)`,
      ).toBe(file)
    }
    console.log(
      `docs examples: ${examples.length} executed, ${notRun.length} not run:\n` +
        notRun.map((b) => `  ${where(b)} (${b.lang || 'text'}): ${b.marker!.value}`).join('\n'),
    )
  })

  let redis: TestRedis | undefined
  let cluster: TestRedisCluster | undefined
  const haveRedis = redisAvailable()
  const needsCluster = (b: Block): boolean => b.code.includes('REDIS_CLUSTER_NODES')
  beforeAll(async () => {
    if (!haveRedis) return
    redis = await startRedis()
    if (examples.some(needsCluster)) cluster = await startRedisCluster()
  }, 90_000)
  afterAll(async () => {
    await redis?.stop()
    await cluster?.stop()
  })

  for (const b of examples) {
    const file = b.marker!.value
    const needsRedis = b.code.includes('REDIS_URL') || needsCluster(b)
    it.skipIf(needsRedis && !haveRedis)(
      `${file} (${where(b)}) runs and exits 0`,
      async () => {
        const env: Record<string, string> = { PORT: '0' } // examples that listen take any free port
        if (redis) env.REDIS_URL = redis.url
        if (cluster)
          env.REDIS_CLUSTER_NODES = cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',')
        const { code, out } = await runExample(file, env)
        expect(code, out).toBe(0)
      },
      120_000,
    )
  }
})
