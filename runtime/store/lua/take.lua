-- Take up to n tokens of a rate bucket shared by the replicas sending for
-- one account: GCRA, the bucket being the theoretical arrival time (TAT) of
-- the next token, in server microseconds.
-- KEYS[1] bucket
-- ARGV[1] emission interval µs (1e6 / rate), ARGV[2] burst (tokens), ARGV[3] n
-- Returns {granted, wait µs}: the tokens granted now (0..n); with none, how
-- long until n are free — a caller short of tokens asks again for a whole
-- batch, not one round trip per token.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or 0) or 0, now)
-- This script never sets the TAT beyond now + tolerance: a value further
-- out was written by something else (or for a slower rate) and would
-- throttle the account for as long. It counts as a full bucket's use.
tat = math.min(tat, now + tolerance)
local granted = math.min(tonumber(ARGV[3]), math.floor((now + tolerance - tat) / interval))
if granted < 1 then
  return {0, math.ceil(tat + tonumber(ARGV[3]) * interval - tolerance - now)}
end
tat = tat + granted * interval
-- Forgotten once full again: an idle account leaves nothing behind.
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
return {granted, 0}
