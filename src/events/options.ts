/**
 * The one check of public option bags: an unknown name or a value of the wrong type is an
 * `InvalidArgumentError` naming the option, so a typo (`{ redis: url }`, `{ timout: 5 }`)
 * never falls back to a default behind the caller's back.
 */
import { InvalidArgumentError } from './errors.js'

/** What an option's value may be (`undefined` is always allowed: the option is absent). */
export type OptionKind =
  'string' | 'number' | 'boolean' | 'function' | 'object' | 'array' | 'signal' | 'null' | 'any'

/** Option names and the kinds each accepts. */
export type OptionSpec = Readonly<Record<string, OptionKind | readonly OptionKind[]>>

function kindOf(value: unknown): OptionKind {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  const t = typeof value
  if (t === 'string' || t === 'number' || t === 'boolean' || t === 'function') return t
  return 'object'
}

function isSignal(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AbortSignal).aborted === 'boolean' &&
    typeof (value as AbortSignal).addEventListener === 'function'
  )
}

/**
 * Throws `InvalidArgumentError` when `options` is not an object, has a name not in `spec`,
 * or has a value of a kind `spec` does not list for it. `undefined` options pass.
 */
export function checkOptions(where: string, options: unknown, spec: OptionSpec): void {
  if (options === undefined) return
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new InvalidArgumentError(`${where}: options must be an object`)
  for (const [key, value] of Object.entries(options)) {
    const allowed = spec[key]
    if (allowed === undefined || !Object.prototype.hasOwnProperty.call(spec, key))
      throw new InvalidArgumentError(
        `${where}: unknown option ${JSON.stringify(key)} (known: ${Object.keys(spec).join(', ')})`,
      )
    if (value === undefined) continue
    const kinds: readonly OptionKind[] = typeof allowed === 'string' ? [allowed] : allowed
    if (kinds.includes('any')) continue
    if (kinds.includes('signal') && isSignal(value)) continue
    const got = kindOf(value)
    if (kinds.includes(got) && !(got === 'number' && Number.isNaN(value))) continue
    throw new InvalidArgumentError(
      `${where}: option ${JSON.stringify(key)} must be ${kinds.join(' or ')} (got ${got === 'number' ? String(value) : got})`,
    )
  }
}
