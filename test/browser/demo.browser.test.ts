/**
 * The demo page in a real browser (Debian's Chromium through playwright-core): start a run,
 * see tokens stream, be the model, approve the merge with its diff on screen, cut the
 * connection twice (server side, then the page's own control) and check that the page
 * resumed with every event rendered exactly once, in the run's order.
 *
 * Under CI a missing /usr/bin/chromium fails the suite; locally it is skipped, loudly.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../src/client/index.js'
import type { RunEvent } from '../../src/events/envelope.js'
import { startDemoServer, type DemoServer } from '../helpers/demo-server.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const hasChromium = existsSync(CHROMIUM)
const inCI = process.env.CI === 'true' || process.env.CI === '1'

if (!hasChromium && !inCI) {
  console.warn(
    `\n!!! browser test SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium). ` +
      'Under CI=true this is a failure.\n',
  )
}

describe('browser: CI has Chromium', () => {
  it.runIf(inCI)('finds Chromium under CI', () => {
    expect(hasChromium, `Chromium is required under CI at ${CHROMIUM}`).toBe(true)
  })
})

// A reply in prose (no SEARCH/REPLACE blocks): the agent then proposes its own unified diff.
const REPLY = `The loop bound is off by one: use attempt < attempts,
and do not sleep after the last failed attempt.`

async function eventsOverHttp(baseUrl: string, run: string): Promise<RunEvent[]> {
  const out: RunEvent[] = []
  for await (const ev of createClient({ baseUrl }).follow(run)) out.push(ev)
  return out
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).textContent()) ?? ''
}

describe.runIf(hasChromium)('browser: the demo page', () => {
  let server: DemoServer
  let context: BrowserContext
  let profile: string
  const pageErrors: string[] = []

  beforeAll(async () => {
    server = await startDemoServer()
    profile = mkdtempSync(join(tmpdir(), 'runbus-chromium-'))
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1440, height: 900 },
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

  it('streams a run, takes both answers, resumes after cuts without a duplicate', async () => {
    const page = await context.newPage()
    page.on('pageerror', (err) => pageErrors.push(err.message))
    await page.goto(`${server.url}/?speed=6`)
    await page.waitForSelector('body.ready')
    await page.click('#start-demo')

    // Tokens stream in, word by word.
    await page.waitForFunction(() => document.querySelectorAll('.msg-thinking .tok').length >= 6)
    const run = new URL(page.url()).searchParams.get('run')
    expect(run).toMatch(/\S/)
    await expect.poll(() => text(page, '#conn-pill')).toContain('Live')

    // Cut every stream from the server side in the middle of the tokens.
    expect(server.dropStreams()).toBeGreaterThanOrEqual(1)
    await page.waitForFunction(
      () => Number(document.getElementById('stat-reconnects')?.textContent) >= 1,
    )
    await page.waitForSelector('#conn-pill[data-state="connected"]')

    // Scenario 2: be the model.
    const modelCard = page.locator('.ask-card.ask-human_as_model')
    await modelCard.waitFor()
    expect(await modelCard.locator('.instruction pre').textContent()).toContain('SEARCH/REPLACE')
    await modelCard.locator('textarea').fill(REPLY)
    await modelCard.locator('[data-action="send-reply"]').click()
    await modelCard.waitFor({ state: 'detached' })

    // Scenario 1: approve the merge with the diff on screen.
    const mergeCard = page.locator('.ask-card.ask-confirm')
    await mergeCard.waitFor()
    await expect.poll(() => mergeCard.locator('.dl-del').count()).toBeGreaterThan(0)
    await expect.poll(() => mergeCard.locator('.dl-add').count()).toBeGreaterThan(0)
    expect(await mergeCard.locator('.dl-add').first().textContent()).toContain('attempt < attempts')

    // Cut again, this time with the page's own control, and wait for the resume.
    await page.click('#drop-conn')
    await page.waitForFunction(
      () => Number(document.getElementById('stat-reconnects')?.textContent) >= 2,
    )
    await page.waitForSelector('#conn-pill[data-state="connected"]')
    await expect.poll(() => text(page, '#stat-readers')).toMatch(/\d+ reader/)
    mkdirSync('test-results', { recursive: true })
    await page.$eval('.side', (side) => side.scrollTo(0, 0)) // the drop control scrolled it
    await page.screenshot({ path: 'test-results/demo.png' })

    await mergeCard.locator('[data-action="approve"]').click()
    await page.waitForSelector('.end.end-completed', { timeout: 30_000 })
    await page.screenshot({ path: 'test-results/demo-end.png' })

    // Every event of the run is on the page exactly once, in the run's order.
    const rendered = await page.$$eval('[data-event-id]', (els) =>
      els.map((e) => e.getAttribute('data-event-id')),
    )
    const events = await eventsOverHttp(server.url, run!)
    expect(events.at(-1)!.type).toBe('end')
    expect(new Set(rendered).size).toBe(rendered.length)
    expect(rendered).toEqual(events.map((e) => e.id))
    const answers = events.filter((e) => e.type === 'answer').map((e) => e.data)
    expect(answers).toMatchObject([{ answer: REPLY }, { answer: true }])
    // The transcript reads like the run: consecutive `text` events are one bubble, word for word.
    const bubbles: string[] = []
    let current: string | undefined
    for (const e of events) {
      if (e.type === 'text') current = (current ?? '') + (e.data as { text: string }).text
      else if (current !== undefined) {
        bubbles.push(current)
        current = undefined
      }
    }
    if (current !== undefined) bubbles.push(current)
    expect(await page.locator('.msg-text .bubble').allTextContents()).toEqual(bubbles)
    expect(await text(page, '#run-status')).toBe('completed')
    expect(Number(await text(page, '#stat-dups'))).toBe(0)
    expect(pageErrors).toEqual([])
    await page.close()
  }, 120_000)

  it('interrupts a run from the steer box', async () => {
    const page = await context.newPage()
    page.on('pageerror', (err) => pageErrors.push(err.message))
    await page.goto(`${server.url}/?speed=4`)
    await page.waitForSelector('body.ready')
    await page.click('#start-demo')
    await page.waitForFunction(() => document.querySelectorAll('.tok').length >= 3)
    await page.fill('#steer-text', 'keep the public API unchanged')
    await page.click('#steer-send')
    await page.waitForSelector('.log-info')
    expect(await text(page, '.log-info')).toContain('keep the public API unchanged')
    await page.click('#interrupt')
    await page.waitForSelector('.end.end-cancelled')
    expect(await text(page, '.end')).toContain('interrupted from the console')
    expect(await text(page, '#run-status')).toBe('cancelled')
    expect(pageErrors).toEqual([])
    await page.close()
  }, 60_000)
})
