-- Commit on a single Redis (not Cluster), where one script may touch a
-- contact's keys and the global ones: the commit, its timers' index
-- entries and, with the release flag, the release (unless work arrived
-- meanwhile) with the acknowledgement of the lease's signal — one command
-- per turn.
-- KEYS[1] lease, KEYS[2] state, KEYS[3] inbox, KEYS[4] outbox, KEYS[5]
-- timers, KEYS[6] timer index, KEYS[7] signal stream
-- ARGV as apply_commit, then: contact, group, the lease's signal ('' if
-- none), and per timer set, its due ms and index member tail
-- ("<nonce>:<len>:<contact><id>").
-- Returns as commit.lua; a release is complete.
local r, i = apply_commit(KEYS, ARGV, false)
if r == 1 then
  -- Written with the timers they index: the age check is moot.
  local stamp = string.format('%.0f', now_ms())
  for j = i + 3, #ARGV, 2 do
    redis.call('ZADD', KEYS[6], ARGV[j], stamp .. ':' .. ARGV[j + 1])
  end
end
if r > 0 and ARGV[10] == '1' then
  local more = release_unless_work_left(r, KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
  if not more then
    resignal_and_ack(KEYS[7], 0, ARGV[i], ARGV[i + 1], ARGV[i + 2])
  end
  return more or {r, 0}
end
return {r, -1}
