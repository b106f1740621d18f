--[[
  A run's info: its meta hash and the id of the first retained log entry.

  KEYS[1] meta hash    <prefix>:{<run>}:meta
  KEYS[2] log stream   <prefix>:{<run>}:log

  Result: { HGETALL of the meta hash (flat), id of the first retained entry or '' },
  or false when there is no such run.
]]
--@include first-id
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  return false
end
return { h, firstId(KEYS[2]) }
