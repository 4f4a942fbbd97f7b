-- Apply one commit under the lease, all or nothing.
-- KEYS[1] lease, KEYS[2] state, KEYS[3] inbox, KEYS[4] outbox, KEYS[5] timers
-- ARGV[1] token, ARGV[2] commits already applied under this lease (seq),
-- ARGV[3] lease TTL ms, ARGV[4] state mode (0 keep, 1 set, 2 delete),
-- ARGV[5] state, ARGV[6] items consumed, ARGV[7] max age ms of the timer
-- index entries, ARGV[8] their creation time (server ms), ARGV[9] digest of
-- the commit's content, then: n outbox entries, the entries; n timers to set, (ID, nonce, payload)
-- triples; n timers to cancel, the IDs.
-- Returns 1 applied; 2 applied before (a retry: same sequence number and
-- digest as the last commit); 0 lease lost or out of sequence;
-- -1 timer index entries too old (re-index and retry); -2 inbox too short.
if redis.call('HGET', KEYS[1], 'tok') ~= ARGV[1] then
  return 0
end
local seq, want = tonumber(redis.call('HGET', KEYS[1], 'seq')), tonumber(ARGV[2])
if seq == want + 1 and redis.call('HGET', KEYS[1], 'last') == ARGV[9] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 2
end
if seq ~= want then
  return 0
end
local consumed = tonumber(ARGV[6])
if consumed > redis.call('LLEN', KEYS[3]) then
  return -2
end
local i = 10
local nout = tonumber(ARGV[i])
local outs = i + 1
i = outs + nout
local nset = tonumber(ARGV[i])
local sets = i + 1
i = sets + 3 * nset
local ncancel = tonumber(ARGV[i])
local cancels = i + 1
-- The timer pump drops an index entry whose timer is missing once it is
-- older than twice this age, so storing a timer after that would leave it
-- without an index entry: refuse, and let the client index it again.
if nset > 0 and now_ms() - tonumber(ARGV[8]) > tonumber(ARGV[7]) then
  return -1
end

if ARGV[4] == '1' then
  redis.call('SET', KEYS[2], ARGV[5])
elseif ARGV[4] == '2' then
  redis.call('DEL', KEYS[2])
end
if consumed > 0 then
  redis.call('LTRIM', KEYS[3], consumed, -1)
end
redis.call('DEL', KEYS[4])
for j = 0, nout - 1 do
  redis.call('RPUSH', KEYS[4], ARGV[outs + j])
end
for j = 0, ncancel - 1 do
  redis.call('HDEL', KEYS[5], ARGV[cancels + j])
end
for j = 0, nset - 1 do
  local k = sets + 3 * j
  redis.call('HSET', KEYS[5], ARGV[k], ARGV[k + 1] .. ARGV[k + 2])
end
redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[9])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
