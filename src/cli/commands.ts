/**
 * The client-side commands of `runbus`: `tail`, `publish`, `token`, `demo`, `bench`. Each
 * takes parsed arguments and an output sink, so tests can run them in-process too.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClient } from '../client/index.js'
import type { RunEvent } from '../events/envelope.js'
import { parseScopes, signToken, TokenVerifier } from '../hub/index.js'
import {
  escapeC1,
  escapeControls,
  formatEvent,
  streamText,
  stylesFor,
  type Styles,
} from './format.js'
import { UsageError } from './args.js'
import { startDemoAgent } from './demo-agent.js'

/** Where a command prints. */
export interface Io {
  out: (line: string) => void
  err: (line: string) => void
  /** Raw write for streaming text (no newline added). */
  write: (text: string) => void
  styles: Styles
}

/** The process's own stdout/stderr. */
export function processIo(): Io {
  return {
    out: (l) => process.stdout.write(l + '\n'),
    err: (l) => process.stderr.write(l + '\n'),
    write: (t) => process.stdout.write(t),
    styles: stylesFor(process.stdout),
  }
}

/** `runbus tail <run>`: follows a run until it ends, one readable line per event. */
export async function tail(
  io: Io,
  args: {
    run: string
    url: string
    token?: string
    after?: string
    live?: boolean
    json?: boolean
    /** Wait up to this many ms for a run the hub does not know yet (`--wait-for-run`). */
    waitForRun?: number
  },
  signal?: AbortSignal,
): Promise<number> {
  checkUrl(args.url)
  const client = createClient({ baseUrl: args.url, ...(args.token ? { token: args.token } : {}) })
  // A hub that never answered is a mistake (wrong URL, not started): say so and stop,
  // instead of retrying forever. Once connected, cuts are retried as usual.
  const unreachable = new AbortController()
  const stop = signal ? AbortSignal.any([signal, unreachable.signal]) : unreachable.signal
  let connected = false
  const follow = client.follow(args.run, {
    ...(args.after !== undefined ? { after: args.after } : {}),
    ...(args.live ? { live: true } : {}),
    ...(args.waitForRun !== undefined ? { waitForRun: args.waitForRun } : {}),
    signal: stop,
  })
  follow.on('state', (s) => {
    if (s.state === 'connected') connected = true
    if (s.state === 'reconnecting' && !connected) {
      const cause = s.error instanceof Error ? causeText(s.error) : 'no answer'
      unreachable.abort(new HubUnreachable(`could not reach the hub at ${args.url}: ${cause}`))
    } else if (s.state === 'reconnecting') {
      io.err(
        io.styles.yellow(`… connection lost, reconnecting in ${Math.round(s.delayMs ?? 0)} ms`),
      )
    } else if (s.state === 'connected' && s.reconnects > 0) {
      io.err(io.styles.green(`… reconnected, resuming after ${follow.lastId ?? 'the start'}`))
    }
  })
  let status = 0
  let last: RunEvent | undefined
  // Model text streams on one line per message; any other event starts a new line.
  let streaming: string | undefined
  try {
    for await (const ev of follow) {
      last = ev
      if (args.json) {
        io.out(escapeC1(JSON.stringify(ev)))
        continue
      }
      const raw = streamText(ev)
      const piece = raw === undefined ? undefined : escapeControls(raw, true)
      if (piece !== undefined) {
        const done = (ev.data as { done?: unknown } | null)?.done === true
        if (streaming === ev.type) io.write(ev.type === 'thinking' ? io.styles.dim(piece) : piece)
        else {
          if (streaming !== undefined) io.write('\n')
          io.write(formatEvent(ev, io.styles))
        }
        streaming = ev.type
        if (done) {
          io.write('\n')
          streaming = undefined
        }
        continue
      }
      if (streaming !== undefined) io.write('\n')
      streaming = undefined
      io.out(formatEvent(ev, io.styles))
    }
  } catch (err) {
    if (unreachable.signal.aborted) throw unreachable.signal.reason
    throw err
  }
  if (streaming !== undefined) io.write('\n')
  if (last?.type === 'end') {
    const s = (last.data as { status?: string } | null)?.status
    if (s === 'failed') status = 1
  }
  return status
}

/** The hub at the given URL never answered. */
class HubUnreachable extends Error {}

/** An error's message with its deepest cause's code (fetch's "fetch failed" hides it). */
function causeText(err: Error): string {
  let inner: unknown = err
  let code: string | undefined
  for (let i = 0; i < 5 && inner instanceof Error; i++) {
    const c = (inner as { code?: unknown }).code
    if (typeof c === 'string' && /^E[A-Z]+$/.test(c)) code = `${c}: ${inner.message}`
    inner = (inner as { cause?: unknown }).cause
  }
  return code !== undefined ? `${err.message} [${code}]` : err.message
}

/** Refuses a hub URL that is not an http(s) URL, naming it. */
export function checkUrl(url: string): void {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new UsageError(`${JSON.stringify(url)} is not a URL (e.g. http://127.0.0.1:8787)`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new UsageError(`${JSON.stringify(url)} is not an http(s) URL`)
}

/** Parses the `<json>` of `publish`: JSON when it parses, else the text as a string. */
export function parseData(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

/** `runbus publish <run> <type> <json>`: appends one event, prints its id. */
export async function publish(
  io: Io,
  args: { run: string; type: string; data: string; url: string; token?: string },
): Promise<number> {
  const client = createClient({ baseUrl: args.url, ...(args.token ? { token: args.token } : {}) })
  const ids = await client.append(args.run, { type: args.type, data: parseData(args.data) })
  io.out(ids.join('\n'))
  return 0
}

/** `runbus token`: signs a token with the secret; the token alone on the last line of stdout. */
export async function token(
  io: Io,
  args: {
    secret: string | undefined
    runs: string[]
    scope: string
    ttlSeconds: number
    sub?: string
  },
): Promise<number> {
  if (args.secret === undefined || args.secret === '') {
    throw new UsageError(
      'no secret: give --secret or set RUNBUS_SECRET (the one `runbus serve` uses)',
    )
  }
  if (args.secret.length < 16)
    throw new UsageError('the secret must be at least 16 characters long')
  const scope = parseScopes(args.scope)
  const runs = args.runs.length === 0 || args.runs.includes('*') ? '*' : args.runs
  const t = await signToken(args.secret, {
    scope,
    runs,
    ttlSeconds: args.ttlSeconds,
    sub: args.sub ?? 'cli',
  })
  // Prove it verifies before handing it out.
  await new TokenVerifier(args.secret).verify(t)
  const exp = new Date(Date.now() + args.ttlSeconds * 1000).toISOString()
  io.err(
    io.styles.dim(
      `scope ${scope.join(',')} · runs ${runs === '*' ? '*' : runs.join(',')} · expires ${exp}`,
    ),
  )
  io.out(t)
  return 0
}

/** `runbus demo`: starts the simulated agent against a hub and tails its run to the end. */
export async function demo(
  io: Io,
  args: { url: string; token?: string; speed?: number },
  signal?: AbortSignal,
): Promise<number> {
  const { runId, done } = await startDemoAgent({
    baseUrl: args.url,
    ...(args.token ? { token: args.token } : {}),
    ...(args.speed !== undefined ? { speed: args.speed } : {}),
    ...(signal ? { signal } : {}),
  })
  io.out(io.styles.bold(`demo run ${runId} started on ${args.url}`))
  io.out(io.styles.dim(`open ${args.url}/ to watch it and answer its asks; following it here:`))
  const code = await tail(
    io,
    { run: runId, url: args.url, ...(args.token ? { token: args.token } : {}) },
    signal,
  )
  await done.catch((err: unknown) =>
    io.err(`demo agent: ${err instanceof Error ? err.message : String(err)}`),
  )
  return code
}

/** `runbus bench [name]`: runs a benchmark from the source tree (`bench/run.ts`). */
export async function bench(io: Io, args: { rest: string[] }): Promise<number> {
  const here = dirname(fileURLToPath(import.meta.url))
  const runner = [join(here, '../../bench/run.ts'), join(here, '../../../bench/run.ts')].find((p) =>
    existsSync(p),
  )
  if (!runner) {
    io.err('benchmarks ship with the source repository (bench/), not with the package')
    return 1
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', runner, ...args.rest], {
      stdio: 'inherit',
    })
    child.on('exit', (code) => resolve(code ?? 1))
    child.on('error', (err) => {
      io.err(`could not run the benchmark: ${err.message}`)
      resolve(1)
    })
  })
}
