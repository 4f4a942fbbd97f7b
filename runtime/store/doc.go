// Package store is the executor's session store: per contact, an inbox of
// work items, the flow state, an outbox of effects not yet performed, and
// durable timers; plus the leases that make one worker (of any replica) at a
// time work on a contact. It owns the Redis key layout and Lua scripts and
// the in-memory equivalent.
//
// State, items and outbox entries are opaque bytes: the store knows nothing
// about flows, channels or messages, and must not import runtime/flow,
// runtime/channel, runtime/executor or runtime/expr.
//
// # How the executor uses it
//
//	lease := Acquire(ctx)       // blocks until some contact has work nobody holds
//	for {
//	    snap := Load(ctx, lease) // state + inbox in order (on Redis read already by Acquire or Commit)
//	    for each inbox item:
//	        state', effects := Step(state, item); perform the effects
//	        Commit(State: state', Consumed: 1, SetTimers/CancelTimers, Release: last item)
//	    if lease.Released() { break } // else items arrived meanwhile: go on with them
//	}
//	Release(ctx, lease)         // after an error or an empty snapshot; a no-op once released
//
// The executor performs a turn's effects before the commit that consumes its
// item, so a crash in between replays the turn (sends at-least-once, state
// exactly-once). The outbox is for callers that want effects written
// before they are performed instead: the next holder of the lease sees them.
//
// A webhook answers 200 only after Enqueue returned nil.
//
// # Guarantees (both stores)
//
//   - Per contact, items are seen in Enqueue order and one worker holds the
//     contact at a time, across replicas.
//   - An item ID is remembered for DedupeTTL (7 days), also within one
//     Enqueue call and after the item was consumed; items without ID are
//     never deduplicated against each other.
//   - A Commit pops Consumed items from the inbox atomically with the state
//     write and the outbox replacement, and only under a live lease
//     (ErrLeaseLost otherwise, with nothing written): each item changes the
//     state exactly once. A Commit retried with the same lease after an error
//     is applied at most once (a per-lease sequence number and a digest of
//     the last commit); a different commit with a stale lease copy is
//     refused with ErrLeaseLost.
//   - Effects committed to the outbox survive a crashed worker: the next
//     lease sees them, so sends are at-least-once.
//   - A lease that is neither committed nor renewed expires after LeaseTTL,
//     and the contact is taken over by another worker or replica.
//   - A due timer becomes the inbox item {ID: "timer:"+ID, Payload} exactly
//     once, whichever replicas race; SetTimers with an existing ID replaces
//     it; CancelTimers of a timer that fired already is a no-op (the
//     executor ignores stale timer items). An ID that fired may be set again.
//   - Acquire may hand out a contact whose work was already done (a
//     left-over signal); Load then shows an empty inbox and outbox and the
//     worker just releases it.
//
// # Redis
//
// Keys (ns = Options.Namespace, c = contact):
//
//	chatflow:<ns>:{<ns>|<c>}:inbox   list of items, "<len(id)>:<id><payload>"
//	chatflow:<ns>:{<ns>|<c>}:state   string
//	chatflow:<ns>:{<ns>|<c>}:outbox  list
//	chatflow:<ns>:{<ns>|<c>}:lease   hash tok, sig, seq, last, owner; PEXPIRE = lease TTL
//	chatflow:<ns>:{<ns>|<c>}:dedupe  zset item ID -> forget-after ms; expires with its last record
//	chatflow:<ns>:{<ns>|<c>}:timers  hash timer ID -> nonce(16 hex) .. payload
//	chatflow:<ns>:{<ns>}:signals     stream of {c}, consumer group "workers"
//	chatflow:<ns>:{<ns>}:timers      zset "<stamp>:<nonce>:<len(c)>:<c><timer ID>" -> due ms
//	chatflow:rate:{<bucket>}         string: GCRA arrival time (µs) of an account's send rate, shared by flows
//
// Every key of a contact shares the hash tag {<ns>|<c>}, so each Lua script
// (lua/*.lua) touches one slot: the keys of one contact, or one global key,
// only ever through KEYS. On Redis ≥ 7 the scripts carry a "#!lua" line, so
// Redis Cluster itself refuses any access outside that slot; the test suite
// runs the whole contract on a one-node cluster to prove it. Against a single
// Redis (no Cluster), the steps that would cross slots run as one script
// each, which declares allow-cross-slot-keys and is never used with a
// cluster: enqueue1, lease1, commit1 and release1 (the "1" scripts). The
// scripts share their bodies through lua/lib.lua. A turn then costs three
// commands: enqueue1, lease1 (pipelined with the others of its read) and
// commit1 — two when the holder goes on with the next item. Enqueues and
// commits that goroutines issue at the same time share a pipeline (one
// write and one read for the batch; the batcher in redis_batch.go).
//
//   - Enqueue: enqueue.lua appends the new items and records their IDs,
//     then XADD a signal, even when every item was a duplicate (a retry
//     after a failure between the two is what gets the work noticed) —
//     unless the contact is leased under a signal still pending: its
//     holder sees the items before it lets go, and if the holder dies that
//     signal is reclaimed (the rule ackbusy applies to a signal read while
//     the contact is held). Most turns of a busy contact so skip the stream
//     altogether.
//   - Acquire: while workers wait, each replica reads with XREADGROUP as many
//     signals as it has workers waiting, takes their contacts' leases in one
//     pipeline (lease.lua: random token, remembering the signal, returning
//     what the first Load reads) and hands them to the waiting workers; a
//     lease that no worker takes within half a second (its Acquire gave up)
//     is released, which signals its work again. If another worker holds a
//     contact, the signal is acknowledged (ackbusy.lua; on a single Redis
//     inside lease1) provided the holder's signal is still pending: the
//     holder sees the work before it lets go, and if the holder dies its
//     signal is reclaimed. Otherwise (the holder's signal was a duplicate
//     delivery, acknowledged meanwhile) the signal stays pending and stands
//     for the work. Every replica XAUTOCLAIMs signals idle longer than
//     LeaseTTL, which is how a crashed replica's contacts are taken over
//     (after one to two LeaseTTLs).
//   - Load, Commit, Renew: load.lua, commit.lua, renew.lua check the token;
//     commit.lua also checks the sequence number (and the digest of a
//     retried commit), then writes state, pops the inbox, replaces the
//     outbox, cancels and stores timers and refreshes the lease, all or
//     nothing. With Release it then gives the lease up if no work is left,
//     else keeps it and returns that work (the continuation the next Load
//     hands out), so a contact that writes again while being served is
//     never signalled, read and leased again.
//   - Release: release.lua deletes the lease if it is ours and reports the
//     work left; then XADD a new signal if there is some, and only then
//     XACK+XDEL the lease's signal, so the stream holds only open work. A
//     releasing commit that released does the same, without the XADD.
//   - Timers: index.lua adds one index entry per timer, stamped with the
//     server time and a fresh nonce, BEFORE commit.lua stores the timer with
//     that nonce (an entry without a timer is harmless; a timer without an
//     entry would never fire; on a single Redis commit1 writes both at
//     once). Every replica's pump polls the index (250ms),
//     and fire.lua moves a timer whose stored nonce matches the entry into
//     the inbox and deletes it — that deletion is what makes a timer fire
//     once — then the pump signals the contact and ZREMs the entry. An entry
//     whose timer is missing (cancelled, replaced, fired, or its commit still
//     on the way) is rechecked with backoff for 5 minutes and then removed;
//     commit.lua refuses entries stamped more than 2.5 minutes earlier, so an
//     entry is never dropped while its commit can still land.
//
// Departures from the first design, and why:
//
//   - Dedupe records are one sorted set per contact (ID -> expiry, trimmed on
//     every Enqueue, the key expiring with its newest record) instead of one
//     SET NX EX key per message: a fraction of the memory (no per-key
//     overhead) and no key name built from an untrusted message ID.
//   - Timers are not deduplicated by ID when they fire: the atomic delete of
//     the stored timer already makes a firing unique, and dedupe would
//     silently swallow a timer ID the executor sets again within 7 days.
//   - A signal whose contact is leased is acknowledged rather than left
//     pending when the lease's own signal is pending: otherwise every message
//     of a busy contact would come back through XAUTOCLAIM a LeaseTTL later.
//   - Commits carry a sequence number and items without ID get a private
//     dedupe ID, because go-redis retries a command whose connection broke
//     after sending it, and a script applied twice would pop twice.
//
// Durability is Redis's: with appendonly yes and appendfsync always nothing
// acknowledged is lost; with everysec a crash may lose the last second or
// two. Redis ≥ 6.2
// (XAUTOCLAIM) or Valkey; Redis Cluster with "redis+cluster://".
//
// # Memory
//
// NewMemory keeps the same semantics in one process (a mutex, a ready
// queue, and a pump goroutine that fires timers and expires leases every
// 10ms by Options.Clock): single replica, for tests and `chatflow dev`.
package store
