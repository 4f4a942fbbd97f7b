-- Release on a single Redis (not Cluster), where one script may touch a
-- contact's keys and the signal stream: give the lease up, signal the
-- contact again when work is left, then acknowledge the lease's signal. The
-- same three steps as the Cluster path, in the same order, in one round trip.
-- KEYS[1] lease, KEYS[2] inbox, KEYS[3] outbox, KEYS[4] signal stream
-- ARGV[1] token, ARGV[2] contact, ARGV[3] group, ARGV[4] the lease's signal ('' if none)
-- Returns the number of inbox items plus outbox entries.
if redis.call('HGET', KEYS[1], 'tok') == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
local left = redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[3])
if left > 0 then
  redis.call('XADD', KEYS[4], '*', 'c', ARGV[2])
end
if ARGV[4] ~= '' then
  redis.call('XACK', KEYS[4], ARGV[3], ARGV[4])
  redis.call('XDEL', KEYS[4], ARGV[4])
end
return left
