/**
 * A clean restart of a UI message from what retention kept.
 *
 * When the chunks a reader asked for were trimmed (`retention.maxEvents` smaller than the
 * message), its stream begins with a `gap`. The reader still holds the message up to where it
 * was (or nothing, after a reload), and the chunks after the gap do not fit onto either: a
 * splice would show the message with its middle missing, and the first retained chunks refer
 * to parts whose start is gone (a `text-delta` of a text part the reader never saw opened
 * fails the AI SDK's stream processing).
 *
 * So the stream starts the message over: a `start` chunk (on a resume, the AI SDK's `Chat`
 * rebuilds the message from empty on the first `start` when its transport says
 * `resumeStreamIsReplay`, which `RunbusChatTransport` and `DefaultChatTransport` do; a fresh
 * `readUIMessageStream` starts from empty anyway), then the retained chunks made consistent
 * by {@link Restart}: a text or reasoning part whose start was trimmed is opened before its
 * first retained delta (it shows what is retained of it), and chunks about a tool call whose
 * beginning was trimmed are left out (the AI SDK cannot attach them to anything). The result
 * is the retained part of the message, each part once.
 *
 * This only works while the reader has received nothing of the message in this stream: a
 * `start` later in a stream does not reset the reader's message. A gap after chunks were
 * delivered (a reader that fell more than `retention.maxEvents` behind) ends the stream with
 * an `error` chunk instead; resuming then (from the position, which is trimmed) restarts.
 */
import type { UIMessageChunk } from 'ai'

/** The `start` chunk that begins a restarted message (no `messageId`: the reader keeps its own). */
export const RESTART_CHUNK: UIMessageChunk = { type: 'start' }

/**
 * Makes the chunks after a gap a consistent message of their own. Feed it every chunk after
 * the restart's `start`, in order; `repair` gives what to send instead of the chunk.
 */
export class Restart {
  /** Text and reasoning parts open at the reader (their start was sent). */
  private readonly text = new Set<string>()
  private readonly reasoning = new Set<string>()
  /** Tool calls whose input is streaming at the reader (`tool-input-start` sent). */
  private readonly streaming = new Set<string>()
  /** Tool calls the reader has a part for. */
  private readonly calls = new Set<string>()
  /** Chunks left out because what they refer to was trimmed. */
  dropped = 0

  /**
   * The chunks to send for `chunk`: itself, itself preceded by the start of its part, or
   * nothing (what it refers to was trimmed). The chunk itself, when sent, is always last.
   */
  repair(chunk: UIMessageChunk): readonly UIMessageChunk[] {
    switch (chunk.type) {
      case 'text-start':
        this.text.add(chunk.id)
        return [chunk]
      case 'text-delta':
        if (this.text.has(chunk.id)) return [chunk]
        this.text.add(chunk.id)
        return [{ type: 'text-start', id: chunk.id }, chunk]
      case 'text-end':
        return this.text.delete(chunk.id) ? [chunk] : this.drop()
      case 'reasoning-start':
        this.reasoning.add(chunk.id)
        return [chunk]
      case 'reasoning-delta':
        if (this.reasoning.has(chunk.id)) return [chunk]
        this.reasoning.add(chunk.id)
        return [{ type: 'reasoning-start', id: chunk.id }, chunk]
      case 'reasoning-end':
        return this.reasoning.delete(chunk.id) ? [chunk] : this.drop()
      case 'finish-step':
        // The AI SDK closes a step's open text and reasoning parts here.
        this.text.clear()
        this.reasoning.clear()
        return [chunk]
      case 'tool-input-start':
        this.streaming.add(chunk.toolCallId)
        this.calls.add(chunk.toolCallId)
        return [chunk]
      case 'tool-input-delta':
        return this.streaming.has(chunk.toolCallId) ? [chunk] : this.drop()
      case 'tool-input-available':
      case 'tool-input-error':
        // Both carry the whole call: the AI SDK creates the part if it has none.
        this.streaming.delete(chunk.toolCallId)
        this.calls.add(chunk.toolCallId)
        return [chunk]
      case 'tool-approval-request':
      case 'tool-output-available':
      case 'tool-output-error':
      case 'tool-output-denied':
        return this.calls.has(chunk.toolCallId) ? [chunk] : this.drop()
      default:
        return [chunk]
    }
  }

  private drop(): readonly UIMessageChunk[] {
    this.dropped++
    return []
  }
}
