-- Extend a lease. KEYS[1] lease; ARGV[1] token, ARGV[2] TTL ms.
-- Returns 1, or 0 when the lease is lost.
if redis.call('HGET', KEYS[1], 'tok') ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
