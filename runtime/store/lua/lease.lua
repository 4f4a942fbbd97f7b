-- Try to take a contact's lease for a signal.
-- KEYS[1] lease (hash: tok, sig, seq, owner), KEYS[2] state, KEYS[3] inbox,
-- KEYS[4] outbox
-- ARGV[1] token, ARGV[2] signal stream ID, ARGV[3] TTL ms, ARGV[4] owner
-- Returns {1, state or nil, inbox, outbox} granted (also when this token
-- already holds it: a retried call), with what Load would read, so the
-- holder's first Load costs no round trip; {-1} held, and this very signal granted that lease: it must stay
-- pending so the work is reclaimed if the holder dies; {0, sig} held by
-- another worker whose lease came from signal sig.
local cur = redis.call('HGET', KEYS[1], 'tok')
if not cur then
  redis.call('HSET', KEYS[1], 'tok', ARGV[1], 'sig', ARGV[2], 'seq', 0, 'owner', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1, redis.call('GET', KEYS[2]), redis.call('LRANGE', KEYS[3], 0, -1),
    redis.call('LRANGE', KEYS[4], 0, -1)}
end
if cur == ARGV[1] then
  return {1, redis.call('GET', KEYS[2]), redis.call('LRANGE', KEYS[3], 0, -1),
    redis.call('LRANGE', KEYS[4], 0, -1)}
end
local sig = redis.call('HGET', KEYS[1], 'sig')
if sig == ARGV[2] then
  return {-1}
end
return {0, sig}
