-- Add timer index entries, stamped with the server time.
-- KEYS[1] timer index (zset: member -> due ms)
-- ARGV: pairs of due ms and member tail ("<nonce>:<len>:<contact><id>")
-- Returns the stamp (server ms), which the commit storing the timers checks.
local now = now_ms()
local stamp = string.format('%.0f', now)
for i = 1, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], stamp .. ':' .. ARGV[i + 1])
end
return now
