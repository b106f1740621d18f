// @ts-check
// The runbus console: a list of runs, one run's transcript (any agent's, rendered from the
// shapes runbus's helpers write), and one "Needs you" list of pending asks across runs.
// Plain ES modules, no build step; type-checked with `tsc -p web` against the client's
// own types. The import map in index.html maps `eventsource-parser`.

import * as auth from './modules/auth.js'
import { askCard } from './modules/ask-cards.js'
import { button, byId, el, errorText, field, statusOf, str, toast } from './modules/dom.js'
import { STATUS_WORD, Transcript } from './modules/transcript.js'

/**
 * @typedef {import('../src/client/index.js').Client} Client
 * @typedef {import('../src/client/index.js').Follow} Follow
 * @typedef {import('../src/client/index.js').RunInfo} RunInfo
 * @typedef {import('../src/client/index.js').AskInfo} AskInfo
 * @typedef {import('./modules/ask-cards.js').PendingAsk} PendingAsk
 */

// The client is served beside the page (from the same build as the hub); its types come
// from the source, so the path is not a literal for the type checker.
const CLIENT_URL = './assets/client/index.js'
const { createClient } = /** @type {typeof import('../src/client/index.js')} */ (
  await import(CLIENT_URL)
)

/** How often the run list, the asks of other runs and the open run's readers are read. */
const POLL_MS = 2500

auth.takeTokenFromUrl()
auth.initTokenForm()

/** @type {Map<string, Client>} */
const clients = new Map()
/** A client using the token for `run` (or the general token for lists). @param {string} [run] */
function clientFor(run) {
  const key = run ?? ''
  let c = clients.get(key)
  if (!c) {
    c = createClient({ baseUrl: location.origin, token: () => auth.tokenFor(run) })
    clients.set(key, c)
  }
  return c
}

/**
 * Runs `call`; a 401 makes the page ask for a token (once) and the call resolve undefined.
 * @template T
 * @param {() => Promise<T>} call
 * @returns {Promise<T | undefined>}
 */
async function guarded(call) {
  if (auth.blocked()) return undefined
  try {
    return await call()
  } catch (err) {
    if (statusOf(err) === 401) {
      needToken()
      return undefined
    }
    throw err
  }
}

function needToken() {
  auth.askForToken(
    auth.hasToken()
      ? 'The hub refused the token this browser holds. Paste another one.'
      : 'This hub needs a token. Paste one (`runbus serve` prints an admin token; `runbus token --run <id>` makes one for a run).',
  )
  setPill('closed', 'Needs a token')
}

// ---- page state ----
const view = {
  /** @type {string | undefined} */
  run: undefined,
  /** @type {Follow | undefined} */
  follow: undefined,
  /** Pending asks of every run we know of, by ask id. @type {Map<string, PendingAsk>} */
  pending: new Map(),
  /** Asks answered from this page, not yet confirmed by the run (kept out of the list). */
  answering: new Set(),
  /** @type {RunInfo[]} */
  runs: [],
  /** The token cannot list runs (it is for some runs only). */
  listForbidden: false,
  ended: false,
}

const transcript = new Transcript(byId('transcript'), {
  onAsk(d) {
    if (view.run === undefined) return
    view.pending.set(d.ask, {
      ask: d.ask,
      run: view.run,
      kind: d.kind,
      prompt: d.prompt,
      ...(d.data !== undefined ? { data: d.data } : {}),
      ...(d.choices !== undefined ? { choices: d.choices } : {}),
      ...(d.schema !== undefined ? { schema: d.schema } : {}),
      ...(d.expiresAt !== undefined ? { expiresAt: d.expiresAt } : {}),
    })
    scheduleNeeds()
  },
  onAskSettled(id) {
    view.pending.delete(id)
    view.answering.delete(id)
    scheduleNeeds()
  },
  onEnd(status) {
    view.ended = true
    setRunStatus(status)
    setPill('closed', STATUS_WORD[status] ?? status)
    for (const [id, a] of view.pending) if (a.run === view.run) view.pending.delete(id)
    scheduleNeeds()
    const r = view.runs.find((x) => x.id === view.run)
    if (r) r.status = /** @type {RunInfo['status']} */ (status)
    renderRuns()
  },
})

// For tests and the curious.
Object.assign(window, { runbusConsole: { view, transcript } })

// ---- connection and run status ----
const STATE_LABEL = /** @type {Record<string, string>} */ ({
  connecting: 'Connecting…',
  connected: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Not connected',
})

/** @param {string} state @param {string} [label] */
function setPill(state, label) {
  byId('conn-pill').dataset.state = state
  byId('conn-label').textContent = label ?? STATE_LABEL[state] ?? state
}

/** @param {string} status */
function setRunStatus(status) {
  const s = byId('run-status')
  s.dataset.status = status
  s.textContent = STATUS_WORD[status] ?? status
  s.hidden = status === 'idle'
  const live = status === 'running'
  for (const id of ['steer-send', 'interrupt', 'steer-text']) button(id).disabled = !live
}

function updateStats() {
  const f = view.follow
  byId('stat-events').textContent = String(transcript.count)
  byId('stat-last').textContent = f?.lastId ?? '–'
  byId('stat-reconnects').textContent = String(f?.reconnects ?? 0)
  byId('stat-dups').textContent = String(f?.duplicatesDropped ?? 0)
  byId('stat-gaps').textContent = String(f?.gaps ?? 0)
}

/** @param {unknown} meta */
function titleOf(meta) {
  const m = /** @type {Record<string, unknown>} */ (meta ?? {})
  return typeof m.title === 'string' ? m.title : undefined
}

/** @param {RunInfo} info */
function showRunInfo(info) {
  const r = info.readers
  byId('stat-readers').textContent =
    r === undefined ? '–' : `${r} ${r === 1 ? 'reader' : 'readers'}`
  if (!view.ended) setRunStatus(info.status)
  const title = titleOf(info.meta)
  byId('run-title').textContent = title ?? info.id
  const m = /** @type {Record<string, unknown>} */ (info.meta ?? {})
  const started = info.createdAt !== undefined ? new Date(info.createdAt) : undefined
  byId('run-meta').textContent = [
    info.id,
    str(m.agent),
    started && !Number.isNaN(started.getTime()) ? `started ${started.toLocaleTimeString()}` : '',
  ]
    .filter(Boolean)
    .join(' · ')
}

async function pollRun() {
  const run = view.run
  if (!run) return
  try {
    const info = await guarded(() => clientFor(run).getRun(run))
    if (info && view.run === run) showRunInfo(info)
  } catch {
    if (view.run === run) byId('stat-readers').textContent = '–'
  }
}

// ---- following a run ----
/** @param {string} [run] */
async function openRun(run) {
  const previous = view.follow
  view.follow = undefined
  if (previous) await previous.close()
  transcript.reset()
  view.run = run || undefined
  view.ended = false
  updateStats()
  byId('empty').hidden = Boolean(run)
  button('drop-conn').disabled = !run
  button('share').disabled = !run
  const url = new URL(location.href)
  if (run) url.searchParams.set('run', run)
  else url.searchParams.delete('run')
  history.replaceState(null, '', url.pathname + url.search + url.hash)
  renderRuns()
  scheduleNeeds()
  if (!run) {
    setPill('closed')
    setRunStatus('idle')
    return
  }
  byId('run-title').textContent = titleOf(view.runs.find((r) => r.id === run)?.meta) ?? run
  byId('run-meta').textContent = run
  setRunStatus('idle')
  if (auth.blocked()) return needToken()
  void pollRun()

  const follow = clientFor(run).follow(run, { backoff: { initialMs: 300, maxMs: 8000 } })
  view.follow = follow
  setPill('connecting')
  follow.on('state', (s) => {
    if (view.follow !== follow || view.ended) return
    const extra =
      s.state === 'reconnecting' && s.delayMs !== undefined
        ? ` (retry in ${(s.delayMs / 1000).toFixed(1)} s)`
        : ''
    setPill(s.state, (STATE_LABEL[s.state] ?? s.state) + extra)
    updateStats()
  })
  follow.on('duplicate', () => updateStats())
  follow.on('gap', (g) => toast(`Lost events ${g.from}–${g.to}: no longer kept`, 'error'))
  try {
    let since = performance.now()
    for await (const ev of follow) {
      if (view.follow !== follow) break
      transcript.push(ev)
      scheduleStats()
      // Catching up on a long run, the events come faster than frames: let the page paint.
      if (performance.now() - since > 40) {
        await new Promise((resolve) => setTimeout(resolve, 0))
        since = performance.now()
      }
    }
    transcript.flush()
    updateStats()
  } catch (err) {
    if (view.follow !== follow) return
    transcript.flush()
    const status = statusOf(err)
    if (status === 401) needToken()
    else if (status === 403) showBanner('This token does not cover this run. Paste one that does.')
    else if (status === 404) showBanner(`There is no run ${run} on this hub.`)
    else showBanner(errorText(err))
    setPill('closed', status === 401 ? 'Needs a token' : 'Not connected')
  }
}

let statsFrame = 0
function scheduleStats() {
  if (statsFrame === 0)
    statsFrame = requestAnimationFrame(() => {
      statsFrame = 0
      updateStats()
    })
}

/** @param {string} text */
function showBanner(text) {
  const b = byId('banner')
  b.hidden = false
  b.textContent = text
}

// ---- the run list ----
function renderRuns() {
  const list = byId('runs')
  const filter = field('run-filter').value
  const q = field('run-search').value.trim().toLowerCase()
  const runs = [...view.runs]
    .filter((r) => filter === 'all' || r.status === filter)
    .filter(
      (r) =>
        !q || r.id.toLowerCase().includes(q) || (titleOf(r.meta) ?? '').toLowerCase().includes(q),
    )
    .sort((a, b) => Number(new Date(b.createdAt ?? 0)) - Number(new Date(a.createdAt ?? 0)))
  const waiting = new Map()
  for (const a of view.pending.values()) waiting.set(a.run, (waiting.get(a.run) ?? 0) + 1)
  list.replaceChildren(
    ...runs.map((r) => {
      const started = r.createdAt !== undefined ? new Date(r.createdAt) : undefined
      const n = waiting.get(r.id) ?? 0
      return el(
        'li',
        {},
        el(
          'a',
          {
            class: 'run-item',
            href: `?run=${encodeURIComponent(r.id)}`,
            'data-run': r.id,
            'aria-current': r.id === view.run ? 'true' : undefined,
            onclick: (e) => {
              e.preventDefault()
              void openRun(r.id)
            },
          },
          el('span', { class: 'run-item-title', text: titleOf(r.meta) ?? r.id }),
          el(
            'span',
            { class: 'run-item-meta' },
            el('span', {
              class: 'run-word',
              'data-status': r.status,
              text: STATUS_WORD[r.status] ?? r.status,
            }),
            n > 0 ? el('span', { class: 'run-needs', text: `${n} waiting` }) : null,
            el('span', {
              text: started && !Number.isNaN(started.getTime()) ? started.toLocaleTimeString() : '',
            }),
          ),
        ),
      )
    }),
  )
  byId('no-runs').hidden = runs.length > 0
  byId('no-runs').textContent = view.listForbidden
    ? 'This token is for one run only, so other runs are not listed.'
    : view.runs.length === 0
      ? 'No runs yet.'
      : 'No run matches.'
}

async function refreshRuns() {
  if (view.listForbidden) return
  try {
    const runs = await guarded(() => clientFor().listRuns())
    if (!runs) return
    view.runs = runs
  } catch (err) {
    if (statusOf(err) === 403) view.listForbidden = true
    else return
  }
  renderRuns()
}

// ---- "Needs you": pending asks of every run ----
let needsFrame = 0
function scheduleNeeds() {
  if (needsFrame === 0)
    needsFrame = requestAnimationFrame(() => {
      needsFrame = 0
      renderNeeds()
    })
}

function renderNeeds() {
  const box = byId('asks')
  const shown = [...view.pending.values()].filter((a) => !view.answering.has(a.ask))
  // The open run's asks first, then the others, oldest run first.
  shown.sort((a, b) => Number(b.run === view.run) - Number(a.run === view.run))
  const count = shown.length
  byId('pending-count').textContent = String(count)
  byId('pending-count').dataset.n = String(count)
  const ids = new Set(shown.map((a) => a.ask))
  for (const card of [...box.querySelectorAll('.ask-card')]) {
    const c = /** @type {HTMLElement} */ (card)
    if (!ids.has(c.dataset.ask ?? '')) c.remove()
  }
  byId('no-asks').hidden = count > 0
  for (const a of shown) {
    if (box.querySelector(`.ask-card[data-ask="${CSS.escape(a.ask)}"]`)) continue
    const runTitle = titleOf(view.runs.find((r) => r.id === a.run)?.meta)
    box.append(
      askCard({ ...a, ...(runTitle ? { runTitle } : {}) }, answer, {
        current: a.run === view.run,
        link: `?run=${encodeURIComponent(a.run)}`,
      }),
    )
  }
  renderRuns()
}

/** @param {PendingAsk} a @param {unknown} value */
async function answer(a, value) {
  try {
    await guarded(() => clientFor(a.run).answer(a.ask, value))
    if (a.run !== view.run)
      view.pending.delete(a.ask) // the open run's stream settles its own
    else view.answering.add(a.ask)
    scheduleNeeds()
  } catch (err) {
    toast(`Could not answer: ${errorText(err)}`, 'error')
    if (statusOf(err) === 409 || statusOf(err) === 410) {
      view.pending.delete(a.ask)
      scheduleNeeds()
      return
    }
    throw err
  }
}

/** The asks of running runs other than the open one (the open one's come in its stream). */
async function refreshOtherAsks() {
  const others = view.runs.filter((r) => r.status === 'running' && r.id !== view.run).slice(0, 50)
  const seen = new Set()
  await Promise.all(
    others.map(async (r) => {
      /** @type {AskInfo[] | undefined} */
      let asks
      try {
        asks = await guarded(() => clientFor(r.id).listAsks(r.id, { state: 'pending' }))
      } catch {
        return
      }
      for (const x of asks ?? []) {
        seen.add(x.id)
        if (view.pending.has(x.id) || x.state !== 'pending') continue
        /** @type {PendingAsk} */
        const a = { ask: x.id, run: r.id, kind: x.kind, prompt: x.prompt }
        if (x.data !== undefined) a.data = x.data
        if (Array.isArray(x.choices)) a.choices = x.choices
        if (x.schema && typeof x.schema === 'object')
          a.schema = /** @type {Record<string, unknown>} */ (x.schema)
        view.pending.set(x.id, a)
      }
    }),
  )
  for (const [id, a] of view.pending)
    if (a.run !== view.run && !seen.has(id)) view.pending.delete(id)
  scheduleNeeds()
}

async function poll() {
  if (document.visibilityState === 'visible' && !auth.blocked()) {
    await refreshRuns()
    await Promise.all([refreshOtherAsks(), pollRun()])
  }
  setTimeout(() => void poll(), POLL_MS)
}

// ---- controls ----
byId('run-filter').addEventListener('change', renderRuns)
byId('run-search').addEventListener('input', renderRuns)

byId('start-demo').addEventListener('click', async () => {
  const btn = button('start-demo')
  btn.disabled = true
  try {
    /** @type {Record<string, string>} */
    const headers = { 'content-type': 'application/json' }
    const t = auth.tokenFor()
    if (t) headers.authorization = `Bearer ${t}`
    const speed = Number(new URLSearchParams(location.search).get('speed')) || undefined
    const res = await fetch(new URL('./demo/runs', location.href), {
      method: 'POST',
      headers,
      body: JSON.stringify(speed ? { speed } : {}),
    })
    /** @type {{ runId?: string, error?: { message?: string, code?: string } }} */
    const body = await res.json().catch(() => ({}))
    if (res.status === 401) return needToken()
    if (!res.ok || !body.runId)
      throw Object.assign(new Error(body.error?.message ?? res.statusText), body.error ?? {})
    byId('banner').hidden = true
    await refreshRuns()
    void openRun(body.runId)
  } catch (err) {
    toast(`Could not start a demo run: ${errorText(err)}`, 'error')
  } finally {
    btn.disabled = false
  }
})

byId('steer-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const input = field('steer-text')
  const text = input.value.trim()
  const run = view.run
  if (!text || !run) return
  try {
    await guarded(() => clientFor(run).send(run, { type: 'steer', data: { text } }))
    input.value = ''
    toast('Note sent to the agent')
  } catch (err) {
    toast(`Could not send: ${errorText(err)}`, 'error')
  }
})

byId('interrupt').addEventListener('click', async () => {
  const run = view.run
  if (!run) return
  try {
    await guarded(() =>
      clientFor(run).send(run, {
        type: 'interrupt',
        data: { reason: 'interrupted from the console' },
      }),
    )
    toast('Interrupt sent')
  } catch (err) {
    toast(`Could not interrupt: ${errorText(err)}`, 'error')
  }
})

byId('drop-conn').addEventListener('click', () => view.follow?.reconnect())

byId('share').addEventListener('click', () => {
  if (!view.run) return
  const link = `${location.origin}${location.pathname}?run=${encodeURIComponent(view.run)}`
  navigator.clipboard?.writeText(link).then(
    () => toast('Link copied: it opens this run for anyone holding a token for it'),
    () => toast(link),
  )
})

auth.onToken(() => {
  byId('banner').hidden = true
  view.listForbidden = false
  void refreshRuns()
  void openRun(view.run)
})

// ---- start ----
setRunStatus('idle')
button('drop-conn').disabled = true
button('share').disabled = true
const initial = new URLSearchParams(location.search).get('run')
void refreshRuns().then(() => {
  if (!initial) renderRuns()
})
if (initial) void openRun(initial)
setTimeout(() => void poll(), POLL_MS)
requestAnimationFrame(() => document.body.classList.add('ready'))
