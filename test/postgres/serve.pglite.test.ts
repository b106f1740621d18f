/**
 * `runbus serve` is durable by default (PGlite in a data directory), and a restart keeps
 * what was stored:
 * - SIGKILLed mid-stream and restarted on the same directory: every event whose append was
 *   acknowledged is there, and a reader resumes from its Last-Event-ID;
 * - a pending ask survives and can be answered after the restart.
 * And, on the library, a PGlite data directory reopened keeps runs, pending asks (an answer
 * after the restart resumes an agent that re-attaches with `rb.asks.wait`) and jobs.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createRunbus } from '../../src/index.js'
import { postgresBackend } from '../../src/backends/postgres/index.js'
import { Proc } from '../cli/helpers.js'

const dirs: string[] = []
const procs: Proc[] = []
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'runbus-serve-'))
  dirs.push(d)
  return d
}

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL')
  await Promise.all(procs.map((p) => p.exited))
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

async function serve(dir: string): Promise<{ proc: Proc; url: string }> {
  const proc = new Proc(['serve', '--port', '0', '--insecure', '--data', dir])
  procs.push(proc)
  await proc.until(() => proc.out.includes('demo page'), 'serve to start', 180_000)
  return { proc, url: proc.url() }
}

const post = (url: string, body: unknown) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

/** Reads the run as NDJSON from `lastEventId` until `count` events came (the run stays open). */
async function readFrom(url: string, run: string, lastEventId: string, count: number) {
  const ac = new AbortController()
  const timer = setTimeout(() => ac.abort(), 120_000)
  const res = await fetch(`${url}/v1/runs/${run}/events?format=ndjson`, {
    headers: { 'last-event-id': lastEventId },
    signal: ac.signal,
  })
  expect(res.status).toBe(200)
  const events: Array<{ id: string; seq: number; type: string; data: unknown }> = []
  const reader = res.body!.getReader()
  const dec = new TextDecoder()
  let buf = ''
  try {
    while (events.length < count) {
      const { done, value } = await reader.read()
      if (done) break
      buf += dec.decode(value, { stream: true })
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim()
        buf = buf.slice(nl + 1)
        if (line.startsWith('{')) events.push(JSON.parse(line) as (typeof events)[number])
      }
    }
  } finally {
    clearTimeout(timer)
    ac.abort()
  }
  // A chunk can carry more lines than asked for: the caller gets exactly `count` (or fewer).
  return events.slice(0, count)
}

describe('runbus serve on PGlite (the default)', { timeout: 600_000 }, () => {
  it('SIGKILL mid-stream: every acknowledged event survives; a reader resumes from Last-Event-ID; a pending ask is answered after the restart', async () => {
    const dir = tempDir()
    const first = await serve(dir)
    expect(first.proc.out).toContain(`backend: pglite, data in ${dir}`)
    expect((await post(`${first.url}/v1/runs`, { id: 'crash' })).status).toBe(201)
    const askRes = await post(`${first.url}/v1/runs/crash/asks`, {
      kind: 'confirm',
      prompt: 'Ship it?',
    })
    expect(askRes.status).toBe(201)
    const ask = (await askRes.json()) as { id: string }
    // Batches of 50; each acknowledged one is stored. The last is in flight at the kill.
    let acked = 0
    for (let b = 0; b < 20; b++) {
      const batch = Array.from({ length: 50 }, (_, i) => ({ type: 'n', data: b * 50 + i + 1 }))
      const res = await post(`${first.url}/v1/runs/crash/events`, batch)
      expect(res.status).toBe(201)
      acked += 50
    }
    const inFlight = post(`${first.url}/v1/runs/crash/events`, [{ type: 'n', data: 'maybe' }])
    inFlight.catch(() => undefined)
    first.proc.child.kill('SIGKILL')
    await first.proc.exited

    const second = await serve(dir)
    const info = (await (await fetch(`${second.url}/v1/runs/crash`)).json()) as {
      status: string
      events: number
    }
    expect(info.status).toBe('running')
    // The ask event (seq 1) and every acknowledged event; maybe the one in flight.
    expect(info.events).toBeGreaterThanOrEqual(acked + 1)
    const all = await readFrom(second.url, 'crash', '0', acked + 1)
    expect(all.map((e) => e.seq)).toEqual(Array.from({ length: acked + 1 }, (_, i) => i + 1))
    expect(all.slice(1).map((e) => e.data)).toEqual(Array.from({ length: acked }, (_, i) => i + 1))
    // A reader that had seen up to event 600 resumes right after it.
    const resumed = await readFrom(second.url, 'crash', all[599].id, 10)
    expect(resumed.map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 601 + i))

    const pending = (await (
      await fetch(`${second.url}/v1/runs/crash/asks?state=pending`)
    ).json()) as { asks: Array<{ id: string }> }
    expect(pending.asks.map((a) => a.id)).toEqual([ask.id])
    const answered = await post(`${second.url}/v1/asks/${ask.id}/answer`, { answer: true })
    expect(answered.status).toBe(200)
    expect(await answered.json()).toMatchObject({ state: 'answered', answer: true })

    second.proc.child.kill('SIGTERM')
    expect(await second.proc.exited).toBe(0)
  })

  it('a reopened data directory keeps runs, pending asks (a re-attached agent resumes) and jobs', async () => {
    const dir = join(tempDir(), 'data')
    const b1 = postgresBackend({ pglite: dir })
    const rb1 = createRunbus({ backend: b1 })
    const run = await rb1.runs.create({ id: 'kept' })
    await run.append('step', { n: 1 })
    const a = await rb1.asks.create('kept', { kind: 'text', prompt: 'Name?' })
    await b1.work.add('jobs', [{ id: 'j1', payload: '"one"' }, { payload: '"two"' }])
    await rb1.close()
    await b1.close()

    const b2 = postgresBackend({ pglite: dir })
    const agent = createRunbus({ backend: b2 })
    const human = createRunbus({ backend: b2 })
    expect(await agent.runs.get('kept')).toMatchObject({ status: 'running', events: 2 })
    const waiting = agent.asks.wait(a.id)
    await human.asks.answer(a.id, 'Ada')
    expect(await waiting).toBe('Ada')
    const jobs = await b2.work.claim('jobs', 'c', { max: 10, visibilityMs: 10_000 })
    expect(jobs.map((j) => j.payload)).toEqual(['"one"', '"two"'])
    expect((await b2.work.add('jobs', [{ id: 'j1', payload: 'again' }])).duplicates).toEqual(['j1'])
    await agent.close()
    await human.close()
    await b2.close()
  })
})
