--[[
  Moves due delayed jobs (and retries whose back-off passed) to the stream, oldest first.

  KEYS[1] delayed zset  <prefix>:{<queue>}:work:delayed
  KEYS[2] delayed data  <prefix>:{<queue>}:work:delayed-data
  KEYS[3] stream        <prefix>:{<queue>}:work:stream
  ARGV[1] now (epoch ms)
  ARGV[2] at most this many per call

  Result: { moved, due time of the earliest job still delayed or -1 }.
]]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    local r = cjson.decode(raw)
    if r.e then
      redis.call('XADD', KEYS[3], '*', 'j', r.j, 'p', r.p, 'a', r.a, 't', r.t, 'e', r.e)
    else
      redis.call('XADD', KEYS[3], '*', 'j', r.j, 'p', r.p, 'a', r.a, 't', r.t)
    end
    redis.call('HDEL', KEYS[2], id)
  end
  redis.call('ZREM', KEYS[1], id)
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if nxt[2] then
  return { #due, tonumber(nxt[2]) }
end
return { #due, -1 }
