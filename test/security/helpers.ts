/**
 * A real hub for the security suite: `createServer(hub.serverOptions, hub.node)` on a free
 * loopback port (the way `runbus serve` runs it), tokens, a raw-socket client for the
 * attacks fetch cannot make (slow headers, stalled bodies), and `healthy()`: a normal
 * reader that must still be served after every attack.
 */
import { createServer, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { expect } from 'vitest'
import { createRunbus, type Runbus, type RunbusOptions } from '../../src/index.js'
import { createHub, signToken, type Hub, type HubOptions, type Scope } from '../../src/hub/index.js'
import { until as waitUntil } from '../helpers/wait.js'

export const SECRET = 'security-secret-0123456789abcdef'

export interface SecHub {
  rb: Runbus
  hub: Hub
  server: Server
  url: string
  port: number
  admin: string
  token(
    scope?: Scope[],
    runs?: string[] | '*',
    opts?: { ttlSeconds?: number; sub?: string },
  ): Promise<string>
  call(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
    headers?: Record<string, string>,
  ): Promise<Response>
  /** A normal reader: creates a run, appends, follows it to the end over SSE. */
  healthy(): Promise<void>
  close(): Promise<void>
}

let seq = 0

export async function startSecHub(
  opts: { runbus?: RunbusOptions; hub?: Partial<HubOptions> } = {},
): Promise<SecHub> {
  const rb = createRunbus(opts.runbus ?? {})
  const hub = createHub({ runbus: rb, secret: SECRET, onError: () => undefined, ...opts.hub })
  const server = createServer(hub.serverOptions, hub.node)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  const url = `http://127.0.0.1:${port}`
  const token: SecHub['token'] = (scope = ['admin'], runs = '*', o = {}) =>
    signToken(SECRET, { scope, runs, ttlSeconds: o.ttlSeconds ?? 3600, sub: o.sub ?? 'tester' })
  const admin = await token(['admin'], '*', { sub: 'admin' })
  const call: SecHub['call'] = (method, path, body, tok = admin, headers = {}) => {
    const h: Record<string, string> = { ...headers }
    if (tok !== '') h.authorization = `Bearer ${tok}`
    if (body !== undefined) h['content-type'] = 'application/json'
    return fetch(url + path, {
      method,
      headers: h,
      ...(body !== undefined
        ? { body: typeof body === 'string' ? body : JSON.stringify(body) }
        : {}),
    })
  }
  return {
    rb,
    hub,
    server,
    url,
    port,
    admin,
    token,
    call,
    async healthy() {
      const id = `healthy-${++seq}`
      const created = await call('POST', '/v1/runs', { id })
      expect(created.status).toBe(201)
      await created.body?.cancel()
      const appended = await call('POST', `/v1/runs/${id}/events`, [
        { type: 'text', data: 'hello' },
      ])
      expect(appended.status).toBe(201)
      await appended.body?.cancel()
      const ended = await call('POST', `/v1/runs/${id}/end`, { status: 'completed' })
      expect(ended.status).toBe(200)
      await ended.body?.cancel()
      const res = await call(
        'GET',
        `/v1/runs/${id}/events?format=ndjson`,
        undefined,
        await token(['read'], [id]),
      )
      expect(res.status).toBe(200)
      const lines = (await res.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { type: string })
      expect(lines.map((l) => l.type)).toEqual(['text', 'end'])
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
      await hub.close()
      await rb.close()
    },
  }
}

/** A raw TCP client: what was received, and when the hub closed the connection. */
export interface Raw {
  socket: Socket
  received(): string
  /** Resolves with ms since connect when the hub ends the connection (bounded by `ms`). */
  closed(ms: number): Promise<number | 'open'>
}

export async function raw(port: number): Promise<Raw> {
  const socket = connect(port, '127.0.0.1')
  await new Promise<void>((r, j) => {
    socket.once('connect', () => r())
    socket.once('error', j)
  })
  const t0 = Date.now()
  let data = ''
  socket.on('data', (c: Buffer) => (data += c.toString('latin1')))
  socket.on('error', () => undefined)
  const done = new Promise<number>((r) => socket.once('close', () => r(Date.now() - t0)))
  return {
    socket,
    received: () => data,
    closed: (ms) =>
      Promise.race([done, new Promise<'open'>((r) => setTimeout(() => r('open'), ms).unref())]),
  }
}

/** Waits for `cond`, bounded (the shared polling wait, `test/helpers/wait.ts`). */
export function until(cond: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  return waitUntil(cond, 'condition', ms)
}
