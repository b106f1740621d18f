/**
 * The draft of an event whose data is plain JSON (frozen, shared with in-process readers):
 * its size is known from the emit's check, its JSON text made only when a backend asks.
 */
import { utf8Length } from '../events/codec.js'
import type { EventDraft } from './contract.js'

/**
 * The draft of an event whose data is plain JSON data, frozen: its JSON text is made on
 * first use of `json` (a backend that stores text: Redis, Postgres) and kept, never for a
 * backend in this process that hands `data` itself to readers (`shared`). `bytes` is the
 * exact UTF-8 length of that text, known from the emit's size check.
 *
 * @internal Made by the run handle; backends see an `EventDraft`.
 * @example
 * ```ts
 * const d = new SharedDraft('text', data, plainJsonBytes(data), Date.now())
 * ```
 */
export class SharedDraft implements EventDraft {
  readonly shared = true
  private text: string | undefined = undefined
  constructor(
    readonly type: string,
    readonly data: unknown,
    /** UTF-8 bytes of `json`. */
    readonly bytes: number,
    /** Set by the run handle when it first sends the draft's batch. */
    public ts: number,
  ) {}

  /** `JSON.stringify(data)`, made on first use. */
  get json(): string {
    return (this.text ??= JSON.stringify(this.data))
  }
}

/**
 * UTF-8 bytes of a draft's JSON text: known without the text for a {@link SharedDraft},
 * measured otherwise.
 *
 * @internal
 * @example
 * ```ts
 * const size = draftBytes(draft) // === Buffer.byteLength(draft.json)
 * ```
 */
export function draftBytes(d: EventDraft): number {
  return d instanceof SharedDraft ? d.bytes : utf8Length(d.json)
}
