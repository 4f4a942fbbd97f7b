-- Give a lease up (if still ours) and report the work left.
-- KEYS[1] lease, KEYS[2] inbox, KEYS[3] outbox; ARGV[1] token
-- Returns the number of inbox items plus outbox entries.
if redis.call('HGET', KEYS[1], 'tok') == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[3])
