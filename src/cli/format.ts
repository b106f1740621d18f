/**
 * How `runbus tail` prints events: one readable line per event, colored when the output is a
 * terminal (and `NO_COLOR` is unset). Model text is printed as it streams, on one line.
 */
import type { RunEvent } from '../events/envelope.js'

/** ANSI styles, or no-ops when color is off. */
export interface Styles {
  dim: (s: string) => string
  bold: (s: string) => string
  red: (s: string) => string
  green: (s: string) => string
  yellow: (s: string) => string
  cyan: (s: string) => string
  magenta: (s: string) => string
}

/** Styles for a stream: colored on a TTY unless `NO_COLOR` is set. */
export function stylesFor(
  stream: { isTTY?: boolean },
  env: NodeJS.ProcessEnv = process.env,
): Styles {
  const on = stream.isTTY === true && env.NO_COLOR === undefined && env.TERM !== 'dumb'
  const wrap =
    (open: number, close: number) =>
    (s: string): string =>
      on ? `\u001b[${open}m${s}\u001b[${close}m` : s
  return {
    dim: wrap(2, 22),
    bold: wrap(1, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
    magenta: wrap(35, 39),
  }
}

/**
 * Makes text safe for a terminal: C0 and C1 control characters (ESC, CSI, OSC 52 clipboard
 * writes, cursor moves, bells, DEL…) are shown as `\x1b`-style escapes instead of being
 * obeyed. Newlines and tabs are kept when `keepLines` (streamed model text).
 *
 * @example
 * ```ts
 * escapeControls('\u001b]52;c;aGk=\u0007') // '\\x1b]52;c;aGk=\\x07'
 * ```
 */
export function escapeControls(text: string, keepLines = false): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) =>
    keepLines && (c === '\n' || c === '\t')
      ? c
      : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  )
}

/** JSON text with C1 controls escaped (JSON.stringify escapes C0 only). */
export function escapeC1(json: string): string {
  return json.replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

function short(value: unknown, max = 160): string {
  let s: string
  if (typeof value === 'string') s = value
  else {
    try {
      s = JSON.stringify(value) ?? 'null'
    } catch {
      s = String(value)
    }
  }
  s = escapeControls(s.replace(/\s+/g, ' '))
  return s.length > max ? s.slice(0, max - 1) + '…' : s
}

/**
 * The text piece of a streamed event (`{ text }` or `{ delta }` of `text`, `token` and
 * `thinking` events), or `undefined` when the event is not one.
 */
export function streamText(ev: RunEvent): string | undefined {
  if (ev.type !== 'text' && ev.type !== 'token' && ev.type !== 'thinking') return undefined
  const d = ev.data as { text?: unknown; delta?: unknown } | null
  if (typeof d?.text === 'string') return d.text
  if (typeof d?.delta === 'string') return d.delta
  return undefined
}

function txt(v: unknown, dflt: string): string {
  if (v === undefined || v === null) return dflt
  return typeof v === 'string' ? escapeControls(v) : short(v, 80)
}

function clock(ts: number): string {
  const d = new Date(ts)
  return d.toISOString().slice(11, 23)
}

/**
 * One event as a line of text (without the trailing newline).
 *
 * @example
 * ```ts
 * console.log(formatEvent(ev, stylesFor(process.stdout)))
 * ```
 */
export function formatEvent(ev: RunEvent, st: Styles): string {
  const head = `${st.dim(clock(ev.ts))} ${st.dim(escapeControls('#' + ev.id).padStart(6))} `
  const d = (ev.data ?? {}) as Record<string, unknown>
  switch (ev.type) {
    case 'text':
    case 'token':
      return head + escapeControls(streamText(ev) ?? short(ev.data), true)
    case 'thinking':
      return head + st.dim(escapeControls(streamText(ev) ?? short(ev.data), true))
    case 'tool_call':
      return head + st.cyan(`→ ${txt(d.name, 'tool')}(${short(d.args ?? {}, 120)})`)
    case 'tool_result': {
      const mark = d.ok === false ? st.red('✗') : '←'
      const name = typeof d.name === 'string' ? `${d.name} ` : ''
      return head + st.cyan(`${mark} ${name}${short(d.output ?? d.result ?? ev.data, 120)}`)
    }
    case 'log':
      return head + st.dim(`[${txt(d.level, 'log')}] ${short(d.message ?? ev.data)}`)
    case 'status':
      return head + st.magenta(`• ${short(d.message ?? d.status ?? ev.data)}`)
    case 'ask':
      return (
        head +
        st.yellow(st.bold(`? ${txt(d.kind, 'ask')}: ${short(d.prompt ?? '')}`)) +
        st.dim(`  (ask ${txt(d.ask ?? d.id, '')})`)
      )
    case 'answer':
      return (
        head +
        st.green(`✓ answered ${short(d.answer)}${d.by ? st.dim(` by ${txt(d.by, '')}`) : ''}`)
      )
    case 'ask_expired':
      return head + st.yellow(`✗ ask expired (${txt(d.reason, 'timeout')})`)
    case 'error':
      return head + st.red(`! ${short(d.message ?? ev.data)}`)
    case 'gap':
      return (
        head + st.yellow(`… events ${txt(d.from, '?')}–${txt(d.to, '?')} are no longer retained`)
      )
    case 'end': {
      const status = txt(d.status, 'completed')
      const color = status === 'completed' ? st.green : status === 'failed' ? st.red : st.yellow
      return head + st.bold(color(`■ ${status}${d.error ? `: ${txt(d.error, '')}` : ''}`))
    }
    default:
      return head + `${st.bold(escapeControls(ev.type))} ${st.dim(short(ev.data))}`
  }
}
