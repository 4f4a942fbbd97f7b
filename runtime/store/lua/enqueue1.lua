-- Enqueue on a single Redis (not Cluster), where one script may touch a
-- contact's keys and the signal stream: append the items, then signal the
-- contact — always, even when every item was a duplicate (see Enqueue),
-- unless a worker holds it under a signal still pending (backed): the
-- holder's releasing commit or release sees the items and goes on with
-- them or signals them, and if the holder dies its signal is reclaimed.
-- KEYS[1] inbox, KEYS[2] dedupe, KEYS[3] signal stream, KEYS[4] lease
-- ARGV as enqueue.lua, then the contact and the consumer group.
-- Returns the number of items appended.
local accepted = enqueue_items(KEYS[1], KEYS[2], ARGV)
local holder = redis.call('HGET', KEYS[4], 'sig')
if not (holder and backed(KEYS[3], ARGV[#ARGV], holder)) then
  redis.call('XADD', KEYS[3], '*', 'c', ARGV[#ARGV - 1])
end
return accepted
