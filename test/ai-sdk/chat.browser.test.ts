/**
 * The ai-sdk chat example in a real browser (Debian's Chromium through playwright-core): the
 * AI SDK's `Chat` with `RunbusChatTransport` on the page, the example server on runbus.
 * Reload in the middle of an answer: it continues with no character missing or twice. Stop:
 * the server's generation ends. Approval: two tabs answer, the first answer wins, the tool
 * runs once.
 *
 * Under CI a missing /usr/bin/chromium fails the suite; locally it is skipped, loudly.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page, type Route } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startChatServer, type ChatServer } from '../../examples/ai-sdk-chat/server.js'
import { numberedReply } from '../../examples/ai-sdk-chat/mock-model.js'
import { until as waitUntil } from '../helpers/wait.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const hasChromium = existsSync(CHROMIUM)
const inCI = process.env.CI === 'true' || process.env.CI === '1'
if (!hasChromium && !inCI) {
  console.warn(
    `\n!!! ai-sdk browser test SKIPPED: no Chromium at ${CHROMIUM}. Under CI=true this fails.\n`,
  )
}

const WORDS = 400
const FULL = numberedReply(WORDS)

async function lastAnswer(page: Page): Promise<string> {
  const texts = await page.locator('.message.assistant').last().locator('p.text').allTextContents()
  return texts.join('')
}

/** The shared polling wait, with a browser's pace and patience. */
const until = (cond: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> =>
  waitUntil(cond, what, ms, 25)

describe.runIf(hasChromium || inCI)('browser: the ai-sdk chat example', () => {
  let server: ChatServer
  let context: BrowserContext
  let profile: string
  const pageErrors: string[] = []

  beforeAll(async () => {
    server = await startChatServer({ words: WORDS, delayMs: 8 })
    profile = mkdtempSync(join(tmpdir(), 'runbus-aisdk-chromium-'))
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
  })

  afterAll(async () => {
    await context?.close()
    await server?.close()
    if (profile) rmSync(profile, { recursive: true, force: true })
  })

  async function open(url: string): Promise<Page> {
    const page = await context.newPage()
    page.on('pageerror', (e) => pageErrors.push(e.message))
    await page.goto(url)
    await page.waitForSelector('body[data-ready="true"]')
    return page
  }

  async function send(page: Page, text: string): Promise<void> {
    await page.fill('#prompt', text)
    await page.click('#send')
  }

  const chatIdOf = (page: Page): string => new URL(page.url()).hash.slice(1)

  it('reload in the middle of an answer: it continues, no character missing or twice', async () => {
    const page = await open(server.url)
    await send(page, 'hello')
    await until(async () => (await lastAnswer(page)).length > 200, 'part of the answer')
    const runId = server.activeRun(chatIdOf(page))
    expect(runId).toBeDefined()
    // The reload happens while the server is still answering.
    expect((await server.rb.runs.get(runId!)).status).toBe('running')
    await page.reload()
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 })
    await until(
      async () => (await lastAnswer(page)).length >= FULL.length,
      'the whole answer',
      30_000,
    )
    expect(await lastAnswer(page)).toBe(FULL)
    await until(async () => (await page.textContent('#status')) === 'ready', 'status ready')
    expect((await server.rb.runs.get(runId!)).status).toBe('completed')
    expect(await page.locator('.message.assistant').count()).toBe(1)
    expect(await page.locator('.message.assistant p.text').count()).toBe(1)
    expect(await page.textContent('#status')).toBe('ready')
    await page.close()
  })

  it('stop ends the server’s generation', async () => {
    const page = await open(server.url)
    await send(page, 'hello')
    await until(async () => (await lastAnswer(page)).length > 100, 'part of the answer')
    const runId = server.activeRun(chatIdOf(page))!
    await page.click('#stop')
    await until(async () => (await server.rb.runs.get(runId)).status === 'cancelled', 'cancelled')
    const { events } = await server.rb.runs.get(runId)
    await new Promise((r) => setTimeout(r, 200))
    expect((await server.rb.runs.get(runId)).events).toBe(events)
    expect((await lastAnswer(page)).length).toBeLessThan(FULL.length)
    await page.close()
  })

  it('an approval is decided once, whichever tab answers first', async () => {
    const before = server.deploys()
    const a = await open(server.url)
    await send(a, 'please deploy')
    await a.waitForSelector('.approval[data-state="pending"]')
    const b = await open(a.url()) // a second tab on the same chat
    await b.waitForSelector('.approval[data-state="pending"]')
    // Both tabs answer while the ask is pending: hold each answer until the other one is sent
    // too, then let both reach the server together. (Without the barrier the slower click can
    // come after the first answer's decision reached its tab, whose buttons are then disabled:
    // the click waits for an enabled button until the test times out.)
    const held: Route[] = []
    await context.route('**/api/asks/*', async (route) => {
      held.push(route)
      if (held.length === 2) await Promise.all(held.map((r) => r.continue()))
    })
    await Promise.all([a.click('.approval button.approve'), b.click('.approval button.approve')])
    for (const page of [a, b]) {
      await page.waitForSelector('.approval[data-state="approved"]')
      await until(async () => (await lastAnswer(page)) === 'Deployed to prod.', 'the answer')
      await until(async () => (await page.textContent('.approval .result')) !== '', 'its result')
    }
    const results = [
      await a.textContent('.approval .result'),
      await b.textContent('.approval .result'),
    ].sort()
    expect(results).toEqual(['refused (409)', 'your answer counted'])
    expect(server.deploys() - before).toBe(1)
    await context.unroute('**/api/asks/*')
    await a.close()
    await b.close()
    expect(pageErrors).toEqual([])
  })
})
