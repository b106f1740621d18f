/**
 * The work queue's Lua scripts (`lua/work-*.lua`), loaded once per process on first use.
 */
import { type LuaScript, loadScript } from './scripts.js'

/** The work queue's scripts. */
export interface WorkScripts {
  add: LuaScript
  promote: LuaScript
  reclaim: LuaScript
  ack: LuaScript
  fail: LuaScript
  lease: LuaScript
  dead: LuaScript
  dropConsumer: LuaScript
}

let scripts: WorkScripts | undefined

/** The work queue's scripts (loaded lazily, shared by every store in the process). */
export function workScripts(): WorkScripts {
  scripts ??= {
    add: loadScript('work-add', 4),
    promote: loadScript('work-promote', 3),
    reclaim: loadScript('work-reclaim', 5),
    ack: loadScript('work-ack', 2),
    fail: loadScript('work-fail', 6),
    lease: loadScript('work-lease', 3),
    dead: loadScript('work-dead', 4),
    dropConsumer: loadScript('work-drop-consumer', 1),
  }
  return scripts
}
