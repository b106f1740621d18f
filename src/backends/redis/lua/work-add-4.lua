--[[
  Adds a batch of work jobs that need more than a plain XADD: jobs with an idempotency key
  (SET NX PX on a per-id key) and delayed jobs (a sorted set of due times plus a hash of
  job records). Atomic: no other command sees half the batch.

  KEYS[1] stream        <prefix>:{<queue>}:work:stream
  KEYS[2] delayed zset  <prefix>:{<queue>}:work:delayed       (member -> due ms)
  KEYS[3] delayed data  <prefix>:{<queue>}:work:delayed-data  (member -> JSON record)
  KEYS[4] id-key prefix <prefix>:{<queue>}:work:id:           (a prefix, not a key itself:
                        the script SETs <prefix><job id>; same hash tag, same slot)
  ARGV[1] now (epoch ms)
  ARGV[2] idempotency TTL (ms)
  ARGV[3..] quads: job id ('' = use the stream entry id), dedup ('1' = the id is an
          idempotency key), payload, delay ms ('0' = none)

  Result: a flat array, per job: its id, then '1' if it was a duplicate else '0'.
]]
local now = tonumber(ARGV[1])
local ttl = ARGV[2]
local out = {}
for i = 3, #ARGV, 4 do
  local id, dedup, payload, delay = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local dup = false
  if dedup == '1' then
    dup = not redis.call('SET', KEYS[4] .. id, '1', 'NX', 'PX', ttl)
  end
  if dup then
    out[#out + 1] = id
    out[#out + 1] = '1'
  else
    if delay > 0 then
      -- The member is unique per delayed job, so a reused id never overwrites another job.
      local member = id .. '\0' .. ARGV[1] .. '\0' .. i
      redis.call('ZADD', KEYS[2], now + delay, member)
      redis.call('HSET', KEYS[3], member, cjson.encode({ j = id, p = payload, a = 0, t = now }))
    elseif id == '' then
      id = redis.call('XADD', KEYS[1], '*', 'p', payload)
    else
      redis.call('XADD', KEYS[1], '*', 'j', id, 'p', payload)
    end
    out[#out + 1] = id
    out[#out + 1] = '0'
  end
end
return out
