/**
 * "Start the reader first" over HTTP: `client.follow(run, { waitForRun })` and
 * `runbus tail --wait-for-run` against a hub started here, for a run created after them.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createRunbus, type Runbus } from '../../src/index.js'
import { createHub } from '../../src/hub/index.js'
import { createClient, HubError } from '../../src/client/index.js'
import { main } from '../../src/cli/main.js'
import type { Io } from '../../src/cli/commands.js'
import { stylesFor } from '../../src/cli/format.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function hub(): Promise<{ url: string; rb: Runbus }> {
  const rb = createRunbus()
  const h = createHub({ runbus: rb, insecure: true })
  const server: Server = createServer((req, res) => h.node(req, res))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  cleanups.push(async () => {
    await h.close()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    await rb.close()
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, rb }
}

async function later(rb: Runbus, id: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 150))
  const run = await rb.runs.create({ id })
  run.text('hello')
  await run.end({ status: 'completed' })
}

describe('client.follow({ waitForRun })', () => {
  it('without it a missing run is a 404 at once; with it the follow waits for the run', async () => {
    const { url, rb } = await hub()
    const client = createClient({ baseUrl: url })
    const missing = (async () => {
      for await (const _ of client.follow('absent')) void _
    })()
    await expect(missing).rejects.toMatchObject({ status: 404 })

    const types: string[] = []
    const reading = (async () => {
      for await (const e of client.follow('soon', { waitForRun: 10_000 })) types.push(e.type)
    })()
    await later(rb, 'soon')
    await reading
    expect(types).toEqual(['text', 'end'])
  })

  it('gives up with the 404 at the bound; the signal cancels the wait', async () => {
    const { url } = await hub()
    const client = createClient({ baseUrl: url })
    const t0 = Date.now()
    let error: unknown
    try {
      for await (const _ of client.follow('never', { waitForRun: 200 })) void _
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(HubError)
    expect((error as HubError).status).toBe(404)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(180)

    const ac = new AbortController()
    setTimeout(() => ac.abort(new Error('stop')), 50)
    const t1 = Date.now()
    const cancelled = (async () => {
      for await (const _ of client.follow('never', { waitForRun: 60_000, signal: ac.signal }))
        void _
    })()
    await expect(cancelled).rejects.toThrow('stop')
    expect(Date.now() - t1).toBeLessThan(2_000)
  })
})

describe('runbus tail --wait-for-run', () => {
  function io(): Io & { text(): string } {
    const chunks: string[] = []
    return {
      out: (l) => chunks.push(l + '\n'),
      err: (l) => chunks.push(l + '\n'),
      write: (t) => chunks.push(t),
      styles: stylesFor({ isTTY: false }),
      text: () => chunks.join(''),
    }
  }

  it('follows a run created after tail started, to its end', async () => {
    const { url, rb } = await hub()
    const out = io()
    const code = main(['tail', 'cli-soon', '--url', url, '--wait-for-run', '10000'], out, {})
    await later(rb, 'cli-soon')
    expect(await code).toBe(0)
    expect(out.text()).toMatch(/hello/)
    expect(out.text()).toMatch(/completed/)
  })

  it('without it a missing run fails; a bad value is a usage error (exit 2)', async () => {
    const { url } = await hub()
    expect(await main(['tail', 'nope', '--url', url], io(), {})).not.toBe(0)
    expect(await main(['tail', 'nope', '--url', url, '--wait-for-run', 'x'], io(), {})).toBe(2)
  })
})
