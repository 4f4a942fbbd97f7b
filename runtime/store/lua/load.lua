-- Read a contact under its lease.
-- KEYS[1] lease, KEYS[2] state, KEYS[3] inbox; ARGV[1] token
-- Returns {0} when the lease is lost, else {1, state or nil, inbox}.
if redis.call('HGET', KEYS[1], 'tok') ~= ARGV[1] then
  return {0}
end
return {1, redis.call('GET', KEYS[2]), redis.call('LRANGE', KEYS[3], 0, -1)}
