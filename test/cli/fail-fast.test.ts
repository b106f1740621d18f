/**
 * The CLI fails fast and cleanly: usage mistakes exit 2, a hub that never answered ends
 * `tail` with its URL and the cause, and event data cannot drive the terminal.
 */
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import type { Io } from '../../src/cli/commands.js'
import { escapeControls, formatEvent, stylesFor } from '../../src/cli/format.js'

function io(): Io & { lines: string[]; errs: string[] } {
  const lines: string[] = []
  const errs: string[] = []
  return {
    lines,
    errs,
    out: (l) => lines.push(l),
    err: (l) => errs.push(l),
    write: (t) => lines.push(t),
    styles: stylesFor({ isTTY: false }),
  }
}

/** A port nobody listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address() as AddressInfo
  await new Promise((r) => s.close(r))
  return port
}

describe('runbus CLI: fails fast', () => {
  it('refuses `token --ttl 3 days` (not 3 seconds) with exit 2', async () => {
    const o = io()
    expect(await main(['token', '--ttl', '3', 'days', '--secret', 's'.repeat(32)], o)).toBe(2)
    expect(o.errs.join('\n')).toContain('"days"')
    const p = io()
    expect(await main(['token', '--ttl', '3 days', '--secret', 's'.repeat(32)], p)).toBe(2)
    expect(p.errs.join('\n')).toContain('--ttl')
  })

  it('exits 2 on an unknown option or a missing run', async () => {
    expect(await main(['tail', '--nope'], io())).toBe(2)
    expect(await main(['tail'], io())).toBe(2)
    expect(await main(['tail', 'a', 'b'], io())).toBe(2)
  })

  it('tail: an invalid URL is a usage error naming it', async () => {
    const o = io()
    expect(await main(['tail', 'run-1', '--url', 'not a url'], o)).toBe(2)
    expect(o.errs.join('\n')).toContain('"not a url"')
  })

  it('tail: a hub that never answered ends with its URL and the cause, at once', async () => {
    const url = `http://127.0.0.1:${await deadPort()}`
    const o = io()
    const t = Date.now()
    expect(await main(['tail', 'run-1', '--url', url], o)).toBe(1)
    expect(Date.now() - t).toBeLessThan(10_000)
    expect(o.errs.join('\n')).toContain(`could not reach the hub at ${url}`)
    expect(o.errs.join('\n')).toMatch(/ECONNREFUSED/)
  })
})

describe('runbus tail: event data cannot drive the terminal', () => {
  const st = stylesFor({ isTTY: false })
  const ev = (type: string, data: unknown) => ({ id: '1', run: 'r', seq: 1, type, data, ts: 0 })

  it('escapes C0 and C1 controls: ESC sequences, OSC 52, cursor moves, CSI (0x9b)', () => {
    const osc52 = '\u001b]52;c;aGVsbG8=\u0007'
    const line = formatEvent(ev('text', { text: `hi${osc52}\u001b[2J\u001b[H\u009b31m` }), st)
    // eslint-disable-next-line no-control-regex -- no control character may be left
    expect(line).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/)
    expect(line).toContain('\\x1b]52;c;aGVsbG8=\\x07')
    expect(line).toContain('\\x9b31m')
    for (const type of ['status', 'tool_call', 'error', 'custom\u001b[31m', 'ask'])
      expect(
        formatEvent(
          ev(type, {
            status: '\u001b[1A',
            name: '\u001b[1A',
            message: '\u001b[1A',
            prompt: '\u001b[1A',
          }),
          st,
        ),
      ).not.toContain('\u001b')
  })

  it('keeps newlines and tabs in streamed text only', () => {
    expect(escapeControls('a\nb\tc\u0007', true)).toBe('a\nb\tc\\x07')
    expect(escapeControls('a\nb')).toBe('a\\x0ab')
  })
})
