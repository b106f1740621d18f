// @ts-check
// Tokens for the hub. A link may carry one (`?token=` or `#token=`); it is stored in this
// browser (localStorage, so a link opened in a new tab works too) and removed from the
// address bar. A token scoped to some runs is kept for those runs only, so opening a shared
// run link does not replace the admin token used for everything else. When the hub says 401
// the page asks for a token once and stops every request until one is given: no polling
// with 401s.

const KEY = 'runbus.tokens'

/** @typedef {{ all?: string, runs: Record<string, string> }} Stored */

/** @returns {Stored} */
function load() {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? '{}')
    return { all: typeof v.all === 'string' ? v.all : undefined, runs: v.runs ?? {} }
  } catch {
    return { runs: {} }
  }
}

/** @param {Stored} s */
function save(s) {
  localStorage.setItem(KEY, JSON.stringify(s))
}

/**
 * The run ids a token is for (its `runs` claim), or `undefined` when it is for every run or
 * cannot be read (then it is used for everything, and the hub decides).
 * @param {string} token
 * @returns {string[] | undefined}
 */
export function runsOf(token) {
  try {
    const part = token.split('.')[1] ?? ''
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'))
    const claims = JSON.parse(json)
    const runs = claims?.runs
    if (!Array.isArray(runs) || runs.includes('*')) return undefined
    return runs.filter((r) => typeof r === 'string')
  } catch {
    return undefined
  }
}

/** Keeps a token: for its runs when it names some, for everything otherwise. */
export function keep(/** @type {string} */ token) {
  const s = load()
  const runs = runsOf(token)
  if (runs === undefined) s.all = token
  else for (const r of runs) s.runs[r] = token
  save(s)
}

/**
 * The token to use for `run` (its own, else the general one), or for list calls.
 * @param {string} [run]
 */
export function tokenFor(run) {
  const s = load()
  return (run !== undefined ? s.runs[run] : undefined) ?? s.all
}

/** Whether this browser holds any token at all. */
export function hasToken() {
  const s = load()
  return s.all !== undefined || Object.keys(s.runs).length > 0
}

/** Takes a token from the address bar (query or fragment) and hides it from there. */
export function takeTokenFromUrl() {
  const url = new URL(location.href)
  const hash = new URLSearchParams(url.hash.slice(1))
  const token = url.searchParams.get('token') ?? hash.get('token')
  if (token === null) return
  if (token !== '') keep(token)
  url.searchParams.delete('token')
  hash.delete('token')
  const rest = hash.toString()
  history.replaceState(null, '', url.pathname + url.search + (rest ? `#${rest}` : ''))
}

/** @type {Set<() => void>} */
const listeners = new Set()
let asking = false

/** Whether the page is waiting for a token (every request holds off meanwhile). */
export function blocked() {
  return asking
}

/** Calls `fn` when a new token was given. */
export function onToken(/** @type {() => void} */ fn) {
  listeners.add(fn)
}

/**
 * Asks for a token, once: shows the token form until someone fills it in.
 * @param {string} why
 */
export function askForToken(why) {
  if (asking) return
  asking = true
  const dialog = /** @type {HTMLFormElement} */ (document.getElementById('token-form'))
  const reason = document.getElementById('token-reason')
  if (reason) reason.textContent = why
  dialog.hidden = false
  const input = /** @type {HTMLInputElement} */ (dialog.querySelector('input'))
  input.focus()
}

/** Wires the token form (call once). */
export function initTokenForm() {
  const form = /** @type {HTMLFormElement} */ (document.getElementById('token-form'))
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const input = /** @type {HTMLInputElement} */ (form.querySelector('input'))
    const token = input.value.trim()
    if (!token) return
    keep(token)
    input.value = ''
    form.hidden = true
    asking = false
    for (const fn of listeners) fn()
  })
}
