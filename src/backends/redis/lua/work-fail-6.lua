--[[
  Settles a failed attempt: back to the queue (now or after a back-off) or to the dead
  letters. Only the current lease holder may: the entry must be pending to this consumer
  with the same delivery count, else the call is refused and counted as a late ack.

  KEYS[1] stream        <prefix>:{<queue>}:work:stream
  KEYS[2] delayed zset  <prefix>:{<queue>}:work:delayed
  KEYS[3] delayed data  <prefix>:{<queue>}:work:delayed-data
  KEYS[4] dead hash     <prefix>:{<queue>}:work:dead
  KEYS[5] dead index    <prefix>:{<queue>}:work:dead-idx
  KEYS[6] stats hash    <prefix>:{<queue>}:work:stats
  ARGV[1] group
  ARGV[2] consumer
  ARGV[3] entry id
  ARGV[4] delivery count of the lease
  ARGV[5] 'retry' or 'dead'
  ARGV[6] retry: delay ms; dead: unused
  ARGV[7] retry: the error; dead: the reason
  ARGV[8] now (epoch ms)

  Result: 1 when settled, 0 when the lease was stale.
]]
--@include lease-held
--@include entry-fields
--@include dead-record
local eid = ARGV[3]
if not leaseHeld(KEYS[1], ARGV[1], ARGV[2], eid, tonumber(ARGV[4])) then
  redis.call('HINCRBY', KEYS[6], 'lateAcks', 1)
  return 0
end
local e = redis.call('XRANGE', KEYS[1], eid, eid)
local f = {}
if e[1] then
  f = entryFields(e[1][2])
end
local id = f.j or eid
local attempts = tonumber(f.a or '0') + tonumber(ARGV[4])
local first = tonumber(f.t or string.match(eid, '^(%d+)'))
local now = tonumber(ARGV[8])
redis.call('XACK', KEYS[1], ARGV[1], eid)
redis.call('XDEL', KEYS[1], eid)
redis.call('HINCRBY', KEYS[6], 'failed', 1)
if ARGV[5] == 'dead' then
  redis.call('HSET', KEYS[4], id, deadRecord(id, f.p or '', attempts, first, now, ARGV[7]))
  redis.call('ZADD', KEYS[5], now, id)
else
  local delay = tonumber(ARGV[6])
  if delay > 0 then
    -- Keyed by the entry id: unique, so a reused job id never overwrites another job.
    redis.call('ZADD', KEYS[2], now + delay, eid)
    redis.call('HSET', KEYS[3], eid, cjson.encode({
      j = id, p = f.p or '', a = attempts, t = first, e = ARGV[7],
    }))
  else
    redis.call('XADD', KEYS[1], '*', 'j', id, 'p', f.p or '', 'a', attempts, 't', first,
      'e', ARGV[7])
  end
end
return 1
