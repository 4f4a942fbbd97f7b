-- Settle an index entry whose timer was not stored under its nonce
-- (cancelled, replaced, fired already, or its commit not applied yet).
-- KEYS[1] timer index; ARGV[1] member, ARGV[2] its stamp (server ms),
-- ARGV[3] grace ms.
-- The commit storing the timer may still be on its way until the entry is
-- grace old (commit.lua refuses entries older than half of it), so until
-- then the entry is looked at again, sooner while it is young (a timer due
-- at once whose commit lands just after the pump looked fires about a
-- second late, not a grace late); after that it is removed.
local now = now_ms()
local stamp = tonumber(ARGV[2])
local age = now - stamp
if age >= tonumber(ARGV[3]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
local next = math.min(now + math.max(1000, age), stamp + tonumber(ARGV[3]))
redis.call('ZADD', KEYS[1], 'XX', next, ARGV[1])
return 0
