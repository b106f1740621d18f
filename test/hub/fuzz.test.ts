/**
 * Throws a few thousand random requests (methods, paths, headers, bodies) at the Web
 * handler: every answer must be a success or the protocol's JSON error, never a 5xx, and
 * the hub must keep answering.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRunbus, type Runbus } from '../../src/index.js'
import { createHub, signToken, type Hub } from '../../src/hub/index.js'
import { SECRET } from './helpers.js'

let rb: Runbus
let hub: Hub
let tokens: string[]

beforeAll(async () => {
  rb = createRunbus({ limits: { maxPayloadBytes: 2048 } })
  hub = createHub({
    runbus: rb,
    secret: SECRET,
    maxBodyBytes: 4096,
    compatWaitMs: 5,
    maxAskWaitSeconds: 0,
    onError: (err) => {
      throw err
    },
  })
  await rb.runs.create({ id: 'r1' })
  const ended = await rb.runs.create({ id: 'done' })
  await ended.end()
  tokens = [
    await signToken(SECRET, { scope: ['admin'] }),
    await signToken(SECRET, { scope: ['read'], runs: ['r1'] }),
    await signToken(SECRET, { scope: ['answer', 'write'], runs: ['r1', 'done'] }),
    'garbage',
    '',
  ]
})

afterAll(async () => {
  await hub.close()
  await rb.close()
})

const segment = fc.oneof(
  fc.constantFrom(
    'v1',
    'runs',
    'r1',
    'done',
    'events',
    'end',
    'inbox',
    'asks',
    'answer',
    'channels',
    'api',
    'event',
    'get',
    'response',
    'healthz',
    'metrics',
    'a.b',
    'a.*',
    '>',
    '',
  ),
  fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(s)),
  fc.constantFrom('%', '%zz', '%E0%A4%A', '..', '{x}', 'ask_1'),
)
const path = fc.oneof(
  fc.array(segment, { minLength: 0, maxLength: 5 }).map((segs) => '/' + segs.join('/')),
  fc.constantFrom(
    '/v1/runs',
    '/v1/runs/r1',
    '/v1/runs/r1/events',
    '/v1/runs/done/events',
    '/v1/runs/r1/end',
    '/v1/runs/r1/inbox',
    '/v1/runs/r1/asks',
    '/v1/asks/ask_x/answer',
    '/v1/channels/a.b',
    '/api/event/get',
    '/api/event/response',
  ),
)
const query = fc.oneof(
  fc.constant(''),
  fc.constantFrom(
    '?after=1',
    '?after=x',
    '?live=1',
    '?format=ndjson',
    '?format=bad',
    '?status=running',
    '?status=zz',
    '?limit=-1',
    '?limit=5',
    '?wait=3',
    '?state=pending',
    '?state=zz',
  ),
  fc
    .string({ maxLength: 20 })
    .map((s) => '?' + encodeURIComponent(s) + '=' + encodeURIComponent(s)),
)
const jsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record(
    {
      id: fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.constant('r1')),
      type: fc.oneof(
        fc.string({ maxLength: 10 }),
        fc.constantFrom('text', 'end', 'steer', 'interrupt'),
        fc.integer(),
      ),
      data: fc.jsonValue({ maxDepth: 2 }),
      status: fc.constantFrom('completed', 'failed', 'nope', 1),
      kind: fc.constantFrom('confirm', 'text', 'choice', 'form', 'human_as_model', 'weird'),
      prompt: fc.string({ maxLength: 10 }),
      choices: fc.oneof(
        fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }),
        fc.jsonValue({ maxDepth: 1 }),
      ),
      timeout: fc.oneof(fc.integer(), fc.double()),
      answer: fc.jsonValue({ maxDepth: 2 }),
      request_id: fc.oneof(fc.constant('r1'), fc.string({ maxLength: 5 })),
      response: fc.jsonValue({ maxDepth: 1 }),
      event: fc.jsonValue({ maxDepth: 2 }),
      meta: fc.jsonValue({ maxDepth: 2 }),
      extra: fc.integer(),
    },
    { requiredKeys: [] },
  ),
  fc.array(fc.record({ type: fc.string({ maxLength: 5 }), data: fc.jsonValue({ maxDepth: 1 }) }), {
    maxLength: 4,
  }),
)
const body = fc.oneof(
  fc.constant(undefined),
  jsonBody.map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 50 }),
  fc.uint8Array({ maxLength: 64 }),
  fc
    .integer({ min: 4000, max: 9000 })
    .map((n) => JSON.stringify({ type: 'x', data: 'y'.repeat(n) })),
)
const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
  path,
  query,
  token: fc.nat({ max: 5 }),
  tokenIn: fc.constantFrom('header', 'query', 'basic'),
  lastEventId: fc.option(
    fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('0', '1', '99999999999999999999')),
    { nil: undefined },
  ),
  contentType: fc.constantFrom('application/json', 'text/plain', undefined),
  body,
})

describe('hub fuzz', () => {
  it('answers thousands of random requests with success or a JSON error below 500', async () => {
    let answered = 0
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers = new Headers()
        const tok = tokens[r.token % tokens.length]
        let url = `http://hub${r.path}${r.query}`
        if (tok !== '') {
          if (r.tokenIn === 'header') headers.set('authorization', `Bearer ${tok}`)
          else if (r.tokenIn === 'basic') headers.set('authorization', `Basic ${tok}`)
          else url += (r.query === '' ? '?' : '&') + 'token=' + encodeURIComponent(tok)
        }
        if (r.lastEventId !== undefined) {
          try {
            headers.set('last-event-id', r.lastEventId)
          } catch {
            // not a valid header value: skip it
          }
        }
        if (r.contentType) headers.set('content-type', r.contentType)
        let req: Request
        try {
          const hasBody = r.body !== undefined && r.method !== 'GET' && r.method !== 'HEAD'
          req = new Request(url, { method: r.method, headers, body: hasBody ? r.body : undefined })
        } catch {
          return // not a request a client could send
        }
        const res = await hub.fetch(req)
        answered++
        expect(res.status).toBeLessThan(500)
        const type = res.headers.get('content-type') ?? ''
        if (type.startsWith('text/event-stream') || type.startsWith('application/x-ndjson')) {
          expect(res.status).toBe(200)
          await res.body?.cancel()
          return
        }
        const text = await res.text()
        if (res.status >= 400) {
          const parsed = JSON.parse(text)
          expect(typeof parsed.error.code).toBe('string')
          expect(typeof parsed.error.message).toBe('string')
          expect(Object.keys(parsed)).toEqual(['error'])
        } else if (res.status !== 204 && type.includes('json')) {
          JSON.parse(text)
        }
      }),
      { numRuns: 3000 },
    )
    expect(answered).toBeGreaterThan(2000)
    // still healthy
    expect((await hub.fetch(new Request('http://hub/healthz'))).status).toBe(200)
  })
})
