/**
 * The one SSE reader of the tests, on the protocol's own parser (`SseParser`, the WHATWG
 * rules; chunks may split anywhere), so the tests read streams the way the client does.
 */
import { SseParser, type SseMessage } from '../../src/protocol/framing.js'

export type { SseMessage } from '../../src/protocol/framing.js'

/** The SSE messages in `text` (comments skipped). */
export function parseSse(text: string): SseMessage[] {
  const out: SseMessage[] = []
  new SseParser({ onMessage: (m) => out.push(m) }).feed(text)
  return out
}

/**
 * Reads SSE messages from `body` until it ends, or until `onMessage` returns true (the body
 * is then cancelled: a cut connection). `onComment` hears `: ping` and the like.
 */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onMessage: (m: SseMessage) => boolean | void,
  onComment?: (comment: string) => void,
): Promise<void> {
  let stop = false
  const parser = new SseParser({
    onMessage: (m) => {
      if (!stop && onMessage(m) === true) stop = true
    },
    ...(onComment ? { onComment } : {}),
  })
  const reader = body.getReader()
  try {
    while (!stop) {
      const r = await reader.read()
      if (r.done) break
      parser.feed(r.value)
    }
  } finally {
    await reader.cancel().catch(() => undefined)
  }
}
