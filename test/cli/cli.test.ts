/**
 * The `runbus` command, spawned as users run it (`node --import tsx src/cli/main.ts …`).
 */
import { jwtVerify } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { epochTagOfId, eventIdOf, seqOfId } from '../../src/events/envelope.js'
import { Proc, SECRET, run } from './helpers.js'

const procs: Proc[] = []
afterEach(async () => {
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null) {
      p.child.kill('SIGKILL')
      await p.exited
    }
  }
})

describe('runbus CLI', () => {
  it('token prints a verifiable token alone on its last line', async () => {
    const r = run([
      'token',
      '--run',
      'r1',
      '--run',
      'r2,r3',
      '--scope',
      'read,answer',
      '--ttl',
      '2h',
      '--secret',
      SECRET,
    ])
    expect(r.status).toBe(0)
    const last = r.stdout.trim().split('\n').at(-1)!
    const { payload } = await jwtVerify(last, new TextEncoder().encode(SECRET))
    expect(payload).toMatchObject({
      runs: ['r1', 'r2', 'r3'],
      scope: ['read', 'answer'],
      sub: 'cli',
    })
    expect(payload.exp! - payload.iat!).toBe(7200)
    // the secret from the environment, default scope read on every run
    const env = run(['token'], { RUNBUS_SECRET: SECRET })
    expect(env.status).toBe(0)
    const t = await jwtVerify(
      env.stdout.trim().split('\n').at(-1)!,
      new TextEncoder().encode(SECRET),
    )
    expect(t.payload).toMatchObject({ runs: '*', scope: ['read'] })
    // mistakes: exit 2 with a reason
    const none = run(['token'])
    expect(none.status).toBe(2)
    expect(none.stderr).toMatch(/RUNBUS_SECRET/)
    const bad = run(['token', '--scope', 'read,fly', '--secret', SECRET])
    expect(bad.status).not.toBe(0)
    expect(bad.stderr).toMatch(/unknown scope "fly"/)
  })

  it('--help works for every command', () => {
    for (const cmd of [[], ['serve'], ['tail'], ['publish'], ['token'], ['demo'], ['bench']]) {
      const r = run([...cmd, '--help'])
      expect(r.status, cmd.join(' ')).toBe(0)
      expect(r.stdout).toMatch(/Usage: runbus/)
    }
    const unknown = run(['fly'])
    expect(unknown.status).toBe(2)
    expect(unknown.stderr).toMatch(/unknown command "fly"/)
  })

  it('serve without a secret prints an admin token and the demo URL; publish and tail work; SIGTERM stops it', async () => {
    const serve = new Proc(['serve', '--port', '0', '--memory'])
    procs.push(serve)
    await serve.until(() => /admin token[^\n]*\n\S+\n/.test(serve.out), 'admin token')
    const url = serve.url()
    const admin = /admin token[^\n]*\n(\S+)\n/.exec(serve.out)![1]
    expect(serve.out).toContain(`demo page: ${url}/#token=${admin}`)
    expect(serve.out).toMatch(/random secret/)
    const auth = { authorization: `Bearer ${admin}` }
    expect((await fetch(`${url}/v1/runs`, { headers: auth })).status).toBe(200)
    expect((await fetch(`${url}/v1/runs`)).status).toBe(401)
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    expect((await fetch(`${url}/`)).headers.get('content-type')).toMatch(/text\/html/)

    await fetch(`${url}/v1/runs`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ id: 'cli-run' }),
    })
    const env = { RUNBUS_URL: url, RUNBUS_TOKEN: admin }
    const pub = run(['publish', 'cli-run', 'text', '{"text":"hello from the cli"}'], env)
    expect(pub.status).toBe(0)
    // The id of the event: seq 1 of this run (ids carry its incarnation too).
    expect(seqOfId(pub.stdout.trim())).toBe(1)
    expect(epochTagOfId(pub.stdout.trim())).not.toBe('')
    const second = run(['publish', 'cli-run', 'note', 'plain words'], env).stdout.trim()
    expect(second).toBe(eventIdOf(2, epochTagOfId(pub.stdout.trim())))
    const tail = new Proc(['tail', 'cli-run'], env)
    procs.push(tail)
    await tail.until(() => tail.out.includes('plain words'), 'history in tail')
    await fetch(`${url}/v1/runs/cli-run/end`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ status: 'completed' }),
    })
    expect(await tail.exited).toBe(0)
    // tail shows each event's id (what `--after` takes back).
    const tag = epochTagOfId(second)
    expect(tail.out).toContain(`#${pub.stdout.trim()} hello from the cli`)
    expect(tail.out).toContain(`#${second} note plain words`)
    expect(tail.out).toContain(`#${eventIdOf(3, tag)} ■ completed`)

    serve.child.kill('SIGTERM')
    expect(await serve.exited).toBe(0)
    expect(serve.err).toMatch(/shutting down/)
  })

  it('serve: SIGTERM stops a running demo agent, which ends its run before the hub closes', async () => {
    const serve = new Proc(['serve', '--port', '0', '--insecure', '--memory'])
    procs.push(serve)
    await serve.until(() => serve.out.includes('demo page'), 'start')
    const started = await fetch(`${serve.url()}/demo/runs`, {
      method: 'POST',
      body: JSON.stringify({ speed: 0.5 }),
    })
    expect(started.status).toBe(201)
    const { runId } = (await started.json()) as { runId: string }
    // Follow the run over SSE until the hub closes the stream.
    const stream = await fetch(`${serve.url()}/v1/runs/${runId}/events`)
    expect(stream.status).toBe(200)
    const reader = stream.body!.getReader()
    const decoder = new TextDecoder()
    let seen = ''
    const read = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) return
          seen += decoder.decode(value, { stream: true })
        }
      } catch {
        // the connection was cut at shutdown
      }
    })()
    const deadline = Date.now() + 10_000
    while (!seen.includes('event: thinking') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(seen).toContain('event: thinking')
    serve.child.kill('SIGTERM')
    expect(await serve.exited).toBe(0)
    await read
    expect(seen).toMatch(/event: end\n[^]*"status":"cancelled"/)
    expect(serve.out + serve.err).not.toMatch(/unreachable|failed/i)
    expect(serve.err).toMatch(/stopped/)
  })

  it('serve --insecure says so loudly and accepts requests without a token', async () => {
    const serve = new Proc(['serve', '--port', '0', '--insecure', '--memory'])
    procs.push(serve)
    await serve.until(
      () => serve.out.includes('demo page') && /INSECURE/.test(serve.err),
      'insecure start',
    )
    expect(serve.err).toMatch(/WITHOUT A TOKEN/)
    const res = await fetch(`${serve.url()}/v1/runs`, { method: 'POST' })
    expect(res.status).toBe(201)
    serve.child.kill('SIGINT')
    expect(await serve.exited).toBe(0)
  })

  it('serve uses RUNBUS_SECRET: tokens from `runbus token` work against it', async () => {
    const serve = new Proc(['serve', '--port', '0', '--memory'], { RUNBUS_SECRET: SECRET })
    procs.push(serve)
    await serve.until(() => serve.out.includes('demo page'), 'start')
    expect(serve.out).not.toMatch(/random secret/)
    const t = run(['token', '--scope', 'write'], { RUNBUS_SECRET: SECRET })
      .stdout.trim()
      .split('\n')
      .at(-1)!
    const res = await fetch(`${serve.url()}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t}` },
    })
    expect(res.status).toBe(201)
  })
})
