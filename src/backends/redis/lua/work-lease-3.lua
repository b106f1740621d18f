--[[
  Changes leases held by this consumer: 'extend' renews one so that it runs out in `ms`
  (XCLAIM IDLE visibility - ms, same count, JUSTID); 'release' gives leases back so the
  next reclaim pass takes them at once (IDLE far in the past, count - 1 so that claim lands
  on the same attempt, marked in the released hash so it is not counted as a redelivery).
  Leases that are stale are skipped (release) or refused and counted (extend).

  KEYS[1] stream        <prefix>:{<queue>}:work:stream
  KEYS[2] stats hash    <prefix>:{<queue>}:work:stats  (extend counts stale leases)
  KEYS[3] released hash <prefix>:{<queue>}:work:released
  ARGV[1] group
  ARGV[2] consumer
  ARGV[3] 'extend' or 'release'
  ARGV[4] extend: the idle time to set (visibility - ms); release: unused
  ARGV[5..] pairs: entry id, delivery count

  Result: how many leases were changed.
]]
--@include lease-held
local n = 0
for k = 5, #ARGV, 2 do
  local eid, count = ARGV[k], tonumber(ARGV[k + 1])
  if leaseHeld(KEYS[1], ARGV[1], ARGV[2], eid, count) then
    if ARGV[3] == 'extend' then
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, eid, 'IDLE', ARGV[4],
        'RETRYCOUNT', count, 'JUSTID')
    else
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, eid, 'IDLE', 1000000000000,
        'RETRYCOUNT', count - 1, 'JUSTID')
      redis.call('HSET', KEYS[3], eid, '1')
    end
    n = n + 1
  elseif ARGV[3] == 'extend' then
    redis.call('HINCRBY', KEYS[2], 'lateAcks', 1)
  end
end
return n
