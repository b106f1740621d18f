--[[
  Reads a stretch of a run's log (or inbox) together with the run's state, in one
  consistent snapshot.

  KEYS[1] meta hash    <prefix>:{<run>}:meta
  KEYS[2] stream       <prefix>:{<run>}:log (or :inbox)
  ARGV[1] start id     `<afterSeq + 1>-0`
  ARGV[2] limit        at most this many entries

  Result: { status, last log seq, id of the first retained entry or '', entries, createdAt }
  where entries is an XRANGE reply; error RUNBUS_RUN_NOT_FOUND.
]]
local st = redis.call('HMGET', KEYS[1], 'status', 'seq', 'createdAt')
if not st[1] then
  return redis.error_reply('RUNBUS_RUN_NOT_FOUND')
end
local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local firstId = ''
if head[1] then
  firstId = head[1][1]
end
local entries = {}
if tonumber(ARGV[2]) > 0 then
  entries = redis.call('XRANGE', KEYS[2], ARGV[1], '+', 'COUNT', ARGV[2])
end
return { st[1], st[2], firstId, entries, st[3] or '' }
