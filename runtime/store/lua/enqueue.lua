-- Append new items to a contact's inbox, skipping IDs seen before.
-- KEYS[1] inbox (list), KEYS[2] dedupe (zset: item ID -> forget-after ms),
-- KEYS[3] lease
-- ARGV[1] n, then n triples: dedupe ID ('' = none), TTL ms, encoded item
-- Returns {items appended, the signal of the lease holding the contact or
-- ''}: if that signal is still pending, the contact needs no new one (see
-- enqueue1.lua).
local holder = redis.call('HGET', KEYS[3], 'sig')
return {enqueue_items(KEYS[1], KEYS[2], ARGV), holder or ''}
