-- Queue a dead letter's item again at the end of its contact's inbox (no
-- dedupe: it was seen before) and forget the dead letter.
-- KEYS[1] dead letters, KEYS[2] dead letter index, KEYS[3] the contact's
-- dead letter set, KEYS[4] inbox, KEYS[5] signal stream, KEYS[6] lease
-- ARGV[1] id, ARGV[2] the record as read, ARGV[3] its item, ARGV[4]
-- contact, ARGV[5] group
-- Returns 1, or 0 when the record is gone or changed meanwhile.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('RPUSH', KEYS[4], ARGV[3])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
signal_unless_backed(KEYS[5], ARGV[5], KEYS[6], ARGV[4])
return 1
