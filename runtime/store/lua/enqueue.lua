-- Append new items to a contact's inbox, skipping IDs seen before.
-- KEYS[1] inbox (list), KEYS[2] dedupe (zset: item ID -> forget-after ms)
-- ARGV[1] n, then n triples: dedupe ID ('' = none), TTL ms, encoded item
-- Returns the number of items appended.
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local accepted, remembered = 0, false
for i = 0, tonumber(ARGV[1]) - 1 do
  local id, ttl, item = ARGV[2 + 3 * i], tonumber(ARGV[3 + 3 * i]), ARGV[4 + 3 * i]
  local new = true
  if id ~= '' then
    if redis.call('ZSCORE', KEYS[2], id) then
      new = false
    else
      redis.call('ZADD', KEYS[2], now + ttl, id)
      remembered = true
    end
  end
  if new then
    redis.call('RPUSH', KEYS[1], item)
    accepted = accepted + 1
  end
end
if remembered then
  -- The whole set goes when its youngest record would: idle contacts leave
  -- nothing behind.
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[2], last[2])
end
return accepted
