-- Append items to a contact's inbox (see enqueue_items), then signal the
-- contact — always, even when every item was a duplicate (see Enqueue),
-- unless a worker holds it under a signal still pending: the holder's
-- releasing commit or release sees the items and goes on with them or
-- signals them, and if the holder dies its signal is reclaimed.
-- KEYS[1] inbox (list), KEYS[2] dedupe (zset: item ID -> forget-after ms),
-- KEYS[3] signal stream, KEYS[4] lease
-- ARGV[1] n, then n triples: dedupe ID ('' = none), TTL ms, encoded item;
-- then the contact, the consumer group and the inbox's capacity.
-- Returns {items appended, items refused for want of room}.
local accepted, refused = enqueue_items(KEYS[1], KEYS[2], ARGV, tonumber(ARGV[#ARGV]))
signal_unless_backed(KEYS[3], ARGV[#ARGV - 1], KEYS[4], ARGV[#ARGV - 2])
return {accepted, refused}
