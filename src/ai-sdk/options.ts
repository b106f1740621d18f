/** Option checks shared by the `runbus/ai-sdk` factories: unknown names are errors. */
import { InvalidArgumentError } from './api.js'

/** Throws when `options` has a property not in `known`. */
export function checkOptions(
  where: string,
  options: object | undefined,
  known: readonly string[],
): void {
  if (options === undefined) return
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`${where}: options must be an object`)
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new InvalidArgumentError(
        `${where}: unknown option ${JSON.stringify(key)} (known: ${known.join(', ')})`,
      )
    }
  }
}

/** A positive number of milliseconds, or the fallback when absent. */
export function positiveMs(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new InvalidArgumentError(`${name} must be a positive number of milliseconds`)
  }
  return value
}
