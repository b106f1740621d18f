/**
 * `HubOps` on a runbus instance.
 *
 * Runs an HTTP caller acts on by id (append, end) are written straight on the backend
 * contract with the core's codec (`BackendRunOps`): opening a `Run` handle per request
 * would register a handle per request in the instance. Asks created over HTTP go through a
 * `Run` handle (one per run, cached), because only a handle can ask; the hub keeps the
 * ask's wait going (it arms the ask's timeout), and learns the new ask's id from the `ask`
 * event the handle appends.
 */
import type { Runbus } from '../runbus.js'
import type { Run } from '../streams/run.js'
import type { RunEvent } from '../events/envelope.js'
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
  const handles = new Map<string, Run>()
  // Never aborted: an HTTP ask must not expire because a request or the hub went away.
  const forever = new AbortController().signal

  async function handleOf(run: string): Promise<Run> {
    let h = handles.get(run)
    if (!h) {
      h = await rb.runs.open(run)
      handles.set(run, h)
      if (handles.size > 10_000) {
        const oldest = handles.keys().next()
        if (!oldest.done) handles.delete(oldest.value)
      }
    }
    return h
  }

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
      const h = await handleOf(run)
      if (spec.choices !== undefined && !spec.choices.every((c) => typeof c === 'string')) {
        throw new InvalidArgumentError('"choices" must be strings')
      }
      // Learn the ask's id from the event the handle appends for it.
      let seen!: (e: RunEvent) => void
      const asked = new Promise<RunEvent>((r) => (seen = r))
      const appendReserved = h.appendReserved.bind(h)
      const tap = async (type: string, data: unknown): Promise<RunEvent> => {
        const e = await appendReserved(type, data)
        if (type === 'ask') seen(e)
        return e
      }
      const tapped = Object.create(h) as Run
      tapped.appendReserved = tap
      const outcome: Promise<unknown> = tapped.ask({
        kind: spec.kind as AskKind,
        prompt: spec.prompt,
        ...(spec.data !== undefined ? { data: spec.data } : {}),
        ...(spec.choices !== undefined ? { choices: spec.choices } : {}),
        ...(spec.timeout !== undefined ? { timeout: spec.timeout } : {}),
        signal: forever,
      })
      // The outcome reaches whoever follows the run; the hub only keeps the wait armed.
      outcome.catch(() => undefined)
      const e = await Promise.race([asked, outcome.then(() => undefined)])
      if (e === undefined) throw new InvalidArgumentError('the ask ended before it was stored')
      const id = (e.data as { ask: string }).ask
      return wire(await rb.asks.get(id))
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
        asksPending: s.asks,
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
