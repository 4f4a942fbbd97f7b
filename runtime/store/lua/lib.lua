-- Functions shared by the scripts (prepended to each of them, after the
-- prelude). Each takes its keys as arguments, so a script decides which
-- keys it touches and passes them in KEYS.

-- Append new items to an inbox, skipping IDs seen before.
-- args: n, then n triples: dedupe ID ('' = none), TTL ms, encoded item.
-- Returns the number of items appended.
local function enqueue_items(inbox, dedupe, args)
  local now = now_ms()
  redis.call('ZREMRANGEBYSCORE', dedupe, '-inf', now)
  local accepted, remembered = 0, false
  for i = 0, tonumber(args[1]) - 1 do
    local id, ttl, item = args[2 + 3 * i], tonumber(args[3 + 3 * i]), args[4 + 3 * i]
    local new = true
    if id ~= '' then
      if redis.call('ZSCORE', dedupe, id) then
        new = false
      else
        redis.call('ZADD', dedupe, now + ttl, id)
        remembered = true
      end
    end
    if new then
      redis.call('RPUSH', inbox, item)
      accepted = accepted + 1
    end
  end
  if remembered then
    -- The whole set goes when its youngest record would: idle contacts
    -- leave nothing behind.
    local last = redis.call('ZRANGE', dedupe, -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', dedupe, last[2])
  end
  return accepted
end

-- Apply one commit under the lease, all or nothing.
-- keys: lease, state, inbox, outbox, timers (the contact's).
-- args: token, commits already applied under this lease (seq), lease TTL
-- ms, state mode (0 keep, 1 set, 2 delete), state, items consumed, max age
-- ms of the timer index entries, their creation time (server ms), digest of
-- the commit's content, release after applying (0/1), then: n outbox
-- entries, the entries; n timers to set, (ID, nonce, payload) triples; n
-- timers to cancel, the IDs.
-- check_age: whether the index entries were written by an earlier call
-- (Cluster), whose age must be checked; a script that writes them itself
-- passes false.
-- Returns the outcome — 1 applied; 2 applied before (a retry: same sequence
-- number and digest as the last commit); 0 lease lost or out of sequence;
-- -1 timer index entries too old (re-index and retry); -2 inbox too short —
-- and the index of the first argument after the commit's.
local function apply_commit(keys, args, check_age)
  local lease, state, inbox, outbox, timers = keys[1], keys[2], keys[3], keys[4], keys[5]
  local i = 11
  local nout = tonumber(args[i])
  local outs = i + 1
  i = outs + nout
  local nset = tonumber(args[i])
  local sets = i + 1
  i = sets + 3 * nset
  local ncancel = tonumber(args[i])
  local cancels = i + 1
  local after = cancels + ncancel

  if redis.call('HGET', lease, 'tok') ~= args[1] then
    return 0, after
  end
  local seq, want = tonumber(redis.call('HGET', lease, 'seq')), tonumber(args[2])
  if seq == want + 1 and redis.call('HGET', lease, 'last') == args[9] then
    redis.call('PEXPIRE', lease, args[3])
    return 2, after
  end
  if seq ~= want then
    return 0, after
  end
  local consumed = tonumber(args[6])
  if consumed > redis.call('LLEN', inbox) then
    return -2, after
  end
  -- The timer pump drops an index entry whose timer is missing once it is
  -- older than twice this age, so storing a timer after that would leave it
  -- without an index entry: refuse, and let the client index it again.
  if check_age and nset > 0 and now_ms() - tonumber(args[8]) > tonumber(args[7]) then
    return -1, after
  end

  if args[4] == '1' then
    redis.call('SET', state, args[5])
  elseif args[4] == '2' then
    redis.call('DEL', state)
  end
  if consumed > 0 then
    redis.call('LTRIM', inbox, consumed, -1)
  end
  redis.call('DEL', outbox)
  for j = 0, nout - 1 do
    redis.call('RPUSH', outbox, args[outs + j])
  end
  for j = 0, ncancel - 1 do
    redis.call('HDEL', timers, args[cancels + j])
  end
  for j = 0, nset - 1 do
    local k = sets + 3 * j
    redis.call('HSET', timers, args[k], args[k + 1] .. args[k + 2])
  end
  redis.call('HINCRBY', lease, 'seq', 1)
  redis.call('HSET', lease, 'last', args[9])
  redis.call('PEXPIRE', lease, args[3])
  return 1, after
end

-- Give a lease up if it is the token's, and report the work left: the
-- number of inbox items plus outbox entries.
local function release_lease(lease, inbox, outbox, token)
  if redis.call('HGET', lease, 'tok') == token then
    redis.call('DEL', lease)
  end
  return redis.call('LLEN', inbox) + redis.call('LLEN', outbox)
end

-- After a release on a single Redis: signal the contact again when work is
-- left, then acknowledge the lease's signal (sig, '' if none) — in this
-- order, so the stream always holds a signal for open work.
local function resignal_and_ack(stream, left, contact, group, sig)
  if left > 0 then
    redis.call('XADD', stream, '*', 'c', contact)
  end
  if sig ~= '' then
    redis.call('XACK', stream, group, sig)
    redis.call('XDEL', stream, sig)
  end
end

-- Take a contact's lease for a signal.
-- keys: lease (hash: tok, sig, seq, owner), state, inbox, outbox.
-- args: token, signal stream ID, TTL ms, owner.
-- Returns {1, state or nil, inbox, outbox} granted (also when this token
-- already holds it: a retried call), with what Load would read, so the
-- holder's first Load costs no round trip; {-1} held, and this very signal
-- granted that lease: it must stay pending so the work is reclaimed if the
-- holder dies; {0, sig} held by another worker whose lease came from
-- signal sig.
local function take_lease(keys, args)
  local lease, state, inbox, outbox = keys[1], keys[2], keys[3], keys[4]
  local cur = redis.call('HGET', lease, 'tok')
  if not cur then
    redis.call('HSET', lease, 'tok', args[1], 'sig', args[2], 'seq', 0, 'owner', args[4])
    redis.call('PEXPIRE', lease, args[3])
  elseif cur ~= args[1] then
    local sig = redis.call('HGET', lease, 'sig')
    if sig == args[2] then
      return {-1}
    end
    return {0, sig}
  end
  return {1, redis.call('GET', state), redis.call('LRANGE', inbox, 0, -1),
    redis.call('LRANGE', outbox, 0, -1)}
end

-- Whether a signal for a contact leased by a holder whose lease came from
-- signal holder would be redundant: when the holder's own signal is still
-- pending, the holder sees the work (stored before the signal) before it
-- releases, or, if the holder dies, its pending signal is reclaimed. A
-- lease can come from a signal acknowledged meanwhile (a duplicate
-- delivery); then a new signal must stand for the work.
local function backed(stream, group, holder)
  return #redis.call('XPENDING', stream, group, holder, holder, 1) > 0
end

-- Acknowledge a signal whose contact is leased, if it is redundant
-- (backed). Returns 1 acknowledged, 0 kept.
local function ack_if_redundant(stream, group, sig, holder)
  if not backed(stream, group, holder) then
    return 0
  end
  redis.call('XACK', stream, group, sig)
  redis.call('XDEL', stream, sig)
  return 1
end

-- After a commit that asked to release: when work is left (inbox items
-- or outbox entries), keep the lease and return {outcome, work left,
-- state, inbox, outbox}, the holder's next Load; else give the lease up and
-- return nil.
local function release_unless_work_left(r, lease, state, inbox, outbox, token)
  local left = redis.call('LLEN', inbox) + redis.call('LLEN', outbox)
  if left > 0 then
    return {r, left, redis.call('GET', state), redis.call('LRANGE', inbox, 0, -1),
      redis.call('LRANGE', outbox, 0, -1)}
  end
  release_lease(lease, inbox, outbox, token)
  return nil
end
