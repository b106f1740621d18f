--[[
  leaseHeld(stream, group, consumer, eid, count): whether entry `eid` is pending to
  `consumer` with delivery count `count` (a number), i.e. the lease is still current.
]]
local function leaseHeld(stream, group, consumer, eid, count)
  local p = redis.call('XPENDING', stream, group, eid, eid, 1)
  return p[1] ~= nil and p[1][2] == consumer and p[1][4] == count
end
