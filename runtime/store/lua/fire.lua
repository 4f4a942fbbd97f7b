-- Turn a due timer into an inbox item, once, signal its contact and remove
-- the index entry. A timer that was cancelled, fired already, or replaced
-- by a later SetTimers (another nonce), or whose session expired, is not
-- fired by this entry, which is just removed.
-- KEYS[1] timers (hash: ID -> nonce .. seal .. payload), KEYS[2] inbox,
-- KEYS[3] timer index, KEYS[4] signal stream, KEYS[5] lease
-- ARGV[1] index member, ARGV[2] timer ID, ARGV[3] nonce, ARGV[4] contact,
-- ARGV[5] group
-- Returns 1 if fired now, else 0.
redis.call('ZREM', KEYS[3], ARGV[1])
local v = redis.call('HGET', KEYS[1], ARGV[2])
if not (v and string.sub(v, 1, 16) == ARGV[3]) then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('RPUSH', KEYS[2], lp('timer:' .. ARGV[2]) .. string.sub(v, 17))
signal_unless_backed(KEYS[4], ARGV[5], KEYS[5], ARGV[4])
return 1
