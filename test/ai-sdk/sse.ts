/** Reading the AI SDK's SSE format the way a client does, frame by frame, with ids. */
import type { UIMessageChunk } from 'ai'
import { readSse } from '../helpers/sse.js'

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
  await readSse(response.body!, (e) => {
    frames.push(
      e.data === '[DONE]'
        ? { done: true }
        : { id: e.id, chunk: JSON.parse(e.data) as UIMessageChunk },
    )
    return stopAfter(frames)
  })
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
