/** The one test `draft()`: a backend event draft, encoded as the core encodes it. */
import type { EventDraft } from '../../src/contract/contract.js'

/** A backend draft of an event of `type` with `data` (JSON-encoded), at `ts`. */
export function draft(type: string, data: unknown, ts = Date.now()): EventDraft {
  return { type, data, json: JSON.stringify(data), ts }
}
