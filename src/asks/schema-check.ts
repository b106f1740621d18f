/**
 * Where an ask's schema is checked. A schema is a JavaScript object: it lives in the process
 * that asked (or one that re-attached with `rb.asks.wait(id, { schema })`). An answer given
 * in another process (the hub, another service) is checked there by request/response over
 * the bus:
 *
 *   answerer → `runbus.ask.<id>.check`  `{ nonce, value }`
 *   holder   → `runbus.ask.<id>.verdict.<nonce>`  `{ ok: true, value }` | `{ ok: false, issues }`
 *
 * The answerer registers for the verdict (and waits until that is in place) before it sends
 * the request, so the verdict cannot be missed; the holder's subscription is ready before
 * the `ask` event is appended, so anyone who saw the ask can get a verdict. When no holder
 * answers within `verdictTimeoutMs` (the agent is down), the answer is refused with
 * `BackendUnavailableError`: never accepted unchecked. The verdict only checks; the winner is
 * still decided by the key/value store.
 */
import { randomUUID } from 'node:crypto'
import type { BusApi } from '../bus/bus.js'
import type { Subscription } from '../bus/subscription.js'
import {
  BackendUnavailableError,
  TimeoutError,
  ValidationError,
  type ValidationIssue,
} from '../events/errors.js'
import { validate, type StandardSchemaV1 } from '../events/schema.js'

type Verdict = { ok: true; value: unknown } | { ok: false; issues: ValidationIssue[] }

interface Held {
  schema: StandardSchemaV1
  holds: number
  sub: Subscription<{ nonce?: unknown; value?: unknown }>
}

/** Internal: the schemas this instance holds, and checks against anyone's. */
export interface SchemaChecks {
  /** Holds `schema` for `askId` until the returned release is called; resolves once reachable. */
  hold(askId: string, schema: StandardSchemaV1): Promise<() => void>
  /** Checks an answer: here when the schema is held here, else with its holder over the bus. */
  check(askId: string, value: unknown): Promise<unknown>
}

const checkChannel = (askId: string): string => `runbus.ask.${askId}.check`
const what = (askId: string): string => `answer to ask ${askId}`

/** Builds the schema checks of one instance. Internal. */
export function createSchemaChecks(bus: BusApi, verdictTimeoutMs: number): SchemaChecks {
  const held = new Map<string, Held>()

  async function serve(askId: string, h: Held): Promise<void> {
    for await (const msg of h.sub) {
      const nonce = msg.data?.nonce
      if (typeof nonce !== 'string' || !/^[0-9a-f]{32}$/.test(nonce)) continue
      let verdict: Verdict
      try {
        verdict = { ok: true, value: await validate(h.schema, msg.data.value, what(askId)) }
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err
        verdict = { ok: false, issues: [...err.issues].map(plainIssue) }
      }
      await bus.publish(`runbus.ask.${askId}.verdict.${nonce}`, verdict).catch(() => undefined)
    }
  }

  return {
    async hold(askId, schema) {
      let h = held.get(askId)
      if (h === undefined) {
        const sub = bus.subscribe<{ nonce?: unknown; value?: unknown }>(checkChannel(askId))
        const entry: Held = { schema, holds: 0, sub }
        held.set(askId, entry)
        // The loop ends when the subscription is closed (release, or rb.close()).
        serve(askId, entry).catch(() => undefined)
        h = entry
      }
      h.holds++
      const mine = h
      let released = false
      const release = (): void => {
        if (released) return
        released = true
        if (--mine.holds === 0) {
          mine.sub.close()
          if (held.get(askId) === mine) held.delete(askId)
        }
      }
      try {
        await mine.sub.ready
      } catch (err) {
        release()
        throw err
      }
      return release
    },

    async check(askId, value) {
      const h = held.get(askId)
      if (h !== undefined) return validate(h.schema, value, what(askId))
      const nonce = randomUUID().replaceAll('-', '')
      const wait = bus.waitForReady<Verdict>(`runbus.ask.${askId}.verdict.${nonce}`, {
        timeout: verdictTimeoutMs,
      })
      let verdict: Verdict
      try {
        await wait.ready
        await bus.publish(checkChannel(askId), { nonce, value })
        verdict = (await wait.message).data
      } catch (err) {
        wait.cancel(err)
        await wait.message.catch(() => undefined)
        if (err instanceof TimeoutError) {
          throw new BackendUnavailableError(
            `no process holds the schema of ask ${askId} (is its agent running?); the answer was not accepted, retry later`,
            { cause: err },
          )
        }
        throw err
      }
      if (!verdict.ok) throw new ValidationError(verdict.issues, what(askId))
      return verdict.value
    },
  }
}

function plainIssue(issue: ValidationIssue): ValidationIssue {
  const out: ValidationIssue = { message: issue.message }
  if (issue.path !== undefined)
    out.path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))
  return out
}
