--[[
  Dead-letter maintenance: moves dead jobs back to the stream with a fresh attempt count
  ('retry'), or deletes them ('purge'); the given ids, or all when none are given.

  KEYS[1] dead hash   <prefix>:{<queue>}:work:dead
  KEYS[2] dead index  <prefix>:{<queue>}:work:dead-idx
  KEYS[3] stream      <prefix>:{<queue>}:work:stream
  KEYS[4] stats hash  <prefix>:{<queue>}:work:stats   (unused, reserved)
  ARGV[1] 'retry' or 'purge'
  ARGV[2] at most this many when no ids are given
  ARGV[3..] job ids (none = all, oldest first, up to ARGV[2])

  Result: how many dead jobs were moved or deleted.
]]
local ids = {}
if #ARGV > 2 then
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  ids = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1)
end
local n = 0
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[1], id)
  if raw then
    if ARGV[1] == 'retry' then
      local r = cjson.decode(raw)
      redis.call('XADD', KEYS[3], '*', 'j', r.id, 'p', r.payload, 'a', 0, 't', r.firstSeenAt)
    end
    redis.call('HDEL', KEYS[1], id)
    n = n + 1
  end
  redis.call('ZREM', KEYS[2], id)
end
return n
