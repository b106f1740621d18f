/**
 * The Standard Schema adapter: any validator that implements Standard Schema v1 (zod,
 * valibot, arktype…) checks data; a failure becomes a `ValidationError` with every issue.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { InvalidArgumentError, ValidationError, type ValidationIssue } from './errors.js'

export type { StandardSchemaV1 } from '@standard-schema/spec'

/** The type a Standard Schema accepts. */
export type SchemaInput<S extends StandardSchemaV1> = StandardSchemaV1.InferInput<S>
/** The type a Standard Schema produces. */
export type SchemaOutput<S extends StandardSchemaV1> = StandardSchemaV1.InferOutput<S>

/**
 * Whether a value looks like a Standard Schema (has a `~standard.validate` function).
 *
 * @example
 * ```ts
 * isStandardSchema(z.string()) // true
 * ```
 */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false
  const std = (value as { '~standard'?: unknown })['~standard']
  return (
    typeof std === 'object' &&
    std !== null &&
    typeof (std as { validate?: unknown }).validate === 'function'
  )
}

/**
 * Validates `value` with a Standard Schema and returns the schema's output.
 *
 * Use it for every schema check in runbus. Gotcha: validators may be async; this always
 * returns a promise.
 *
 * @throws ValidationError (rejects) with the validator's issues; `what` names the data.
 * @example
 * ```ts
 * const n = await validate(z.number(), 3)
 * ```
 */
export async function validate<S extends StandardSchemaV1>(
  schema: S,
  value: unknown,
  what = 'data',
): Promise<SchemaOutput<S>> {
  if (!isStandardSchema(schema)) {
    throw new InvalidArgumentError('schema must implement Standard Schema v1 (~standard)')
  }
  const result = await schema['~standard'].validate(value)
  if (result.issues !== undefined) throw new ValidationError(toIssues(result.issues), what)
  return result.value
}

/** Maps Standard Schema issues to runbus `ValidationIssue`s (path segments flattened to keys). */
export function toIssues(issues: ReadonlyArray<StandardSchemaV1.Issue>): ValidationIssue[] {
  return issues.map((issue) => {
    const path = issue.path?.map((seg) => (typeof seg === 'object' ? seg.key : seg))
    return path === undefined || path.length === 0
      ? { message: issue.message }
      : { message: issue.message, path }
  })
}

/**
 * A JSON Schema description of a Standard Schema's input, when the validator offers one
 * (Standard JSON Schema, `~standard.jsonSchema`), else `undefined`. Used to show a form to a
 * person in another process.
 *
 * @example
 * ```ts
 * describeSchema(z.object({ name: z.string() })) // { type: 'object', … } or undefined
 * ```
 */
export function describeSchema(schema: StandardSchemaV1): Record<string, unknown> | undefined {
  const std = schema['~standard'] as { jsonSchema?: { input?: unknown } }
  const input = std.jsonSchema?.input
  if (typeof input !== 'function') return undefined
  try {
    const out: unknown = (input as (o: { target: string }) => unknown)({ target: 'draft-2020-12' })
    return typeof out === 'object' && out !== null ? (out as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}
