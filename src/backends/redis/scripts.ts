/**
 * The Lua scripts of the run log, loaded from `./lua/<name>-<numkeys>.lua` beside this
 * module (the build copies them to `dist/`). Each is sent as EVALSHA, falling back to
 * EVAL once when the server does not know it (fresh server, SCRIPT FLUSH, a Cluster node
 * that never saw it): no `defineCommand`, so a client passed in by the user is not
 * modified.
 *
 * Fragments several scripts share (the run-status check, the first retained id, the
 * lease-holder check, a dead-letter record, an entry's fields) are written once, in
 * `lua/includes/<name>.lua`, as `local function`s. A script names the ones it uses with a
 * line `--@include <name>`, replaced by the fragment when the script is loaded, so what
 * Redis runs (and hashes for EVALSHA) is one self-contained script.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { RedisConnection } from './context.js'

/** One Lua script with its key count and SHA1. */
export class LuaScript {
  /** The script's name (file name without the key count). */
  readonly name: string
  /** How many of the arguments are keys. */
  readonly numKeys: number
  /** The script's source. */
  readonly source: string
  /** SHA1 of the source, for EVALSHA. */
  readonly sha: string

  constructor(name: string, numKeys: number, source: string) {
    this.name = name
    this.numKeys = numKeys
    this.source = source
    this.sha = createHash('sha1').update(source).digest('hex')
  }

  /** Runs the script on `client`; `keys.length` must equal `numKeys`. */
  async run(
    client: RedisConnection,
    keys: readonly string[],
    args: ReadonlyArray<string | number>,
  ): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, this.numKeys, ...keys, ...args)
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
        return client.eval(this.source, this.numKeys, ...keys, ...args)
      }
      throw err
    }
  }
}

const INCLUDE = /^--@include ([a-z][a-z0-9-]*)[ \t]*$/gm

/**
 * Replaces each `--@include <name>` line of `source` with `lua/includes/<name>.lua` (read
 * by `read`); an unknown fragment throws. Each fragment is included once per script.
 */
export function composeScript(
  source: string,
  read: (include: string) => string = (include) =>
    readFileSync(new URL(`./lua/includes/${include}.lua`, import.meta.url), 'utf8'),
): string {
  const seen = new Set<string>()
  return source.replace(INCLUDE, (_, include: string) => {
    if (seen.has(include)) return ''
    seen.add(include)
    return read(include).replace(/\n$/, '')
  })
}

/** Loads `lua/<name>-<numKeys>.lua` relative to this module, its includes composed in. */
export function loadScript(name: string, numKeys: number): LuaScript {
  const url = new URL(`./lua/${name}-${numKeys}.lua`, import.meta.url)
  return new LuaScript(name, numKeys, composeScript(readFileSync(url, 'utf8')))
}

/** The run-log scripts, read from disk once per process on first use. */
export interface RunScripts {
  create: LuaScript
  append: LuaScript
  end: LuaScript
  read: LuaScript
  info: LuaScript
  inbox: LuaScript
  indexRun: LuaScript
}

let cached: RunScripts | undefined

/** The run-log scripts (loaded lazily, shared by every backend in the process). */
export function runScripts(): RunScripts {
  cached ??= {
    create: loadScript('create', 1),
    append: loadScript('append', 2),
    end: loadScript('end', 3),
    read: loadScript('read', 2),
    info: loadScript('info', 2),
    inbox: loadScript('inbox', 2),
    indexRun: loadScript('index-run', 2),
  }
  return cached
}
