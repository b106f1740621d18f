/**
 * Hub tokens: HS256 JWTs (jose) with the claims of PROTOCOL.md — `sub`, `runs` (run ids, or
 * `"*"` for every run), `scope` (`read`, `write`, `answer`, `admin`; admin implies all) and
 * `exp`. Tokens travel as `Authorization: Bearer …` or, where a header cannot be set (a
 * browser `EventSource`), as `?token=`.
 *
 * Verified tokens are cached by their text until they expire, so 10,000 readers opening
 * with the same token cost one HMAC, not 10,000.
 */
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose'
import { ForbiddenError, InvalidArgumentError, UnauthorizedError } from '../events/errors.js'

/** What a token allows. `admin` implies every other scope. */
export type Scope = 'read' | 'write' | 'answer' | 'admin'

/** Every scope, in the order they are documented. */
export const SCOPES: readonly Scope[] = ['read', 'write', 'answer', 'admin']

/** The claims of a verified token (or of the open identity on an `--insecure` hub). */
export interface TokenClaims {
  /** Who the token was issued to (free text, for logs). */
  sub: string
  /** The runs it may touch, or `'*'` for all. */
  runs: readonly string[] | '*'
  /** What it may do. */
  scope: readonly Scope[]
  /** Expiry, epoch seconds (absent: never; only the insecure identity has none). */
  exp?: number
}

/** What to put in a new token. */
export interface TokenRequest {
  /** Subject (who it is for); default `runbus`. */
  sub?: string
  /** Run ids, or `'*'` (the default) for every run. */
  runs?: readonly string[] | '*'
  /** Scopes; default `['read']`. */
  scope?: readonly Scope[]
  /** Lifetime in seconds; default 24 h. */
  ttlSeconds?: number
}

/** The identity an `--insecure` hub gives every request. */
export const OPEN_CLAIMS: TokenClaims = Object.freeze({
  sub: 'insecure',
  runs: '*',
  scope: ['admin'],
}) as TokenClaims

function keyOf(secret: string | Uint8Array): Uint8Array {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret
  if (key.byteLength < 16) {
    throw new InvalidArgumentError('the hub secret must be at least 16 bytes long')
  }
  return key
}

/** Parses a comma- or space-separated scope list (`read,answer`), refusing unknown scopes. */
export function parseScopes(text: string): Scope[] {
  const out: Scope[] = []
  for (const part of text.split(/[\s,]+/)) {
    if (part === '') continue
    if (!(SCOPES as readonly string[]).includes(part)) {
      throw new InvalidArgumentError(
        `unknown scope ${JSON.stringify(part)} (known: ${SCOPES.join(', ')})`,
      )
    }
    if (!out.includes(part as Scope)) out.push(part as Scope)
  }
  if (out.length === 0) throw new InvalidArgumentError('at least one scope is required')
  return out
}

/**
 * Signs a hub token with `secret` (at least 16 bytes).
 *
 * @example
 * ```ts
 * const token = await signToken(secret, { runs: ['run-1'], scope: ['read', 'answer'], ttlSeconds: 3600 })
 * ```
 */
export async function signToken(
  secret: string | Uint8Array,
  req: TokenRequest = {},
): Promise<string> {
  const ttl = req.ttlSeconds ?? 24 * 3600
  if (!Number.isFinite(ttl) || ttl <= 0)
    throw new InvalidArgumentError('ttl must be a positive number of seconds')
  const runs = req.runs ?? '*'
  return new SignJWT({ runs: runs === '*' ? '*' : [...runs], scope: [...(req.scope ?? ['read'])] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(req.sub ?? 'runbus')
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + Math.ceil(ttl))
    .sign(keyOf(secret))
}

function claimsOf(payload: Record<string, unknown>): TokenClaims {
  const rawRuns = payload.runs
  let runs: readonly string[] | '*'
  if (rawRuns === '*' || (Array.isArray(rawRuns) && rawRuns.includes('*'))) runs = '*'
  else if (Array.isArray(rawRuns) && rawRuns.every((r) => typeof r === 'string')) runs = rawRuns
  else if (typeof rawRuns === 'string') runs = [rawRuns]
  else throw new UnauthorizedError('token has no valid "runs" claim')
  const rawScope = payload.scope
  let scope: Scope[]
  try {
    if (typeof rawScope === 'string') scope = parseScopes(rawScope)
    else if (Array.isArray(rawScope) && rawScope.every((s) => typeof s === 'string'))
      scope = parseScopes(rawScope.join(' '))
    else throw new Error('no scope')
  } catch {
    throw new UnauthorizedError('token has no valid "scope" claim')
  }
  return {
    sub: typeof payload.sub === 'string' ? payload.sub : '',
    runs,
    scope,
    ...(typeof payload.exp === 'number' ? { exp: payload.exp } : {}),
  }
}

/**
 * Verifies hub tokens against one secret, caching what it verified (bounded, by expiry).
 * Rejects with `UnauthorizedError` for a bad signature, an expired token or missing claims.
 */
export class TokenVerifier {
  readonly #key: Uint8Array
  readonly #cache = new Map<string, TokenClaims>()
  readonly #maxCache: number

  constructor(secret: string | Uint8Array, options: { maxCache?: number } = {}) {
    this.#key = keyOf(secret)
    this.#maxCache = options.maxCache ?? 1000
  }

  /** The claims of `token`, or `UnauthorizedError`. */
  async verify(token: string): Promise<TokenClaims> {
    const nowSec = Date.now() / 1000
    const hit = this.#cache.get(token)
    if (hit) {
      if (hit.exp === undefined || hit.exp > nowSec) return hit
      this.#cache.delete(token)
      throw new UnauthorizedError('the token has expired')
    }
    let payload: Record<string, unknown>
    try {
      const r = await jwtVerify(token, this.#key, { algorithms: ['HS256'] })
      payload = r.payload
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new UnauthorizedError('the token has expired')
      throw new UnauthorizedError('the token is not valid')
    }
    if (typeof payload.exp !== 'number') throw new UnauthorizedError('the token has no expiry')
    const claims = claimsOf(payload)
    if (this.#cache.size >= this.#maxCache) {
      const oldest = this.#cache.keys().next()
      if (!oldest.done) this.#cache.delete(oldest.value)
    }
    this.#cache.set(token, claims)
    return claims
  }
}

/** Whether `claims` carry `scope` (admin carries every scope). */
export function hasScope(claims: TokenClaims, scope: Scope): boolean {
  return claims.scope.includes('admin') || claims.scope.includes(scope)
}

/** Whether `claims` may touch `run`. */
export function allowsRun(claims: TokenClaims, run: string): boolean {
  return claims.runs === '*' || claims.runs.includes(run)
}

/**
 * Throws `ForbiddenError` unless `claims` have `scope` (and, when given, the run).
 */
export function requireScope(claims: TokenClaims, scope: Scope, run?: string): void {
  if (!hasScope(claims, scope)) {
    throw new ForbiddenError(`the token lacks the "${scope}" scope`)
  }
  if (run !== undefined && !allowsRun(claims, run)) {
    throw new ForbiddenError(`the token does not cover run ${JSON.stringify(run)}`)
  }
}

/** The token of a request: `Authorization: Bearer …`, else `?token=`. */
export function tokenOf(authorization: string | null | undefined, url: URL): string | undefined {
  if (authorization) {
    const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(authorization)
    if (m) return m[1]
  }
  const q = url.searchParams.get('token')
  return q === null || q === '' ? undefined : q
}
