/**
 * `HubOps` on a runbus instance.
 *
 * Runs an HTTP caller acts on by id (append, end) are written straight on the backend
 * contract with the core's codec (`BackendRunOps`): opening a `Run` handle per request
 * would register a handle per request in the instance. Asks created over HTTP use
 * `rb.asks.create`, which needs no handle either: it returns the pending ask at once and
 * arms its timeout in the core until the ask is decided, so the hub holds nothing per run
 * or per ask.
 */
import type { Runbus } from '../runbus.js'
import { AskNotFoundError, InvalidArgumentError } from '../events/errors.js'
import type { AskInfo, AskKind } from '../asks/types.js'
import { BackendRunOps, type RunLimits } from './backend-ops.js'
import type { AskSpec, AskWire, CoreStats, HubOps } from './ops.js'

const wire = (a: AskInfo): AskWire => a as unknown as AskWire

/** Builds the hub's operations over `rb`. `workQueues` are summed into the work metrics. */
export function runbusOps(
  rb: Runbus,
  limits: RunLimits,
  workQueues: readonly string[] = [],
): HubOps {
  const runOps = new BackendRunOps(rb.backend, limits)

  async function allAsks(run: string): Promise<AskWire[]> {
    const ids: string[] = []
    let after = 'start'
    for (;;) {
      const page = await rb.runs.read(run, { after, limit: 1000 })
      for (const e of page.events) {
        const d = e.data as { ask?: unknown } | null
        if (e.type === 'ask' && typeof d?.ask === 'string') ids.push(d.ask)
      }
      const last = page.events.at(-1)
      if (!last || page.events.length < 1000) break
      after = last.id
    }
    const out: AskWire[] = []
    for (const id of ids) {
      try {
        out.push(wire(await rb.asks.get(id)))
      } catch (err) {
        if (!(err instanceof AskNotFoundError)) throw err
      }
    }
    return out
  }

  return {
    backend: rb.backend,
    createRun: (id, meta) => runOps.createRun(id, meta),
    getRun: (run) => runOps.getRun(run),
    listRuns: (status, limit) => runOps.listRuns(status, limit),
    append: (run, events) => runOps.append(run, events),
    end: (run, end) => runOps.end(run, end),
    sendInbox: (run, type, data) => rb.runs.send(run, { type, data }),

    async createAsk(run, spec: AskSpec) {
      if (spec.choices !== undefined && !spec.choices.every((c) => typeof c === 'string')) {
        throw new InvalidArgumentError('"choices" must be strings')
      }
      return wire(
        await rb.asks.create(run, {
          kind: spec.kind as AskKind,
          prompt: spec.prompt,
          ...(spec.data !== undefined ? { data: spec.data } : {}),
          ...(spec.choices !== undefined ? { choices: spec.choices } : {}),
          ...(spec.timeout !== undefined ? { timeout: spec.timeout } : {}),
        }),
      )
    },

    getAsk: async (id) => wire(await rb.asks.get(id)),

    async waitAsk(id, ms, signal) {
      try {
        await rb.asks.wait(id, { timeout: ms, signal })
      } catch {
        // timed out, aborted or expired: the ask's state says which
      }
      return wire(await rb.asks.get(id))
    },

    async listAsks(run, pendingOnly) {
      if (pendingOnly) return (await rb.asks.pending({ run })).map(wire)
      return allAsks(run)
    },

    answer: async (id, value, by) =>
      wire(await rb.asks.answer(id, value, by === undefined ? {} : { by })),

    publish: (channel, data) => rb.bus.publish(channel, data),

    async subscribe(pattern, listener) {
      const ac = new AbortController()
      const sub = rb.bus.subscribe(pattern, {
        signal: ac.signal,
        bufferSize: 10_000,
        onInterrupted: (info) => listener.onInterrupted?.(info),
      })
      await sub.ready
      void (async () => {
        try {
          for await (const m of sub) listener.onMessage(m.channel, m.data, m.ts)
        } catch {
          // aborted or closed
        }
      })()
      return () => ac.abort()
    },

    async stats(): Promise<CoreStats> {
      const s = rb.stats()
      const out: CoreStats = {
        runs: s.runs,
        subscribers: s.followers + s.subscriptions,
        queueDrops: s.followerOverflows + s.busDecodeErrors,
        asksPending: s.asks + s.armedAsks,
      }
      if (workQueues.length > 0) {
        let depth = 0
        let redeliveries = 0
        let dead = 0
        for (const q of workQueues) {
          const w = await rb.backend.work.stats(q)
          depth += w.waiting + w.delayed + w.inFlight
          redeliveries += w.redelivered
          dead += w.dead
        }
        out.workDepth = depth
        out.redeliveries = redeliveries
        out.deadLetters = dead
      }
      return out
    },
  }
}
