import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDemoServer, type DemoServer } from '../../test/helpers/demo-server.js'
import { createClient, type Client } from '../client/index.js'
import type { RunEvent } from '../events/envelope.js'
import { startDemoAgent } from './demo-agent.js'

let server: DemoServer
let client: Client

beforeAll(async () => {
  server = await startDemoServer()
  client = createClient({ baseUrl: server.url })
})
afterAll(async () => {
  await server?.close()
})

interface AskData {
  ask: string
  kind: string
  prompt: string
  data: { diff?: string; format?: string; files?: Array<{ path: string }>; instruction?: string }
}

/**
 * Follows the run, answering each ask with `answers[kind]`; optional `onEvent` may act
 * (steer, interrupt). Returns every event up to the end.
 */
async function drive(
  run: string,
  answers: Record<string, unknown>,
  onEvent?: (ev: RunEvent) => Promise<void>,
): Promise<RunEvent[]> {
  const events: RunEvent[] = []
  for await (const ev of client.follow(run)) {
    events.push(ev)
    if (ev.type === 'ask') {
      const d = ev.data as AskData
      if (d.kind in answers) await client.answer(d.ask, answers[d.kind])
    }
    await onEvent?.(ev)
  }
  return events
}

const types = (events: RunEvent[]): string[] => events.map((e) => e.type)
const tools = (events: RunEvent[]): string[] =>
  events.filter((e) => e.type === 'tool_call').map((e) => (e.data as { name: string }).name)

describe('demo agent', () => {
  it('streams, asks to be the model, shows the merge diff, and reverts when rejected', async () => {
    const { runId, done } = await startDemoAgent({ baseUrl: server.url, speed: 200 })
    const events = await drive(runId, { human_as_model: 'I would rather not.', confirm: false })
    await done
    expect(types(events)).toContain('thinking')
    expect(events.filter((e) => e.type === 'text').length).toBeGreaterThan(10)
    const asks = events.filter((e) => e.type === 'ask').map((e) => e.data as AskData)
    expect(asks.map((a) => a.kind)).toEqual(['human_as_model', 'confirm'])
    expect(asks[0].data.instruction).toContain('SEARCH/REPLACE')
    // Nothing usable pasted: the agent's own unified diff, both files listed.
    expect(asks[1].data.format).toBe('unified')
    expect(asks[1].data.diff).toMatch(/^- {2}for \(let attempt = 0; attempt <= attempts/m)
    expect(asks[1].data.files!.map((f) => f.path)).toEqual(['src/retry.ts', 'test/retry.test.ts'])
    expect(tools(events)).toEqual(['read_file', 'run_tests', 'git_checkout'])
    expect(events.at(-1)).toMatchObject({ type: 'end', data: { status: 'completed' } })
    // Every tool call has its result.
    const calls = events
      .filter((e) => e.type === 'tool_call')
      .map((e) => (e.data as { id: string }).id)
    const results = events
      .filter((e) => e.type === 'tool_result')
      .map((e) => (e.data as { id: string }).id)
    expect(results).toEqual(calls)
  })

  it('merges the SEARCH/REPLACE blocks the person pasted when approved', async () => {
    const reply = [
      'Here you go:',
      'src/retry.ts',
      '<<<<<<< SEARCH',
      '  for (let attempt = 0; attempt <= attempts; attempt++) {',
      '=======',
      '  for (let attempt = 0; attempt < attempts; attempt++) {',
      '>>>>>>> REPLACE',
    ].join('\n')
    const { runId, done } = await startDemoAgent({ baseUrl: server.url, speed: 200 })
    const events = await drive(runId, { human_as_model: reply, confirm: true })
    await done
    const confirm = events.map((e) => e.data as AskData).find((d) => d?.kind === 'confirm')!
    expect(confirm.data.format).toBe('search_replace')
    expect(confirm.data.diff).toBe(reply.slice('Here you go:\n'.length))
    expect(confirm.data.files).toEqual([{ path: 'src/retry.ts', additions: 1, deletions: 1 }])
    expect(tools(events)).toEqual(['read_file', 'run_tests', 'apply_patch', 'run_tests'])
    const lastResult = events.filter((e) => e.type === 'tool_result').at(-1)!.data
    expect(lastResult).toMatchObject({ name: 'run_tests', ok: true })
  })

  it('takes a steer note into account and stops on an interrupt, even mid-ask', async () => {
    const { runId, done } = await startDemoAgent({ baseUrl: server.url, speed: 200 })
    let steered = false
    const events = await drive(runId, {}, async (ev) => {
      if (!steered && ev.type === 'tool_call') {
        steered = true
        await client.send(runId, { type: 'steer', data: { text: 'keep the API' } })
      }
      if (ev.type === 'ask')
        await client.send(runId, { type: 'interrupt', data: { reason: 'enough' } })
    })
    await done
    expect(
      events.some((e) => e.type === 'log' && JSON.stringify(e.data).includes('keep the API')),
    ).toBe(true)
    expect(events.at(-1)).toMatchObject({
      type: 'end',
      data: { status: 'cancelled', error: 'enough' },
    })
    expect(types(events)).not.toContain('answer')
  })

  it('cancels the run when its signal aborts', async () => {
    const ac = new AbortController()
    const { runId, done } = await startDemoAgent({
      baseUrl: server.url,
      speed: 1,
      signal: ac.signal,
    })
    const events: RunEvent[] = []
    for await (const ev of client.follow(runId)) {
      events.push(ev)
      if (ev.type === 'thinking') ac.abort()
    }
    await done
    expect(events.at(-1)).toMatchObject({ type: 'end', data: { status: 'cancelled' } })
    expect((await client.getRun(runId)).status).toBe('cancelled')
  })

  it('uses the run id it is given and refuses to start when the hub is unreachable', async () => {
    const { runId, done } = await startDemoAgent({
      baseUrl: server.url,
      runId: 'demo-fixed-id',
      speed: 200,
    })
    expect(runId).toBe('demo-fixed-id')
    await drive(runId, { human_as_model: '', confirm: true })
    await done
    await expect(startDemoAgent({ baseUrl: 'http://127.0.0.1:1' })).rejects.toMatchObject({
      code: 'unreachable',
    })
  })
})
