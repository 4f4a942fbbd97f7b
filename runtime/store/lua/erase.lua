-- Erase everything kept of one contact: session, inbox, timers (and their
-- index entries), dedupe records, dead letters, lease.
-- KEYS[1] state, KEYS[2] inbox, KEYS[3] timers, KEYS[4] dedupe, KEYS[5]
-- lease, KEYS[6] the contact's dead letter set, KEYS[7] dead letters,
-- KEYS[8] dead letter index, KEYS[9] timer index
-- ARGV[1] contact
-- Returns {session erased (0/1), inbox items, timers, dedupe records, dead letters}.
local session = redis.call('DEL', KEYS[1])
local inbox = redis.call('LLEN', KEYS[2])
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  redis.call('ZREM', KEYS[9], timer_member(all[i + 1], ARGV[1], all[i]))
end
local dedupe = redis.call('ZCARD', KEYS[4])
local dead = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[6])) do
  dead = dead + redis.call('HDEL', KEYS[7], id)
  redis.call('ZREM', KEYS[8], id)
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return {session, inbox, #all / 2, dedupe, dead}
