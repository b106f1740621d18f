/**
 * Bus patterns on Redis: runbus patterns (`*` = exactly one dot-separated segment, `>` =
 * one or more trailing segments) translated to a Redis glob for PSUBSCRIBE, plus the exact
 * matcher (`compilePattern` from the bus) filters what the glob lets through. Redis's `*` also matches dots and the
 * empty string, so the glob is only a coarse pre-filter; the matcher decides.
 */

const GLOB_META = /[*?[\]\\]/g

/** Escapes Redis glob metacharacters so `text` matches itself only. */
export function escapeGlob(text: string): string {
  return text.replace(GLOB_META, (c) => `\\${c}`)
}

/**
 * The Redis glob (without prefix) that matches at least every channel `pattern` matches.
 * `a.*.c` → `a.*.c`, `a.>` → `a.*`, `a.b` → `a.b` (escaped).
 */
export function toRedisGlob(pattern: string): string {
  return pattern
    .split('.')
    .map((seg) => (seg === '*' || seg === '>' ? '*' : escapeGlob(seg)))
    .join('.')
}
