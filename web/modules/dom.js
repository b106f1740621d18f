// @ts-check
// Small DOM helpers. Event data only ever becomes text (textContent), never HTML.

/**
 * @typedef {{ [attr: string]: string | number | boolean | undefined | null | EventListener }} Attrs
 * @typedef {Node | string | null | undefined | false} Child
 */

/**
 * Creates an element: `class`, `text`, `on<event>` and plain attributes.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs} [attrs]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'class') node.className = String(v)
    else if (k === 'text') node.textContent = String(v)
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v)
    else node.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c)
  return node
}

/**
 * The element with this id (the page's static markup has them all).
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
  const node = document.getElementById(id)
  if (!node) throw new Error(`the page has no #${id}`)
  return node
}

/**
 * The button with this id.
 * @param {string} id
 */
export function button(id) {
  return /** @type {HTMLButtonElement} */ (byId(id))
}

/**
 * The input, select or textarea with this id.
 * @param {string} id
 */
export function field(id) {
  return /** @type {HTMLInputElement} */ (byId(id))
}

/**
 * A short-lived message in the corner.
 * @param {string} message
 * @param {'info' | 'error'} [kind]
 */
export function toast(message, kind = 'info') {
  const t = el('div', { class: `toast toast-${kind}`, role: 'status', text: message })
  byId('toasts').append(t)
  setTimeout(() => t.classList.add('out'), 3800)
  setTimeout(() => t.remove(), 4300)
}

/**
 * An error as one line for a person (with the hub's code when there is one).
 * @param {unknown} err
 */
export function errorText(err) {
  if (err && typeof err === 'object' && 'code' in err && 'message' in err)
    return `${String(err.message)} (${String(err.code)})`
  return err instanceof Error ? err.message : String(err)
}

/**
 * The HTTP status of a hub error, if it has one.
 * @param {unknown} err
 * @returns {number | undefined}
 */
export function statusOf(err) {
  return err && typeof err === 'object' && 'status' in err && typeof err.status === 'number'
    ? err.status
    : undefined
}

/**
 * Any value as readable text: strings as they are, the rest as indented JSON.
 * @param {unknown} value
 */
export function show(value) {
  if (typeof value === 'string') return value
  if (value === undefined) return ''
  try {
    return JSON.stringify(value, null, 2)
  } catch {
    return String(value)
  }
}

/**
 * A value cut to one line of at most `max` characters.
 * @param {unknown} value
 * @param {number} [max]
 */
export function short(value, max = 80) {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))
  const line = text.replace(/\s+/g, ' ')
  return line.length > max ? line.slice(0, max - 1) + '…' : line
}

/**
 * The record `value` is, or an empty one (event data from other agents can be anything).
 * @param {unknown} value
 * @returns {Record<string, unknown>}
 */
export function rec(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? /** @type {Record<string, unknown>} */ (value)
    : {}
}

/**
 * `value` if it is a string, else `undefined`.
 * @param {unknown} value
 */
export function str(value) {
  return typeof value === 'string' ? value : undefined
}
