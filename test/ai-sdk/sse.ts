/** Reading the AI SDK's SSE format the way a client does, frame by frame, with ids. */
import { createParser } from 'eventsource-parser'
import type { UIMessageChunk } from 'ai'

/** One `data:` frame: its `id:` (when sent) and the chunk, or `done` for `[DONE]`. */
export type Frame = { id: string | undefined; chunk: UIMessageChunk } | { done: true }

/**
 * Reads frames from a response body; `stopAfter(frames)` returning true cancels the body
 * there (a cut connection). Resolves with the frames read.
 */
export async function readFrames(
  response: Response,
  stopAfter: (frames: readonly Frame[]) => boolean = () => false,
): Promise<Frame[]> {
  const frames: Frame[] = []
  let stop = false
  const parser = createParser({
    onEvent(e) {
      if (stop) return
      frames.push(e.data === '[DONE]' ? { done: true } : { id: e.id, chunk: JSON.parse(e.data) })
      if (stopAfter(frames)) stop = true
    },
  })
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
  try {
    while (!stop) {
      const r = await reader.read()
      if (r.done) break
      parser.feed(r.value)
    }
  } finally {
    await reader.cancel()
  }
  return frames
}

/** The chunks of frames, without `[DONE]`. */
export function chunksOf(frames: readonly Frame[]): UIMessageChunk[] {
  return frames.flatMap((f) => ('chunk' in f ? [f.chunk] : []))
}

/** A stream of the given chunks (for `readUIMessageStream`). */
export function streamOf(chunks: readonly UIMessageChunk[]): ReadableStream<UIMessageChunk> {
  return new ReadableStream({
    start(c) {
      for (const chunk of chunks) c.enqueue(chunk)
      c.close()
    },
  })
}
