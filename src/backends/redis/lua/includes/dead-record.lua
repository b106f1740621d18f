--[[
  deadRecord(id, payload, attempts, firstSeenAt, now, reason): the JSON of a dead letter
  (what `deadList` returns), stored in the dead hash by job id.
]]
local function deadRecord(id, payload, attempts, firstSeenAt, now, reason)
  return cjson.encode({
    id = id, payload = payload, attempts = attempts, firstSeenAt = firstSeenAt,
    deadAt = now, reason = reason,
  })
end
