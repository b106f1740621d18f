// The runbus demo page: follows one run through `runbus/client` (which resumes from the
// last id and drops duplicates by itself), renders every event exactly once (each rendered
// event carries `data-event-id`), and lets a person answer asks, steer and interrupt.
// Plain ES modules, no build step; the import map in index.html maps `eventsource-parser`.
import { createClient } from './assets/client/index.js'

const TOKEN_KEY = 'runbus.token'
const $ = (id) => document.getElementById(id)

// ---- token: from ?token= once, then sessionStorage; never left in the URL ----
const params = new URLSearchParams(location.search)
if (params.has('token')) {
  sessionStorage.setItem(TOKEN_KEY, params.get('token') ?? '')
  params.delete('token')
  history.replaceState(null, '', urlWith(params))
}
const token = () => sessionStorage.getItem(TOKEN_KEY) || undefined
const client = createClient({ baseUrl: location.origin, token })

function urlWith(p) {
  const qs = p.toString()
  return location.pathname + (qs ? `?${qs}` : '') + location.hash
}

// ---- small DOM helpers (text only: event data never becomes HTML) ----
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'class') node.className = v
    else if (k === 'text') node.textContent = v
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v)
    else node.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c)
  return node
}

function toast(message, kind = 'info') {
  const t = el('div', { class: `toast toast-${kind}`, role: 'status', text: message })
  $('toasts').append(t)
  setTimeout(() => t.classList.add('out'), 3800)
  setTimeout(() => t.remove(), 4300)
}

function errorText(err) {
  if (err && typeof err === 'object' && 'code' in err) return `${err.message} (${err.code})`
  return err instanceof Error ? err.message : String(err)
}

// ---- page state ----
const view = {
  run: undefined,
  follow: undefined,
  /** askId -> { data, inline } */
  pending: new Map(),
  /** tool call id -> card */
  tools: new Map(),
  /** askId -> inline card in the transcript */
  askCards: new Map(),
  block: undefined,
  events: 0,
  readersTimer: undefined,
  ended: false,
}
// For tests and the curious: the live follow and its counters.
window.runbusDemo = view

const transcript = $('transcript')

// Follow the bottom while the reader is there; stop when they scroll up to read.
let stick = true
transcript.addEventListener('scroll', () => {
  stick = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80
})

function keepBottom() {
  if (stick) transcript.scrollTop = transcript.scrollHeight
}

function add(node) {
  transcript.append(node)
  keepBottom()
}

// ---- rendering, one element per event ----
const KIND_LABEL = {
  confirm: 'Approve merge',
  human_as_model: 'You are the model',
  text: 'Question',
  choice: 'Choose',
  form: 'Form',
}

function render(ev) {
  view.events++
  const d = ev.data ?? {}
  switch (ev.type) {
    case 'thinking':
    case 'text':
      return renderToken(ev, d)
    case 'tool_call':
      view.block = undefined
      return renderToolCall(ev, d)
    case 'tool_result':
      return renderToolResult(ev, d)
    case 'status':
      view.block = undefined
      return add(
        el(
          'div',
          { class: `divider phase-${d.phase ?? 'info'}`, 'data-event-id': ev.id },
          el('span', { text: d.message ?? d.phase ?? 'status' }),
        ),
      )
    case 'ask':
      view.block = undefined
      return renderAsk(ev, d)
    case 'answer':
      return renderAnswer(ev, d)
    case 'ask_expired':
      return settleAsk(ev, d.ask, 'expired', `Expired (${d.reason ?? 'no reason'})`)
    case 'log':
      view.block = undefined
      return add(
        el('div', {
          class: `log log-${d.level ?? 'info'}`,
          'data-event-id': ev.id,
          text: d.message,
        }),
      )
    case 'gap':
      view.block = undefined
      return add(
        el('div', {
          class: 'gap',
          'data-event-id': ev.id,
          text: `Events ${d.from}–${d.to} are no longer retained by the hub.`,
        }),
      )
    case 'end':
      view.block = undefined
      return renderEnd(ev, d)
    default:
      view.block = undefined
      return add(
        el(
          'div',
          { class: 'event', 'data-event-id': ev.id },
          el('code', { text: ev.type }),
          el('pre', { text: JSON.stringify(ev.data, null, 2) }),
        ),
      )
  }
}

function renderToken(ev, d) {
  const kind = ev.type
  if (!view.block || view.block.kind !== kind || view.block.closed) {
    if (kind === 'thinking') {
      const body = el('div', { class: 'thought' })
      const box = el(
        'details',
        { class: 'msg msg-thinking', open: true },
        el('summary', {}, el('span', { class: 'spark', 'aria-hidden': 'true' }), 'Thinking'),
        body,
      )
      view.block = { kind, body, box, closed: false }
      add(box)
    } else {
      const body = el('div', { class: 'bubble' })
      const box = el(
        'div',
        { class: 'msg msg-text' },
        el('div', { class: 'avatar', 'aria-hidden': 'true', text: 'A' }),
        body,
      )
      view.block = { kind, body, box, closed: false }
      add(box)
    }
  }
  const span = el('span', { 'data-event-id': ev.id, class: 'tok', text: d.delta ?? '' })
  view.block.body.append(span)
  view.block.box.classList.toggle('streaming', !d.done)
  if (d.done) view.block.closed = true
  keepBottom()
}

// Static, trusted markup (feather-style icons); event data never goes through innerHTML.
const TOOL_ICON = {
  read_file:
    '<path d="M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z"/><polyline points="14 2 14 8 20 8"/><line x1="8" y1="13" x2="16" y2="13"/><line x1="8" y1="17" x2="13" y2="17"/>',
  run_tests:
    '<polyline points="9 11 12 14 22 4"/><path d="M21 12v7a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h11"/>',
  apply_patch:
    '<circle cx="18" cy="18" r="3"/><circle cx="6" cy="6" r="3"/><path d="M6 21V9a9 9 0 0 0 9 9"/>',
  git_checkout: '<polyline points="1 4 1 10 7 10"/><path d="M3.51 15a9 9 0 1 0 2.13-9.36L1 10"/>',
  tool: '<path d="M14.7 6.3a1 1 0 0 0 0 1.4l1.6 1.6a1 1 0 0 0 1.4 0l3.77-3.77a6 6 0 0 1-7.94 7.94l-6.91 6.91a2.12 2.12 0 0 1-3-3l6.91-6.91a6 6 0 0 1 7.94-7.94l-3.76 3.76z"/>',
}

function toolIcon(name) {
  const span = el('span', { class: 'tool-icon', 'aria-hidden': 'true' })
  span.innerHTML = `<svg viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">${TOOL_ICON[name] ?? TOOL_ICON.tool}</svg>`
  return span
}

function argSummary(args) {
  if (!args || typeof args !== 'object') return ''
  if (typeof args.path === 'string') return args.path
  const files = args.files ?? args.paths
  if (Array.isArray(files)) return files.join(', ')
  return JSON.stringify(args)
}

function renderToolCall(ev, d) {
  const out = el('pre', { class: 'tool-out' })
  const status = el('span', { class: 'tool-status', text: 'running' })
  const result = el('div', { class: 'tool-result', hidden: true }, out)
  const card = el(
    'div',
    { class: 'tool', 'data-state': 'running', 'data-event-id': ev.id },
    el(
      'div',
      { class: 'tool-head' },
      toolIcon(d.name),
      el('span', { class: 'tool-name', text: d.name ?? 'tool' }),
      el('code', { class: 'tool-args', text: argSummary(d.args) }),
      status,
    ),
    result,
  )
  view.tools.set(d.id, { card, out, status, result })
  add(card)
}

function renderToolResult(ev, d) {
  const t = view.tools.get(d.id)
  if (!t) {
    view.block = undefined
    return add(
      el('div', { class: 'event', 'data-event-id': ev.id, text: `${d.name}: ${d.output}` }),
    )
  }
  t.result.hidden = false
  t.result.setAttribute('data-event-id', ev.id)
  t.out.textContent = typeof d.output === 'string' ? d.output : JSON.stringify(d.output, null, 2)
  t.card.dataset.state = d.ok === false ? 'failed' : 'ok'
  t.status.textContent = `${d.ok === false ? 'failed' : 'done'}${d.ms !== undefined ? ` · ${d.ms} ms` : ''}`
  keepBottom()
}

function renderAsk(ev, d) {
  const state = el('span', { class: 'ask-state', text: 'waiting for you' })
  const card = el(
    'div',
    { class: 'ask-inline', 'data-event-id': ev.id, 'data-state': 'pending' },
    el('span', { class: 'ask-kind', text: KIND_LABEL[d.kind] ?? d.kind }),
    el('span', { class: 'ask-prompt', text: d.prompt }),
    state,
  )
  view.askCards.set(d.ask, { card, state, kind: d.kind })
  add(card)
  view.pending.set(d.ask, d)
  renderPending()
}

function answerLabel(kind, answer) {
  if (kind === 'confirm') return answer === true ? 'Approved' : 'Rejected'
  if (kind === 'human_as_model' && typeof answer === 'string') {
    const lines = answer.split('\n').length
    return `Reply pasted (${lines} ${lines === 1 ? 'line' : 'lines'})`
  }
  const text = typeof answer === 'string' ? answer : JSON.stringify(answer)
  return `Answered: ${text.length > 60 ? text.slice(0, 57) + '…' : text}`
}

function renderAnswer(ev, d) {
  const info = view.askCards.get(d.ask)
  const when = new Date(ev.ts).toLocaleTimeString()
  const note = `↳ answered at ${when}`
  settleAsk(ev, d.ask, 'answered', answerLabel(info?.kind, d.answer), note, d.answer)
}

function settleAsk(ev, askId, state, label, note = `↳ ${label}`, answer = undefined) {
  view.block = undefined
  const info = view.askCards.get(askId)
  if (info) {
    info.card.dataset.state = state === 'answered' && answer === false ? 'rejected' : state
    info.state.textContent = label
  }
  add(el('div', { class: `note note-${state}`, 'data-event-id': ev.id, text: note }))
  view.pending.delete(askId)
  renderPending()
}

function renderEnd(ev, d) {
  view.ended = true
  const text =
    d.status === 'completed'
      ? 'Run completed'
      : d.status === 'cancelled'
        ? `Run cancelled${d.error ? `: ${d.error}` : ''}`
        : `Run failed${d.error ? `: ${d.error}` : ''}`
  add(el('div', { class: `end end-${d.status}`, 'data-event-id': ev.id, text }))
  setRunStatus(d.status)
  $('drop-conn').disabled = true
  view.pending.clear()
  renderPending()
  void refreshRuns()
}

// ---- the "Needs you" panel ----
function diffView(diff) {
  const pre = el('pre', { class: 'diff', tabindex: '0' })
  let mode = 'plain'
  const lines = String(diff).split('\n')
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

function renderPending() {
  const box = $('asks')
  const count = view.pending.size
  $('pending-count').textContent = String(count)
  $('pending-count').dataset.n = String(count)
  for (const card of [...box.querySelectorAll('.ask-card')]) {
    if (!view.pending.has(card.dataset.ask)) card.remove()
  }
  $('no-asks').hidden = count > 0
  for (const [id, d] of view.pending) {
    if (box.querySelector(`.ask-card[data-ask="${CSS.escape(id)}"]`)) continue
    box.append(askCard(id, d))
  }
}

async function answer(id, value, card) {
  for (const b of card.querySelectorAll('button, textarea')) b.disabled = true
  card.classList.add('busy')
  try {
    await client.answer(id, value)
  } catch (err) {
    card.classList.remove('busy')
    for (const b of card.querySelectorAll('button, textarea')) b.disabled = false
    toast(`Could not answer: ${errorText(err)}`, 'error')
  }
}

function askCard(id, d) {
  const card = el('article', { class: `ask-card ask-${d.kind}`, 'data-ask': id })
  card.append(
    el('div', { class: 'ask-card-kind', text: KIND_LABEL[d.kind] ?? d.kind }),
    el('p', { class: 'ask-card-prompt', text: d.prompt }),
  )
  const data = d.data ?? {}
  if (d.kind === 'confirm') {
    if (Array.isArray(data.files) && data.files.length > 0) {
      card.append(
        el(
          'ul',
          { class: 'files' },
          ...data.files.map((f) =>
            el(
              'li',
              {},
              el('code', { text: f.path }),
              el('span', { class: 'plus', text: `+${f.additions ?? 0}` }),
              el('span', { class: 'minus', text: `−${f.deletions ?? 0}` }),
            ),
          ),
        ),
      )
    }
    if (data.diff) card.append(diffView(data.diff))
    card.append(
      el(
        'div',
        { class: 'row' },
        el('button', {
          class: 'btn btn-approve',
          type: 'button',
          'data-action': 'approve',
          text: 'Approve & merge',
          onclick: () => answer(id, true, card),
        }),
        el('button', {
          class: 'btn btn-reject',
          type: 'button',
          'data-action': 'reject',
          text: 'Reject',
          onclick: () => answer(id, false, card),
        }),
      ),
    )
  } else if (d.kind === 'human_as_model') {
    const instruction = String(data.instruction ?? '')
    const paste = el('textarea', {
      class: 'paste',
      rows: '7',
      placeholder: 'Paste the model’s reply here (SEARCH/REPLACE blocks work best)',
      'aria-label': 'Model reply',
    })
    card.append(
      el(
        'div',
        { class: 'instruction' },
        el(
          'div',
          { class: 'instruction-head' },
          el('span', { text: 'Instruction for the model' }),
          el('button', {
            class: 'btn btn-ghost btn-small',
            type: 'button',
            text: 'Copy',
            onclick: (e) => {
              navigator.clipboard?.writeText(instruction).then(
                () => (e.target.textContent = 'Copied'),
                () => toast('Copy failed: select the text instead', 'error'),
              )
            },
          }),
        ),
        el('pre', { text: instruction }),
      ),
      paste,
      el(
        'div',
        { class: 'row' },
        el('button', {
          class: 'btn btn-primary',
          type: 'button',
          'data-action': 'send-reply',
          text: 'Send as the model',
          onclick: () => {
            if (!paste.value.trim()) return toast('Paste a reply first', 'error')
            return answer(id, paste.value, card)
          },
        }),
      ),
    )
  } else if (d.kind === 'choice' && Array.isArray(d.choices)) {
    card.append(
      el(
        'div',
        { class: 'row wrap' },
        ...d.choices.map((c) =>
          el('button', {
            class: 'btn',
            type: 'button',
            text: String(c),
            onclick: () => answer(id, c, card),
          }),
        ),
      ),
    )
  } else {
    const input = el('textarea', { class: 'paste', rows: '3', 'aria-label': 'Answer' })
    card.append(
      input,
      el(
        'div',
        { class: 'row' },
        el('button', {
          class: 'btn btn-primary',
          type: 'button',
          text: 'Answer',
          onclick: () => answer(id, input.value, card),
        }),
      ),
    )
  }
  return card
}

// ---- connection status ----
const STATE_LABEL = {
  connecting: 'Connecting…',
  connected: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Closed',
}

function setPill(state, extra = '') {
  const pill = $('conn-pill')
  pill.dataset.state = state
  $('conn-label').textContent = STATE_LABEL[state] + extra
}

function updateStats() {
  const f = view.follow
  $('stat-events').textContent = String(view.events)
  $('stat-last').textContent = f?.lastId ?? '–'
  $('stat-reconnects').textContent = String(f?.reconnects ?? 0)
  $('stat-dups').textContent = String(f?.duplicatesDropped ?? 0)
  $('stat-gaps').textContent = String(f?.gaps ?? 0)
}

function setRunStatus(status) {
  const s = $('run-status')
  s.dataset.status = status
  s.textContent = status
  const live = status === 'running'
  $('steer-send').disabled = !live
  $('interrupt').disabled = !live
  $('steer-text').disabled = !live
}

async function pollRun() {
  const run = view.run
  if (!run) return
  try {
    const info = await client.getRun(run)
    if (view.run !== run) return
    $('stat-readers').textContent =
      info.readers === undefined
        ? '–'
        : `${info.readers} ${info.readers === 1 ? 'reader' : 'readers'}`
    if (!view.ended) setRunStatus(info.status)
    const meta = info.meta ?? {}
    if (typeof meta.title === 'string') $('run-title').textContent = meta.title
    const started = info.createdAt ? new Date(info.createdAt) : undefined
    $('run-meta').textContent = [
      run,
      typeof meta.agent === 'string' ? meta.agent : undefined,
      started && !Number.isNaN(started.getTime()) ? `started ${started.toLocaleTimeString()}` : '',
    ]
      .filter(Boolean)
      .join(' · ')
  } catch (err) {
    if (view.run === run) $('stat-readers').textContent = '–'
    if (err?.status === 401 || err?.status === 403) showBanner(err)
  }
}

function showBanner(err) {
  const b = $('banner')
  b.hidden = false
  b.textContent =
    err?.status === 401
      ? 'This hub needs a token. Open the page with ?token=… (runbus serve prints one).'
      : errorText(err)
}

// ---- following a run ----
async function openRun(run) {
  const previous = view.follow
  view.follow = undefined
  if (previous) await previous.close()
  transcript.replaceChildren()
  view.run = run || undefined
  view.pending.clear()
  view.tools.clear()
  view.askCards.clear()
  view.block = undefined
  view.events = 0
  view.ended = false
  renderPending()
  updateStats()
  clearInterval(view.readersTimer)
  $('empty').hidden = Boolean(run)
  $('drop-conn').disabled = !run
  const p = new URLSearchParams(location.search)
  if (run) p.set('run', run)
  else p.delete('run')
  history.replaceState(null, '', urlWith(p))
  $('run-picker').value = run || ''
  if (!run) {
    setPill('closed', '')
    $('conn-label').textContent = 'Not connected'
    setRunStatus('idle')
    return
  }
  $('run-title').textContent = 'Run'
  $('run-meta').textContent = run
  setRunStatus('running')
  void pollRun()
  view.readersTimer = setInterval(() => void pollRun(), 2000)

  const follow = client.follow(run, { backoff: { initialMs: 300, maxMs: 8000 } })
  view.follow = follow
  setPill('connecting')
  follow.on('state', (s) => {
    if (view.follow !== follow) return
    const extra =
      s.state === 'reconnecting' && s.delayMs !== undefined
        ? ` (retry in ${(s.delayMs / 1000).toFixed(1)} s)`
        : ''
    setPill(s.state === 'closed' && view.ended ? 'closed' : s.state, extra)
    if (s.state === 'closed' && view.ended) $('conn-label').textContent = 'Run ended'
    updateStats()
  })
  follow.on('duplicate', () => updateStats())
  follow.on('gap', (g) => toast(`Lost events ${g.from}–${g.to}: no longer retained`, 'error'))
  try {
    for await (const ev of follow) {
      if (view.follow !== follow) break
      render(ev)
      updateStats()
    }
  } catch (err) {
    if (view.follow === follow) {
      showBanner(err)
      setPill('closed')
      $('conn-label').textContent = 'Failed'
    }
  }
}

async function refreshRuns() {
  try {
    const runs = await client.listRuns()
    const picker = $('run-picker')
    const current = view.run ?? ''
    runs.sort((a, b) => String(b.createdAt ?? '').localeCompare(String(a.createdAt ?? '')))
    const options = [el('option', { value: '', text: 'No run selected' })]
    const seen = new Set()
    for (const r of runs) {
      seen.add(r.id)
      const title = typeof r.meta?.title === 'string' ? r.meta.title : r.id
      options.push(
        el('option', { value: r.id, text: `${title} · ${r.status} · ${r.id.slice(0, 8)}` }),
      )
    }
    if (current && !seen.has(current)) options.push(el('option', { value: current, text: current }))
    picker.replaceChildren(...options)
    picker.value = current
  } catch {
    // Listing needs a token for every run; a run-scoped token still follows its own run.
  }
}

// ---- controls ----
$('run-picker').addEventListener('change', (e) => void openRun(e.target.value))

$('start-demo').addEventListener('click', async () => {
  const btn = $('start-demo')
  btn.disabled = true
  try {
    const headers = { 'content-type': 'application/json' }
    const t = token()
    if (t) headers.authorization = `Bearer ${t}`
    const speed = Number(new URLSearchParams(location.search).get('speed')) || undefined
    const res = await fetch(new URL('./demo/runs', location.href), {
      method: 'POST',
      headers,
      body: JSON.stringify(speed ? { speed } : {}),
    })
    const body = await res.json().catch(() => ({}))
    if (!res.ok)
      throw Object.assign(new Error(body?.error?.message ?? res.statusText), body?.error ?? {}, {
        status: res.status,
      })
    $('banner').hidden = true
    await refreshRuns()
    void openRun(body.runId)
  } catch (err) {
    toast(`Could not start a demo run: ${errorText(err)}`, 'error')
  } finally {
    btn.disabled = false
  }
})

$('steer-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const text = $('steer-text').value.trim()
  if (!text || !view.run) return
  try {
    await client.send(view.run, { type: 'steer', data: { text } })
    $('steer-text').value = ''
    toast('Note sent to the agent')
  } catch (err) {
    toast(`Could not send: ${errorText(err)}`, 'error')
  }
})

$('interrupt').addEventListener('click', async () => {
  if (!view.run) return
  try {
    await client.send(view.run, {
      type: 'interrupt',
      data: { reason: 'interrupted from the demo page' },
    })
    toast('Interrupt sent')
  } catch (err) {
    toast(`Could not interrupt: ${errorText(err)}`, 'error')
  }
})

$('drop-conn').addEventListener('click', () => {
  view.follow?.reconnect()
})

// ---- start ----
setRunStatus('idle')
$('drop-conn').disabled = true
void refreshRuns()
const initial = params.get('run')
if (initial) void openRun(initial)
requestAnimationFrame(() => document.body.classList.add('ready'))
