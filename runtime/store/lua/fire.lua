-- Turn a due timer into an inbox item, once.
-- KEYS[1] timers (hash: ID -> nonce .. payload), KEYS[2] inbox
-- ARGV[1] timer ID, ARGV[2] nonce of the index entry
-- Returns {1 if fired now else 0, inbox length}. A timer that was cancelled,
-- fired already, or replaced by a later SetTimers (another nonce) is not
-- fired by this entry.
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, 16) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  local id = 'timer:' .. ARGV[1]
  redis.call('RPUSH', KEYS[2], string.len(id) .. ':' .. id .. string.sub(v, 17))
  return {1, redis.call('LLEN', KEYS[2])}
end
return {0, redis.call('LLEN', KEYS[2])}
