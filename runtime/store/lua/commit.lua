-- Apply one commit under the lease (see apply_commit). With the release
-- flag, give the lease up unless work arrived meanwhile.
-- KEYS[1] lease, KEYS[2] state, KEYS[3] inbox, KEYS[4] outbox, KEYS[5] timers
-- ARGV as apply_commit.
-- Returns {outcome, -1} without the release flag; with it {outcome, 0}
-- released (the caller then acknowledges the lease's signal, as after
-- Release), or the continuation {outcome, work left, state, inbox, outbox}
-- with the lease kept.
local r = apply_commit(KEYS, ARGV, true)
if r > 0 and ARGV[10] == '1' then
  return release_unless_work_left(r, KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1]) or {r, 0}
end
return {r, -1}
