// @ts-check
// The "Needs you" cards, one per pending ask, by kind: confirm (yes/no; a diff view only
// when the ask's data carries a diff), text, choice, form (fields from the ask's JSON
// Schema), human_as_model (an instruction to copy, a reply to paste). Unknown kinds get a
// JSON answer box.

import { el, rec, show, str, toast } from './dom.js'
import { KIND_LABEL } from './transcript.js'

/**
 * A pending ask, from the run's `ask` event or the hub's ask list.
 * @typedef {{
 *   ask: string, run: string, kind: string, prompt: string, data?: unknown,
 *   choices?: unknown[], schema?: Record<string, unknown>, expiresAt?: number,
 *   runTitle?: string,
 * }} PendingAsk
 * @typedef {(ask: PendingAsk, value: unknown) => Promise<void>} AnswerFn
 */

/** A diff (unified, or SEARCH/REPLACE blocks) with added and removed lines marked. @param {string} diff */
export function diffView(diff) {
  const pre = el('pre', { class: 'diff', tabindex: '0' })
  let mode = 'plain'
  const lines = diff.split('\n')
  lines.forEach((line, i) => {
    let cls = 'ctx'
    if (line === '<<<<<<< SEARCH') {
      mode = 'search'
      cls = 'marker'
    } else if (line === '=======' && mode === 'search') {
      mode = 'replace'
      cls = 'marker'
    } else if (line === '>>>>>>> REPLACE') {
      mode = 'plain'
      cls = 'marker'
    } else if (mode === 'search') cls = 'del'
    else if (mode === 'replace') cls = 'add'
    else if (line.startsWith('+++') || line.startsWith('---')) cls = 'file'
    else if (line.startsWith('@@')) cls = 'hunk'
    else if (line.startsWith('+')) cls = 'add'
    else if (line.startsWith('-')) cls = 'del'
    else if (lines[i + 1] === '<<<<<<< SEARCH') cls = 'file'
    pre.append(el('span', { class: `dl dl-${cls}`, text: line || ' ' }))
  })
  return pre
}

/** @param {HTMLElement} card @param {boolean} busy */
function setBusy(card, busy) {
  card.classList.toggle('busy', busy)
  for (const c of card.querySelectorAll('button, textarea, input, select'))
    /** @type {HTMLButtonElement} */ (c).disabled = busy
}

/**
 * The context an ask carries, shown above its controls: a diff view when `data.diff` is a
 * string (with its files when listed), else the data as JSON (skipping what the card shows).
 * @param {PendingAsk} a
 */
function context(a) {
  const d = rec(a.data)
  /** @type {Node[]} */
  const out = []
  if (Array.isArray(d.files) && d.files.length > 0) {
    out.push(
      el(
        'ul',
        { class: 'files' },
        ...d.files.map((f) => {
          const file = rec(f)
          return el(
            'li',
            {},
            el('code', { text: str(file.path) ?? show(f) }),
            typeof file.additions === 'number'
              ? el('span', { class: 'plus', text: `+${file.additions}` })
              : null,
            typeof file.deletions === 'number'
              ? el('span', { class: 'minus', text: `−${file.deletions}` })
              : null,
          )
        }),
      ),
    )
  }
  if (typeof d.diff === 'string') out.push(diffView(d.diff))
  const rest = Object.fromEntries(
    Object.entries(d).filter(([k]) => !['diff', 'files', 'format', 'instruction'].includes(k)),
  )
  if (a.data !== undefined && a.data !== null && typeof a.data !== 'object')
    out.push(el('pre', { class: 'ask-data', text: show(a.data) }))
  else if (Object.keys(rest).length > 0)
    out.push(el('pre', { class: 'ask-data', text: show(rest) }))
  return out
}

/**
 * @param {string} text @param {string} action @param {() => void} onclick @param {string} [cls]
 */
function button(text, action, onclick, cls = 'btn') {
  return el('button', { class: cls, type: 'button', 'data-action': action, text, onclick })
}

/**
 * Form fields from a JSON Schema's `properties` (string, number, integer, boolean, enum);
 * anything else is a JSON box for the whole answer.
 * @param {Record<string, unknown>} schema
 * @returns {{ node: HTMLElement, read(): unknown }}
 */
function schemaForm(schema) {
  const props = rec(schema.properties)
  const required = Array.isArray(schema.required) ? schema.required : []
  const names = Object.keys(props)
  if (schema.type !== 'object' || names.length === 0) {
    const box = el('textarea', { class: 'paste', rows: '4', 'aria-label': 'Answer (JSON)' })
    return { node: box, read: () => JSON.parse(box.value) }
  }
  /** @type {Array<() => [string, unknown] | undefined>} */
  const readers = []
  const node = el('div', { class: 'form' })
  for (const name of names) {
    const p = rec(props[name])
    const label = str(p.title) ?? name
    const id = `f-${Math.random().toString(36).slice(2)}`
    /** @type {HTMLInputElement | HTMLSelectElement} */
    let input
    if (Array.isArray(p.enum)) {
      input = el(
        'select',
        { id, name },
        ...p.enum.map((v) => el('option', { value: String(v), text: String(v) })),
      )
      const values = p.enum
      readers.push(() => [name, values[/** @type {HTMLSelectElement} */ (input).selectedIndex]])
    } else if (p.type === 'boolean') {
      input = el('input', { id, name, type: 'checkbox' })
      readers.push(() => [name, /** @type {HTMLInputElement} */ (input).checked])
    } else if (p.type === 'number' || p.type === 'integer') {
      input = el('input', { id, name, type: 'number', step: p.type === 'integer' ? '1' : 'any' })
      readers.push(() => (input.value === '' ? undefined : [name, Number(input.value)]))
    } else {
      input = el('input', { id, name, type: 'text' })
      readers.push(() =>
        input.value === '' && !required.includes(name) ? undefined : [name, input.value],
      )
    }
    node.append(
      el(
        'label',
        { class: 'field', for: id },
        el('span', { text: `${label}${required.includes(name) ? ' *' : ''}` }),
        input,
      ),
    )
  }
  return {
    node,
    read: () =>
      Object.fromEntries(
        readers.map((r) => r()).filter(/** @returns {e is [string, unknown]} */ (e) => !!e),
      ),
  }
}

/**
 * A card for one pending ask.
 * @param {PendingAsk} a @param {AnswerFn} answer @param {{ current: boolean, link: string }} where
 */
export function askCard(a, answer, where) {
  const card = el('article', {
    class: `ask-card ask-${a.kind}`,
    'data-ask': a.ask,
    'data-run': a.run,
  })
  /** @param {unknown} value */
  const send = (value) => {
    setBusy(card, true)
    answer(a, value).catch(() => setBusy(card, false))
  }
  card.append(
    el(
      'div',
      { class: 'ask-card-head' },
      el('span', { class: 'ask-card-kind', text: KIND_LABEL[a.kind] ?? a.kind }),
      where.current
        ? null
        : el('a', { class: 'ask-card-run', href: where.link, text: a.runTitle ?? a.run }),
    ),
    el('p', { class: 'ask-card-prompt', text: a.prompt }),
  )
  const d = rec(a.data)
  if (a.kind === 'confirm') {
    const diff = typeof d.diff === 'string'
    card.append(
      ...context(a),
      el(
        'div',
        { class: 'row' },
        button(diff ? 'Approve' : 'Yes', 'approve', () => send(true), 'btn btn-approve'),
        button(diff ? 'Reject' : 'No', 'reject', () => send(false), 'btn btn-reject'),
      ),
    )
  } else if (a.kind === 'human_as_model') {
    const instruction = str(d.instruction) ?? a.prompt
    const paste = el('textarea', {
      class: 'paste',
      rows: '7',
      placeholder: 'Paste the model’s reply here',
      'aria-label': 'Model reply',
    })
    const copy = el('button', {
      class: 'btn btn-ghost btn-small',
      type: 'button',
      text: 'Copy',
      onclick: () => {
        navigator.clipboard?.writeText(instruction).then(
          () => (copy.textContent = 'Copied'),
          () => toast('Copy failed: select the text instead', 'error'),
        )
      },
    })
    card.append(
      el(
        'div',
        { class: 'instruction' },
        el(
          'div',
          { class: 'instruction-head' },
          el('span', { text: 'Instruction for the model' }),
          copy,
        ),
        el('pre', { text: instruction }),
      ),
      paste,
      el(
        'div',
        { class: 'row' },
        button(
          'Send as the model',
          'send-reply',
          () => {
            if (!paste.value.trim()) return toast('Paste a reply first', 'error')
            send(paste.value)
          },
          'btn btn-primary',
        ),
      ),
    )
  } else if (a.kind === 'choice' && Array.isArray(a.choices)) {
    card.append(
      ...context(a),
      el(
        'div',
        { class: 'row wrap' },
        ...a.choices.map((c) => button(show(c), 'choose', () => send(c))),
      ),
    )
  } else if (a.kind === 'form' && a.schema) {
    const form = schemaForm(a.schema)
    card.append(
      ...context(a),
      form.node,
      el(
        'div',
        { class: 'row' },
        button(
          'Submit',
          'submit',
          () => {
            let value
            try {
              value = form.read()
            } catch {
              return toast('The answer is not valid JSON', 'error')
            }
            send(value)
          },
          'btn btn-primary',
        ),
      ),
    )
  } else {
    const json = a.kind !== 'text'
    const input = el('textarea', {
      class: 'paste',
      rows: '3',
      'aria-label': json ? 'Answer (JSON)' : 'Answer',
      placeholder: json ? 'An answer as JSON' : '',
    })
    card.append(
      ...context(a),
      input,
      el(
        'div',
        { class: 'row' },
        button(
          'Answer',
          'send-text',
          () => {
            if (!json) return send(input.value)
            try {
              send(JSON.parse(input.value))
            } catch {
              toast('The answer is not valid JSON', 'error')
            }
          },
          'btn btn-primary',
        ),
      ),
    )
  }
  return card
}
