-- Move contacts of a campaign forward in its ledger and keep the counts per
-- state. A contact only moves forward: accepted (1) < started (2) <
-- done (3) | failed (4); the first final state wins, so marking again (a
-- replayed turn, a retried request) changes nothing.
-- KEYS[1] hash contact -> state, KEYS[2] hash state -> contacts at it
-- ARGV[1] state, ARGV[2] TTL seconds, ARGV[3..] contacts
-- Returns the state of each contact before the call (0: not in the ledger).
local st = tonumber(ARGV[1])
local function rank(s) if s >= 3 then return 3 end return s end
local out = {}
for i = 3, #ARGV do
  local old = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  out[#out + 1] = old
  if rank(st) > rank(old) then
    redis.call('HSET', KEYS[1], ARGV[i], st)
    if old > 0 then redis.call('HINCRBY', KEYS[2], old, -1) end
    redis.call('HINCRBY', KEYS[2], st, 1)
  end
end
if #ARGV > 2 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return out
