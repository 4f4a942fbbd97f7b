-- Append new items to a contact's inbox, skipping IDs seen before.
-- KEYS[1] inbox (list), KEYS[2] dedupe (zset: item ID -> forget-after ms),
-- KEYS[3] lease
-- ARGV[1] n, then n triples: dedupe ID ('' = none), TTL ms, encoded item
-- Returns {items appended, 1 if the contact is leased else 0}: a leased
-- contact needs no signal, its holder sees the items before it lets go.
return {enqueue_items(KEYS[1], KEYS[2], ARGV), redis.call('EXISTS', KEYS[3])}
