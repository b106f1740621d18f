import { AskAnsweredError, createRunbus, isEvent } from 'runbus'

const rb = createRunbus()
const run = await rb.runs.create()

// Elsewhere (a browser via the hub, another process, a test): answer what the run asks.
const person = (async () => {
  for await (const ev of rb.runs.follow(run.id)) {
    if (isEvent(ev, 'ask') && ev.data.kind === 'confirm')
      await rb.asks.answer(ev.data.ask, true, { by: 'ana' }) // first valid answer wins
  }
})()

const ok = await run.ask({
  kind: 'confirm', // confirm | text | choice | form (schema) | human_as_model
  prompt: 'Merge the fix into src/retry.ts?',
  data: { diff: '- i <= n\n+ i < n' },
  timeout: 10 * 60_000, // AskTimeoutError here, an `ask_expired` event in the run
  signal: run.signal,
})
console.log('merge?', ok)

// From a process that does not hold the run (an HTTP hub, a scheduler): create without waiting.
const ask = await rb.asks.create(run.id, {
  kind: 'choice',
  prompt: 'Which branch?',
  choices: ['main', 'dev'],
})
console.log((await rb.asks.pending({ run: run.id })).map((a) => a.prompt))
await rb.asks.answer(ask.id, 'dev')
// a second answer → AskAnsweredError, too late → AskExpiredError, wrong shape → ValidationError
await rb.asks.answer(ask.id, 'main').catch((err: unknown) => {
  if (!(err instanceof AskAnsweredError)) throw err
})
console.log(await rb.asks.wait(ask.id, { timeout: 60_000 })) // a restarted agent re-attaches so

await run.end({ status: 'completed' })
await person
await rb.close()
