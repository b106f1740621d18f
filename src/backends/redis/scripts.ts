/**
 * The Lua scripts of the run log, loaded from `./lua/<name>-<numkeys>.lua` beside this
 * module (the build copies them to `dist/`). Each is sent as EVALSHA, falling back to
 * EVAL once when the server does not know it (fresh server, SCRIPT FLUSH, a Cluster node
 * that never saw it): no `defineCommand`, so a client passed in by the user is not
 * modified.
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

/** Loads `lua/<name>-<numKeys>.lua` relative to this module. */
export function loadScript(name: string, numKeys: number): LuaScript {
  const url = new URL(`./lua/${name}-${numKeys}.lua`, import.meta.url)
  return new LuaScript(name, numKeys, readFileSync(url, 'utf8'))
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
