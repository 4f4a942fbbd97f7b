-- Apply one commit under the lease (see apply_commit): the state, the
-- items consumed (the first one maybe kept as a dead letter), the timers
-- with their index entries, the session's retention; with the release flag,
-- give the lease up unless work arrived meanwhile, and acknowledge the
-- lease's signal — one command per turn.
-- KEYS[1] lease, KEYS[2] state, KEYS[3] inbox, KEYS[4] timers, KEYS[5]
-- timer index, KEYS[6] signal stream, KEYS[7] dead letters, KEYS[8] dead
-- letter index, KEYS[9] the contact's dead letter set
-- ARGV as apply_commit.
-- Returns {outcome, -1, dropped} without the release flag; with it
-- {outcome, 0, dropped} released, or the continuation {outcome, work left,
-- dropped, state, inbox} with the lease kept.
local r, dropped = apply_commit(KEYS, ARGV)
if r > 0 and ARGV[8] == '1' then
  local more = release_unless_work_left(r, dropped, KEYS[1], KEYS[2], KEYS[3], ARGV[1])
  if not more then
    resignal_and_ack(KEYS[6], 0, ARGV[13], ARGV[14], ARGV[15])
  end
  return more or {r, 0, dropped}
end
return {r, -1, dropped}
