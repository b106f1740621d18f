import { SignJWT } from 'jose'
import { describe, expect, it, vi } from 'vitest'
import { ForbiddenError, InvalidArgumentError, UnauthorizedError } from '../events/errors.js'
import { TokenVerifier, parseScopes, requireScope, signToken, tokenOf } from './auth.js'

const SECRET = 'unit-secret-0123456789abcdef'
const key = new TextEncoder().encode(SECRET)

describe('hub auth', () => {
  it('parses scope lists and refuses unknown scopes', () => {
    expect(parseScopes('read, answer read')).toEqual(['read', 'answer'])
    expect(() => parseScopes('read,fly')).toThrow(InvalidArgumentError)
    expect(() => parseScopes(' , ')).toThrow(/at least one scope/)
  })

  it('signs tokens that verify with their claims; admin implies every scope', async () => {
    const v = new TokenVerifier(SECRET)
    const t = await signToken(SECRET, { runs: ['a'], scope: ['read'], sub: 'ada', ttlSeconds: 60 })
    const c = await v.verify(t)
    expect(c).toMatchObject({ sub: 'ada', runs: ['a'], scope: ['read'] })
    expect(() => requireScope(c, 'read', 'a')).not.toThrow()
    expect(() => requireScope(c, 'read', 'b')).toThrow(ForbiddenError)
    expect(() => requireScope(c, 'write', 'a')).toThrow(ForbiddenError)
    const admin = await v.verify(await signToken(SECRET, { scope: ['admin'] }))
    expect(() => requireScope(admin, 'answer', 'anything')).not.toThrow()
    await expect(signToken(SECRET, { ttlSeconds: 0 })).rejects.toThrow(InvalidArgumentError)
    expect(() => new TokenVerifier('short')).toThrow(/16 bytes/)
  })

  it('accepts scope as a space-separated string and runs as "*" (tokens minted elsewhere)', async () => {
    const t = await new SignJWT({ runs: '*', scope: 'read write' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(key)
    expect(await new TokenVerifier(SECRET).verify(t)).toMatchObject({
      runs: '*',
      scope: ['read', 'write'],
    })
  })

  it('refuses tokens without expiry, with bad claims, other algorithms or secrets', async () => {
    const v = new TokenVerifier(SECRET)
    const noExp = await new SignJWT({ runs: '*', scope: ['read'] })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(key)
    await expect(v.verify(noExp)).rejects.toThrow(/expiry/)
    const badScope = await new SignJWT({ runs: '*', scope: ['root'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(key)
    await expect(v.verify(badScope)).rejects.toThrow(UnauthorizedError)
    const noRuns = await new SignJWT({ scope: ['read'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(key)
    await expect(v.verify(noRuns)).rejects.toThrow(/runs/)
    const hs512 = await new SignJWT({ runs: '*', scope: ['read'] })
      .setProtectedHeader({ alg: 'HS512' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET + SECRET + SECRET))
    await expect(v.verify(hs512)).rejects.toThrow(UnauthorizedError)
    await expect(v.verify(await signToken('another-secret-0123456789', {}))).rejects.toThrow(
      UnauthorizedError,
    )
  })

  it('a cached token still expires', async () => {
    const v = new TokenVerifier(SECRET)
    const t = await signToken(SECRET, { ttlSeconds: 10 })
    await v.verify(t)
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      vi.setSystemTime(Date.now() + 11_000)
      await expect(v.verify(t)).rejects.toThrow(/expired/)
    } finally {
      vi.useRealTimers()
    }
  })

  it('reads the token from the Authorization header, else ?token=', () => {
    const url = new URL('http://h/x?token=q')
    expect(tokenOf('Bearer abc', url)).toBe('abc')
    expect(tokenOf('bearer  abc ', url)).toBe('abc')
    expect(tokenOf('Basic abc', url)).toBe('q')
    expect(tokenOf(undefined, new URL('http://h/x'))).toBeUndefined()
  })
})
