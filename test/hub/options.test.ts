/** `createHub` checks its options up front: unknown names and wrong types are refused. */
import { describe, expect, it } from 'vitest'
import { createRunbus, InvalidArgumentError } from '../../src/index.js'
import { createHub, type HubOptions } from '../../src/hub/index.js'

describe('createHub options', () => {
  const rb = createRunbus()
  const make = (o: Record<string, unknown>) => () => createHub({ runbus: rb, insecure: true, ...o })

  it('refuses an unknown name, naming it (runLimits with a hint)', () => {
    expect(make({ secert: 'x'.repeat(32) })).toThrow(InvalidArgumentError)
    expect(make({ secert: 'x'.repeat(32) })).toThrow(/unknown option "secert"/)
    expect(make({ runLimits: { maxEvents: 1 } })).toThrow(/come from createRunbus/)
  })

  it('refuses a wrong type, naming the option', () => {
    expect(make({ maxBodyBytes: '2mb' })).toThrow(/"maxBodyBytes" must be number/)
    expect(make({ cors: 'yes' })).toThrow(/"cors" must be boolean/)
    expect(make({ onError: 1 })).toThrow(/"onError" must be function/)
    expect(make({ pingIntervalMs: Number.NaN })).toThrow(InvalidArgumentError)
    expect(() => createHub({ runbus: {} } as unknown as HubOptions)).toThrow(/needs \{ runbus \}/)
  })

  it('takes every documented option', async () => {
    const hub = createHub({
      runbus: rb,
      secret: 'a-secret-of-32-characters-length',
      basePath: '/rb',
      maxBodyBytes: 1024,
      maxQueuedBytes: 4096,
      pingIntervalMs: 1000,
      compatWaitMs: 10,
      maxAskWaitSeconds: 5,
      runTokenTtlSeconds: 60,
      cors: false,
      onError: () => undefined,
      limits: { maxConnections: 10 },
      metricsToken: 'metrics-token-0123456789',
      workQueues: ['q'],
    })
    await hub.close()
    await rb.close()
  })
})
