// @ts-check
// Renders one run's events into the transcript, from the shapes runbus's own helpers write
// (`run.text()` → `{ text }`, `run.status()` → `{ status }`, `run.toolCall()` →
// `{ id, name, args }`, `run.toolResult()` → `{ id, result }`, `run.error()` →
// `{ message, name?, code? }`, asks → `{ ask, kind, prompt, … }`). Any other type is shown
// as its type and its data as JSON. Every rendered event carries `data-event-id`, once.
//
// Events are queued and drawn once per animation frame, so a run of 10,000 tokens costs a
// few layouts, not 10,000.

import { el, rec, short, show, str } from './dom.js'

/**
 * @typedef {import('../../src/events/envelope.js').RunEvent} RunEvent
 * @typedef {import('../../src/asks/builtin-events.js').BuiltinEventData} Builtin
 * @typedef {import('../../src/asks/types.js').AskEventData} AskEventData
 * @typedef {{ kind: string, body: HTMLElement, box: HTMLElement }} Block
 * @typedef {{ card: HTMLElement, status: HTMLElement, out: HTMLElement, result: HTMLElement }} ToolCard
 * @typedef {{ card: HTMLElement, state: HTMLElement, kind: string }} AskLine
 * @typedef {{
 *   onAsk(ask: AskEventData): void,
 *   onAskSettled(askId: string): void,
 *   onEnd(status: string, error: string | undefined): void,
 * }} TranscriptHooks
 */

/** What people call each kind of ask. */
export const KIND_LABEL = /** @type {Record<string, string>} */ ({
  confirm: 'Confirm',
  text: 'Question',
  choice: 'Choose',
  form: 'Form',
  human_as_model: 'You are the model',
})

/** The one word shown for a run in each state. */
export const STATUS_WORD = /** @type {Record<string, string>} */ ({
  running: 'running',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
})

/**
 * Tool results from other agents take many shapes: `{ result }` (runbus), `{ output }`…
 * @param {Record<string, unknown>} d
 */
function resultOf(d) {
  if ('result' in d) return d.result
  if ('output' in d) return d.output
  return d
}

/** @param {unknown} args */
function argSummary(args) {
  const a = rec(args)
  if (typeof a.path === 'string') return a.path
  const files = a.files ?? a.paths
  if (Array.isArray(files)) return files.join(', ')
  if (args === null || args === undefined) return ''
  return short(args, 90)
}

/** @param {unknown} answer @param {string | undefined} kind */
export function answerLabel(answer, kind) {
  if (kind === 'confirm' || typeof answer === 'boolean') {
    if (answer === true) return 'Yes'
    if (answer === false) return 'No'
  }
  if (kind === 'human_as_model' && typeof answer === 'string') {
    const lines = answer.split('\n').length
    return `reply pasted (${lines} ${lines === 1 ? 'line' : 'lines'})`
  }
  return short(answer, 60)
}

export class Transcript {
  /** @param {HTMLElement} root @param {TranscriptHooks} hooks */
  constructor(root, hooks) {
    this.root = root
    this.hooks = hooks
    /** @type {Block | undefined} */
    this.block = undefined
    /** @type {Map<string, ToolCard>} */
    this.tools = new Map()
    /** @type {Map<string, AskLine>} */
    this.asks = new Map()
    /** @type {RunEvent[]} */
    this.queue = []
    this.frame = 0
    this.count = 0
    this.ended = false
    /** Follow the bottom while the reader is there; stop when they scroll up to read. */
    this.stick = true
    root.addEventListener('scroll', () => {
      this.stick = root.scrollHeight - root.scrollTop - root.clientHeight < 80
    })
  }

  /** Forgets everything (another run is opened). */
  reset() {
    cancelAnimationFrame(this.frame)
    this.frame = 0
    this.queue = []
    this.root.replaceChildren()
    this.block = undefined
    this.tools.clear()
    this.asks.clear()
    this.count = 0
    this.ended = false
    this.stick = true
  }

  /** Queues an event; it is drawn on the next animation frame. @param {RunEvent} ev */
  push(ev) {
    this.queue.push(ev)
    this.count++
    if (this.frame === 0) this.frame = requestAnimationFrame(() => this.flush())
  }

  /** Draws every queued event now. */
  flush() {
    this.frame = 0
    const queue = this.queue
    this.queue = []
    for (const ev of queue) this.render(ev)
    if (this.stick) this.root.scrollTop = this.root.scrollHeight
  }

  /** @param {Node} node */
  add(node) {
    this.root.append(node)
  }

  /** @param {RunEvent} ev */
  render(ev) {
    const d = rec(ev.data)
    if (ev.type !== 'text' && ev.type !== 'thinking') this.closeBlock()
    switch (ev.type) {
      case 'text':
      case 'thinking':
        return this.token(ev, d)
      case 'status':
        return this.add(
          el(
            'div',
            { class: 'divider', 'data-event-id': ev.id },
            el('span', { text: str(d.status) ?? str(d.message) ?? str(d.phase) ?? show(ev.data) }),
          ),
        )
      case 'tool_call':
        return this.toolCall(ev, d)
      case 'tool_result':
        return this.toolResult(ev, d)
      case 'error':
        return this.add(
          el('div', {
            class: 'log log-error',
            'data-event-id': ev.id,
            text: `${str(d.name) ?? 'Error'}${str(d.code) ? ` (${str(d.code)})` : ''}: ${str(d.message) ?? show(ev.data)}`,
          }),
        )
      case 'log':
        if (typeof d.message === 'string')
          return this.add(
            el('div', {
              class: `log log-${str(d.level) ?? 'info'}`,
              'data-event-id': ev.id,
              text: d.message,
            }),
          )
        return this.json(ev)
      case 'ask':
        return this.ask(ev, /** @type {AskEventData} */ (/** @type {unknown} */ (d)))
      case 'answer': {
        const line = this.asks.get(String(d.ask))
        // The answerer's own label first, then who the token says it was.
        const by =
          str(d.label) && str(d.by) ? `${str(d.label)} (${str(d.by)})` : str(d.label) || str(d.by)
        const label = answerLabel(d.answer, line?.kind)
        return this.settle(ev, String(d.ask), 'answered', label, by)
      }
      case 'ask_expired':
        return this.settle(
          ev,
          String(d.ask),
          'expired',
          `expired (${str(d.reason) ?? 'no reason'})`,
        )
      case 'gap':
        return this.add(
          el('div', {
            class: 'gap',
            'data-event-id': ev.id,
            text: `Events ${String(d.from)}–${String(d.to)} are no longer kept by the hub.`,
          }),
        )
      case 'end':
        return this.end(ev, d)
      default:
        return this.json(ev)
    }
  }

  /** @param {RunEvent} ev */
  json(ev) {
    this.add(
      el(
        'div',
        { class: 'event', 'data-event-id': ev.id },
        el('code', { text: ev.type }),
        ev.data === null || ev.data === undefined ? null : el('pre', { text: show(ev.data) }),
      ),
    )
  }

  closeBlock() {
    if (this.block) this.block.box.classList.remove('streaming')
    this.block = undefined
  }

  /** @param {RunEvent} ev @param {Record<string, unknown>} d */
  token(ev, d) {
    const kind = ev.type
    if (!this.block || this.block.kind !== kind) {
      this.closeBlock()
      /** @type {HTMLElement} */
      let body
      /** @type {HTMLElement} */
      let box
      if (kind === 'thinking') {
        body = el('div', { class: 'thought' })
        box = el(
          'details',
          { class: 'msg msg-thinking streaming', open: true },
          el('summary', {}, el('span', { class: 'spark', 'aria-hidden': 'true' }), 'Thinking'),
          body,
        )
      } else {
        body = el('div', { class: 'bubble' })
        box = el(
          'div',
          { class: 'msg msg-text streaming' },
          el('div', { class: 'avatar', 'aria-hidden': 'true', text: 'A' }),
          body,
        )
      }
      this.block = { kind, body, box }
      this.add(box)
    }
    // `{ text }` is what run.text()/run.thinking() write; `{ delta }` is common elsewhere.
    const text = str(d.text) ?? str(d.delta) ?? (typeof ev.data === 'string' ? ev.data : '')
    this.block.body.append(el('span', { 'data-event-id': ev.id, class: 'tok', text }))
  }

  /** @param {RunEvent} ev @param {Record<string, unknown>} d */
  toolCall(ev, d) {
    const out = el('pre', { class: 'tool-out' })
    const status = el('span', { class: 'tool-status', text: 'running' })
    const result = el('div', { class: 'tool-result', hidden: true }, out)
    const name = str(d.name) ?? 'tool'
    const card = el(
      'div',
      { class: 'tool', 'data-state': 'running', 'data-event-id': ev.id },
      el(
        'div',
        { class: 'tool-head' },
        el('span', { class: 'tool-icon', 'aria-hidden': 'true', text: '⚙' }),
        el('span', { class: 'tool-name', text: name }),
        el('code', { class: 'tool-args', text: argSummary(d.args) }),
        status,
      ),
      result,
    )
    const args = d.args
    if (args !== null && args !== undefined && typeof args === 'object') {
      card.title = show(args)
    }
    this.tools.set(String(d.id), { card, out, status, result })
    this.add(card)
  }

  /** @param {RunEvent} ev @param {Record<string, unknown>} d */
  toolResult(ev, d) {
    const t = this.tools.get(String(d.id))
    const value = resultOf(d)
    const failed = d.ok === false || d.isError === true || d.error !== undefined
    if (!t) {
      return this.add(
        el(
          'div',
          { class: 'event', 'data-event-id': ev.id },
          el('code', { text: `tool_result ${String(d.id)}` }),
          el('pre', { text: show(value) }),
        ),
      )
    }
    t.result.hidden = false
    t.result.setAttribute('data-event-id', ev.id)
    t.out.textContent = show(d.error !== undefined && value === d ? d.error : value)
    t.card.dataset.state = failed ? 'failed' : 'ok'
    const ms = typeof d.ms === 'number' ? ` · ${d.ms} ms` : ''
    t.status.textContent = `${failed ? 'failed' : 'done'}${ms}`
    this.tools.delete(String(d.id))
  }

  /** @param {RunEvent} ev @param {AskEventData} d */
  ask(ev, d) {
    const state = el('span', { class: 'ask-state', text: 'waiting for an answer' })
    const card = el(
      'div',
      { class: 'ask-inline', 'data-event-id': ev.id, 'data-state': 'pending', 'data-ask': d.ask },
      el('span', { class: 'ask-kind', text: KIND_LABEL[d.kind] ?? d.kind }),
      el('span', { class: 'ask-prompt', text: d.prompt }),
      state,
    )
    this.asks.set(d.ask, { card, state, kind: d.kind })
    this.add(card)
    this.hooks.onAsk(d)
  }

  /**
   * @param {RunEvent} ev @param {string} askId @param {'answered' | 'expired'} state
   * @param {string} label @param {string} [by]
   */
  settle(ev, askId, state, label, by) {
    const line = this.asks.get(askId)
    const text = state === 'answered' ? `answered: ${label}${by ? ` (by ${by})` : ''}` : label
    if (line) {
      line.card.dataset.state = state
      line.state.textContent = text
    }
    const when = new Date(ev.ts).toLocaleTimeString()
    this.add(
      el('div', {
        class: `note note-${state}`,
        'data-event-id': ev.id,
        text: `↳ ${text} at ${when}`,
      }),
    )
    this.asks.delete(askId)
    this.hooks.onAskSettled(askId)
  }

  /** @param {RunEvent} ev @param {Record<string, unknown>} d */
  end(ev, d) {
    const status = str(d.status) ?? 'completed'
    const error = str(d.error)
    this.finish(status)
    this.add(
      el('div', {
        class: `end end-${status}`,
        'data-event-id': ev.id,
        text: `Run ${STATUS_WORD[status] ?? status}${error ? `: ${error}` : ''}`,
      }),
    )
    this.hooks.onEnd(status, error)
  }

  /**
   * The run is over: nothing still looks alive. Tools without a result and asks without an
   * answer say what became of them.
   * @param {string} status
   */
  finish(status) {
    this.ended = true
    this.closeBlock()
    const why = status === 'completed' ? 'no result' : `run ${STATUS_WORD[status] ?? status}`
    for (const t of this.tools.values()) {
      t.card.dataset.state = 'stopped'
      t.status.textContent = why
    }
    this.tools.clear()
    for (const [id, a] of this.asks) {
      a.card.dataset.state = 'expired'
      a.state.textContent = `not answered: run ${STATUS_WORD[status] ?? status}`
      this.hooks.onAskSettled(id)
    }
    this.asks.clear()
  }
}
