--[[
  runMeta(meta, mustRun, ...): the run's meta fields `status, ...` (HMGET of the meta
  hash), or nil and the error reply to return: RUNBUS_RUN_NOT_FOUND when there is no such
  run, RUNBUS_RUN_ENDED when `mustRun` and the run is no longer running.
  Use: local st, err = runMeta(KEYS[1], true, 'seq') if err then return err end
]]
local function runMeta(meta, mustRun, ...)
  local st = redis.call('HMGET', meta, 'status', ...)
  if not st[1] then
    return nil, redis.error_reply('RUNBUS_RUN_NOT_FOUND')
  end
  if mustRun and st[1] ~= 'running' then
    return nil, redis.error_reply('RUNBUS_RUN_ENDED')
  end
  return st
end
