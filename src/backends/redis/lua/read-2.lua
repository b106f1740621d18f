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
--@include run-meta
--@include first-id
local st, err = runMeta(KEYS[1], false, 'seq', 'createdAt')
if err then return err end
local first = firstId(KEYS[2])
local entries = {}
if tonumber(ARGV[2]) > 0 then
  entries = redis.call('XRANGE', KEYS[2], ARGV[1], '+', 'COUNT', ARGV[2])
end
return { st[1], st[2], first, entries, st[3] or '' }
