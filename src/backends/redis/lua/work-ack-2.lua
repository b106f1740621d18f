--[[
  Acknowledges a batch of leases with one multi-id XACK. A lease is honoured only if its
  entry is still pending to this consumer with the same delivery count; otherwise it is
  stale (the job was redelivered, or already settled) and is refused and counted as a late
  ack.

  Settled entries are not deleted one by one (XDEL costs more than everything else here):
  the stream is trimmed up to the oldest entry still pending (XTRIM MINID ~, whole nodes),
  which never touches a pending or undelivered entry. `waiting` comes from the group's lag.

  KEYS[1] stream      <prefix>:{<queue>}:work:stream
  KEYS[2] stats hash  <prefix>:{<queue>}:work:stats
  ARGV[1] group
  ARGV[2] consumer
  ARGV[3] smallest entry id of the batch
  ARGV[4] largest entry id of the batch
  ARGV[5..] pairs: entry id, delivery count

  Result: the 1-based positions (pair index) of the refused leases.
]]
local n = (#ARGV - 4) / 2
local owned = {}
-- This consumer's entries in the batch's id range: its own jobs still running may sit
-- between the batch's ids, so the count is generous (a consumer holds few).
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[4], n + 100000, ARGV[2])
for _, p in ipairs(pending) do
  owned[p[1]] = p[4]
end
local ok = {}
local late = {}
for k = 1, n do
  local eid, count = ARGV[3 + 2 * k], tonumber(ARGV[4 + 2 * k])
  if owned[eid] == count then
    ok[#ok + 1] = eid
    owned[eid] = nil -- the same lease twice in a batch: the second is late
  else
    late[#late + 1] = k
  end
end
for i = 1, #ok, 1000 do
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ok, i, math.min(i + 999, #ok)))
end
if #ok > 0 then
  redis.call('HINCRBY', KEYS[2], 'completed', #ok)
  -- Everything older than the oldest pending entry is settled; with nothing pending,
  -- everything up to this batch's largest id is.
  local oldest = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1)
  local minid
  if oldest[1] then
    minid = oldest[1][1]
  else
    local ms, seq = string.match(ARGV[4], '^(%d+)-(%d+)$')
    minid = ms .. '-' .. (tonumber(seq) + 1)
  end
  redis.call('XTRIM', KEYS[1], 'MINID', '~', minid)
end
if #late > 0 then
  redis.call('HINCRBY', KEYS[2], 'lateAcks', #late)
end
return late
