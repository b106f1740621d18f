/**
 * The AI SDK's `Chat` without a framework: `AbstractChat` over a plain state that calls
 * `onChange` after every update. The page renders from it; the Node tests drive it directly.
 */
import { AbstractChat, type ChatInit, type ChatState, type ChatStatus, type UIMessage } from 'ai'

class PlainState implements ChatState<UIMessage> {
  status: ChatStatus = 'ready'
  error: Error | undefined = undefined
  messages: UIMessage[]
  constructor(
    messages: UIMessage[],
    private readonly changed: () => void,
  ) {
    this.messages = messages
  }
  pushMessage = (message: UIMessage): void => {
    this.messages = this.messages.concat(message)
    this.changed()
  }
  popMessage = (): void => {
    this.messages = this.messages.slice(0, -1)
    this.changed()
  }
  replaceMessage = (index: number, message: UIMessage): void => {
    this.messages = [...this.messages.slice(0, index), message, ...this.messages.slice(index + 1)]
    this.changed()
  }
  snapshot = <T>(thing: T): T => structuredClone(thing)
}

/** A `Chat` whose every change calls `onChange` (status, messages, error). */
export class PlainChat extends AbstractChat<UIMessage> {
  constructor(init: ChatInit<UIMessage> & { onChange?: () => void }) {
    const { onChange, messages, ...rest } = init
    const state = new PlainState(messages ?? [], () => onChange?.())
    super({ ...rest, state })
    const setStatus = state as { status: ChatStatus }
    let status = setStatus.status
    Object.defineProperty(state, 'status', {
      get: () => status,
      set: (v: ChatStatus) => {
        status = v
        onChange?.()
      },
    })
  }
}
