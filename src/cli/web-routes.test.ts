import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDemoServer, type DemoServer } from '../../test/helpers/demo-server.js'
import { createWebRoutes } from './web-routes.js'
import { signToken } from '../hub/auth.js'

const web = createWebRoutes({ baseUrl: 'http://127.0.0.1:9' })
const get = (path: string, init?: RequestInit): Promise<Response | undefined> =>
  web(new Request(`http://hub.test${path}`, init))

describe('web routes', () => {
  it('serves the page, its assets, the client modules and the SSE parser', async () => {
    const page = (await get('/'))!
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    const html = await page.text()
    expect(html).toContain('"eventsource-parser": "./assets/vendor/eventsource-parser.js"')
    expect((await get('/app.js'))!.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect((await get('/style.css'))!.headers.get('content-type')).toMatch(/^text\/css/)

    const client = (await get('/assets/client/index.js'))!
    expect(client.headers.get('content-type')).toMatch(/^text\/javascript/)
    const js = await client.text()
    expect(js).toContain('export function createClient')
    expect(js).not.toMatch(/\binterface\b|: string\b/) // plain JavaScript, types gone
    expect(js).toContain("from '../events/errors.js'")
    expect(await (await get('/assets/events/envelope.js'))!.text()).toContain('seqOfId')
    expect(await (await get('/assets/vendor/eventsource-parser.js'))!.text()).toContain(
      'createParser',
    )
    expect((await get('/', { method: 'HEAD' }))!.status).toBe(200)
  })

  it('never serves a file outside its folders', async () => {
    for (const path of [
      '/assets/client/..%2F..%2Fpackage.json',
      '/assets/client/%2e%2e/%2e%2e/package.json',
      '/assets/events/..%2fcli%2fweb-routes.js',
      '/..%2Fpackage.json',
      '/%2e%2e%2fpackage.json',
      '/.gitignore',
      '/assets/client/client.test.js',
      '/assets/client/index.ts',
      '/assets/client/%00index.js',
      '/assets/other/index.js',
      '/app.js%5C..%5C..%5Cpackage.json',
      '/%E0%A4%A',
      '/nope.html',
    ]) {
      expect(await get(path), path).toBeUndefined()
    }
  })

  it('leaves the hub its routes and refuses odd methods', async () => {
    expect(await get('/v1/runs')).toBeUndefined()
    expect(await get('/healthz')).toBeUndefined()
    expect(await get('/', { method: 'POST', body: '{}' })).toBeUndefined()
    const res = (await get('/demo/runs'))!
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('POST')
  })

  it('validates POST /demo/runs', async () => {
    const bad = (await get('/demo/runs', { method: 'POST', body: '{"speed":"fast"}' }))!
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ error: { code: 'invalid_argument' } })
    const notJson = (await get('/demo/runs', { method: 'POST', body: '{' }))!
    expect(notJson.status).toBe(400)
    const unreachable = (await get('/demo/runs', { method: 'POST' }))!
    expect(unreachable.status).toBe(502)
    expect(await unreachable.json()).toMatchObject({ error: { code: 'demo_failed' } })
  })
})

describe('POST /demo/runs', () => {
  let demo: DemoServer
  let guard: Server
  let guardUrl = ''
  beforeAll(async () => {
    demo = await startDemoServer({ speed: 100 })
    // A hub that only knows one token, to check the caller is asked for one.
    guard = createServer((req, res) => {
      const ok = req.headers.authorization === 'Bearer good'
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify(ok ? { runs: [] } : { error: { code: 'unauthorized', message: 'no' } }),
      )
    })
    await new Promise<void>((r) => guard.listen(0, '127.0.0.1', r))
    guardUrl = `http://127.0.0.1:${(guard.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await demo?.close()
    await new Promise((r) => guard?.close(r))
  })

  it('starts a demo agent on the hub and answers its run id', async () => {
    const res = await fetch(`${demo.url}/demo/runs`, { method: 'POST' })
    expect(res.status).toBe(201)
    const { runId } = (await res.json()) as { runId: string }
    const run = (await (await fetch(`${demo.url}/v1/runs/${runId}`)).json()) as { status: string }
    expect(run.status).toBe('running')
  })

  it('on a secured hub, wants a token with write on every run before spending the agent token', async () => {
    const secret = 'web-routes-secret-0123456789'
    const routes = createWebRoutes({ baseUrl: guardUrl, agentToken: 'agent', secret })
    const post = (auth?: string): Promise<Response | undefined> =>
      routes(
        new Request('http://hub.test/demo/runs', {
          method: 'POST',
          headers: auth ? { authorization: auth } : {},
        }),
      )
    const anonymous = (await post())!
    expect(anonymous.status).toBe(401)
    expect(await anonymous.json()).toMatchObject({ error: { code: 'unauthorized' } })
    expect((await post('Bearer bad'))!.status).toBe(401)
    const reader = await signToken(secret, { scope: ['read'], ttlSeconds: 60 })
    expect((await post(`Bearer ${reader}`))!.status).toBe(403)
    const writer = await signToken(secret, { scope: ['write'], ttlSeconds: 60 })
    // Accepted: goes on to start the agent (which fails here: the guard is no hub).
    expect((await post(`Bearer ${writer}`))!.status).toBe(502)
  })

  it('refuses an agent token without the secret to check callers with', () => {
    expect(() => createWebRoutes({ baseUrl: guardUrl, agentToken: 'agent' })).toThrow(/secret/)
  })
})
