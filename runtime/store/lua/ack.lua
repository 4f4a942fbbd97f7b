-- Acknowledge a signal and delete it, so the stream only holds open work.
-- KEYS[1] signal stream; ARGV[1] group, ARGV[2] entry ID
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return redis.call('XDEL', KEYS[1], ARGV[2])
