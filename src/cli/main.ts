#!/usr/bin/env node
/**
 * The `runbus` command: `serve`, `tail`, `publish`, `token`, `demo`, `bench`, each with
 * `--help`. Arguments are parsed with `node:util` `parseArgs`; usage mistakes exit 2 with
 * a one-line reason, failures exit 1.
 */
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { RunbusError } from '../events/errors.js'
import { defaultUrl, parseDuration, parsePort, UsageError } from './args.js'
import { bench, demo, processIo, publish, tail, token, type Io } from './commands.js'
import { startServe } from './serve.js'

const HELP: Record<string, string> = {
  main: `runbus — the event backbone for AI-agent applications

Usage: runbus <command> [options]

Commands:
  serve      run the hub (HTTP + SSE) with the demo page
  tail       follow a run until it ends
  publish    append an event to a run
  token      sign a hub token
  demo       start a simulated agent run against a hub and follow it
  bench      run a benchmark (from the source tree)

Run "runbus <command> --help" for a command's options.`,
  serve: `Usage: runbus serve [--port 8787] [--host 127.0.0.1] [--data DIR | --memory | --redis URL | --postgres URL] [--secret S | --insecure]

Runs the hub: the HTTP/SSE protocol of PROTOCOL.md and the demo page at /.

Options:
  --port N        port to listen on (default 8787; 0 picks a free one)
  --host H        address to bind (default 127.0.0.1)
  --data DIR      keep everything in PGlite (embedded Postgres) in DIR (default ./.runbus):
                  runs, pending asks and jobs survive a restart. The default backend.
  --memory        keep everything in memory (gone when the hub stops)
  --redis URL     keep everything in Redis (redis://host:port/db)
  --postgres URL  keep everything in Postgres (postgres://user@host:port/db)
  --prefix P      Redis key prefix (default runbus)
  --schema S      Postgres/PGlite schema (default runbus)
  --secret S      HS256 secret for tokens (default: RUNBUS_SECRET; else a random one,
                  and an admin token is printed)
  --insecure      accept requests without a token (local development only)
  --max-connections N              open requests in all (default 10000; over: 429)
  --max-connections-per-address N  open requests per client address (default 256)
  --max-connections-per-token N    open requests per token subject (default 128)
  --metrics-token T                GET /metrics needs "Authorization: Bearer T" (default: open)
  -h, --help      this help

Stops cleanly on SIGINT / SIGTERM.`,
  tail: `Usage: runbus tail <run> [--url URL] [--token T] [--after ID] [--live] [--json]
                  [--wait-for-run MS]

Follows a run and prints one readable line per event until the run ends; reconnects and
resumes by itself.

Options:
  --url URL       hub URL (default RUNBUS_URL or http://127.0.0.1:8787)
  --token T       token with read scope (default RUNBUS_TOKEN)
  --after ID      start after this event id
  --live          only events from now on
  --json          print each event as a line of JSON
  --wait-for-run MS  start before the run exists: wait up to MS ms for it (default: a
                  run the hub does not know is an error at once)
  -h, --help      this help`,
  publish: `Usage: runbus publish <run> <type> <json> [--url URL] [--token T]

Appends one event to a run and prints its id. <json> is parsed as JSON when it parses,
otherwise taken as a string.

Options:
  --url URL       hub URL (default RUNBUS_URL or http://127.0.0.1:8787)
  --token T       token with write scope (default RUNBUS_TOKEN)
  -h, --help      this help`,
  token: `Usage: runbus token [--run ID]... [--scope read,answer] [--ttl 24h] [--secret S]

Signs a hub token and prints it alone on the last line.

Options:
  --run ID        a run the token may touch (repeat, or comma-separate; default: every run)
  --scope LIST    read, write, answer, admin (comma-separated; default read)
  --ttl T         lifetime: seconds or 90s, 15m, 12h, 7d (default 24h)
  --sub NAME      who the token is for (default cli)
  --secret S      the hub's secret (default RUNBUS_SECRET)
  -h, --help      this help`,
  demo: `Usage: runbus demo [--url URL] [--token T] [--speed N]

Starts a simulated agent run on a hub (it streams tokens, calls tools, asks to approve a
merge and waits for the answer) and follows it here. Answer the ask on the demo page.

Options:
  --url URL       hub URL (default RUNBUS_URL or http://127.0.0.1:8787)
  --token T       token with write scope (default RUNBUS_TOKEN)
  --speed N       pacing factor (1 = watchable, larger = faster)
  -h, --help      this help`,
  bench: `Usage: runbus bench [name] [filter]

Runs bench/<name>.ts (queue, fanout, redis, work, hub, postgres) from the source tree; with no name
lists them.`,
}

const URL_TOKEN = {
  url: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
}

/** Refuses positionals beyond `max` (`token --ttl 3 days` must not mean 3 seconds). */
function noExtra(positionals: string[], max: number, what: string): void {
  if (positionals.length > max)
    throw new UsageError(
      `unexpected ${positionals
        .slice(max)
        .map((p) => JSON.stringify(p))
        .join(
          ' ',
        )} (runbus ${what} takes ${max === 0 ? 'no' : max} positional argument${max === 1 ? '' : 's'})`,
    )
}

/** Runs a parser of an option's text; its refusal is a usage error (exit 2) naming the option. */
function usage_<T>(fn: () => T, option: string): T {
  try {
    return fn()
  } catch (err) {
    throw new UsageError(`${option}: ${err instanceof Error ? err.message : String(err)}`)
  }
}

function need(value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing ${what}`)
  return value
}

/** Runs the CLI with `argv` (without `node` and the script); resolves with the exit code. */
export async function main(
  argv: string[],
  io: Io = processIo(),
  env = process.env,
): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' ? rest[0] : undefined
    io.out(HELP[topic ?? 'main'] ?? HELP.main)
    return 0
  }
  if (command === '--version' || command === '-v') {
    io.out('runbus 0.1.0')
    return 0
  }
  try {
    switch (command) {
      case 'serve': {
        const { values } = parse(rest, {
          port: { type: 'string', default: env.PORT ?? '8787' },
          host: { type: 'string', default: '127.0.0.1' },
          redis: { type: 'string' },
          postgres: { type: 'string' },
          data: { type: 'string' },
          memory: { type: 'boolean', default: false },
          prefix: { type: 'string' },
          schema: { type: 'string' },
          secret: { type: 'string' },
          insecure: { type: 'boolean', default: false },
          'max-connections': { type: 'string' },
          'max-connections-per-address': { type: 'string' },
          'max-connections-per-token': { type: 'string' },
          'metrics-token': { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        })
        if (values.help) return usage(io, 'serve')
        const cap = (name: string, v: string | undefined): number | undefined => {
          if (v === undefined) return undefined
          const n = Number(v)
          if (!Number.isInteger(n) || n < 1)
            throw new UsageError(`--${name} must be a positive integer`)
          return n
        }
        const limits = {
          ...(values['max-connections'] !== undefined
            ? { maxConnections: cap('max-connections', values['max-connections']) }
            : {}),
          ...(values['max-connections-per-address'] !== undefined
            ? {
                maxConnectionsPerAddress: cap(
                  'max-connections-per-address',
                  values['max-connections-per-address'],
                ),
              }
            : {}),
          ...(values['max-connections-per-token'] !== undefined
            ? {
                maxConnectionsPerSubject: cap(
                  'max-connections-per-token',
                  values['max-connections-per-token'],
                ),
              }
            : {}),
        }
        const secret = values.secret ?? (values.insecure ? undefined : env.RUNBUS_SECRET)
        if (values.insecure && values.secret !== undefined) {
          throw new UsageError('give either --secret or --insecure, not both')
        }
        const serving = await startServe({
          port: parsePort(values.port),
          host: values.host,
          ...(values.redis !== undefined ? { redis: values.redis } : {}),
          ...(values.postgres !== undefined ? { postgres: values.postgres } : {}),
          ...(values.data !== undefined ? { data: values.data } : {}),
          ...(values.memory ? { memory: true } : {}),
          ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
          ...(values.schema !== undefined ? { schema: values.schema } : {}),
          ...(secret !== undefined && secret !== '' ? { secret } : {}),
          insecure: values.insecure,
          limits,
          ...(values['metrics-token'] !== undefined
            ? { metricsToken: values['metrics-token'] }
            : {}),
          out: io.out,
          err: io.err,
        })
        await new Promise<void>((resolve) => {
          let stopping = false
          const onSignal = (sig: NodeJS.Signals): void => {
            if (stopping) {
              io.err(`${sig} again: exiting now`)
              process.exit(130)
            }
            stopping = true
            io.err(`${sig}: shutting down (closing streams and the backend)…`)
            serving.close().then(
              () => resolve(),
              (err: unknown) => {
                io.err(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`)
                resolve()
              },
            )
          }
          process.on('SIGINT', onSignal)
          process.on('SIGTERM', onSignal)
        })
        io.err('stopped')
        return 0
      }
      case 'tail': {
        const { values, positionals } = parse(rest, {
          ...URL_TOKEN,
          after: { type: 'string' },
          live: { type: 'boolean', default: false },
          json: { type: 'boolean', default: false },
          'wait-for-run': { type: 'string' },
        })
        if (values.help) return usage(io, 'tail')
        const waitRaw = values['wait-for-run']
        const waitForRun = waitRaw === undefined ? undefined : Number(waitRaw)
        if (waitForRun !== undefined && !(waitForRun >= 0 && Number.isFinite(waitForRun)))
          throw new UsageError('--wait-for-run must be a number of ms, 0 or more')
        noExtra(positionals, 1, 'tail <run>')
        const tok = values.token ?? env.RUNBUS_TOKEN
        return await tail(io, {
          run: need(positionals[0], 'the run id (runbus tail <run>)'),
          url: values.url ?? defaultUrl(env),
          ...(tok ? { token: tok } : {}),
          ...(values.after !== undefined ? { after: values.after } : {}),
          live: values.live,
          json: values.json,
          ...(waitForRun !== undefined ? { waitForRun } : {}),
        })
      }
      case 'publish': {
        const { values, positionals } = parse(rest, URL_TOKEN)
        if (values.help) return usage(io, 'publish')
        if (positionals.length !== 3)
          throw new UsageError('usage: runbus publish <run> <type> <json>')
        const tok = values.token ?? env.RUNBUS_TOKEN
        return await publish(io, {
          run: positionals[0],
          type: positionals[1],
          data: positionals[2],
          url: values.url ?? defaultUrl(env),
          ...(tok ? { token: tok } : {}),
        })
      }
      case 'token': {
        const { values, positionals } = parse(rest, {
          run: { type: 'string', multiple: true },
          scope: { type: 'string', default: 'read' },
          ttl: { type: 'string', default: '24h' },
          sub: { type: 'string' },
          secret: { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        })
        if (values.help) return usage(io, 'token')
        noExtra(positionals, 0, 'token')
        const runs = (values.run ?? [])
          .flatMap((r) => r.split(','))
          .map((r) => r.trim())
          .filter(Boolean)
        return await token(io, {
          secret: values.secret ?? env.RUNBUS_SECRET,
          runs,
          scope: values.scope,
          ttlSeconds: usage_(() => parseDuration(values.ttl), '--ttl'),
          ...(values.sub !== undefined ? { sub: values.sub } : {}),
        })
      }
      case 'demo': {
        const { values, positionals } = parse(rest, { ...URL_TOKEN, speed: { type: 'string' } })
        if (values.help) return usage(io, 'demo')
        noExtra(positionals, 0, 'demo')
        const tok = values.token ?? env.RUNBUS_TOKEN
        const speed = values.speed === undefined ? undefined : Number(values.speed)
        if (speed !== undefined && !(speed > 0))
          throw new UsageError('--speed must be a positive number')
        const ac = new AbortController()
        const onSignal = (): void => ac.abort(new Error('interrupted'))
        process.once('SIGINT', onSignal)
        process.once('SIGTERM', onSignal) // ends the run (cancelled) before exiting
        try {
          return await demo(
            io,
            {
              url: values.url ?? defaultUrl(env),
              ...(tok ? { token: tok } : {}),
              ...(speed !== undefined ? { speed } : {}),
            },
            ac.signal,
          )
        } finally {
          process.off('SIGINT', onSignal)
          process.off('SIGTERM', onSignal)
        }
      }
      case 'bench': {
        if (rest[0] === '--help' || rest[0] === '-h') return usage(io, 'bench')
        return await bench(io, { rest })
      }
      default:
        io.err(`runbus: unknown command ${JSON.stringify(command)}\n`)
        io.err(HELP.main)
        return 2
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`runbus ${command}: ${err.message}`)
      io.err(`(see runbus ${command} --help)`)
      return 2
    }
    if (err instanceof RunbusError) {
      io.err(`runbus ${command}: ${err.message} [${err.code}]`)
      return 1
    }
    io.err(`runbus ${command}: ${err instanceof Error ? err.message : String(err)}`)
    return 1
  }
}

function usage(io: Io, topic: string): number {
  io.out(HELP[topic])
  return 0
}

// Run when executed (not when imported by tests): compare real paths, since npm's bin is a symlink.
function invokedDirectly(): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return pathToFileURL(realpathSync(script)).href === import.meta.url
  } catch {
    return false
  }
}

if (invokedDirectly()) {
  // `runbus tail … | head`: the reader went away; end quietly, as other CLIs do.
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0)
      throw err
    })
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
      // serve: whatever still holds the loop after a clean close must not keep the process up
      if (process.argv[2] === 'serve') setTimeout(() => process.exit(code), 1000).unref()
    },
    (err: unknown) => {
      console.error(err)
      process.exitCode = 1
    },
  )
}
