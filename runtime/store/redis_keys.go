package store

// keyspace names the Redis keys of one namespace (one flow).
//
// Every key of the flow carries the hash tag {<namespace>}: the whole flow
// lives in one Redis Cluster slot, so each Lua script may touch a contact's
// keys and the flow's shared ones (signal stream, timer index, dead
// letters) together, in one command, on a single Redis and a Cluster alike.
// A contact's keys are "<prefix>c:<contact>:<suffix>"; the suffixes contain
// no ':', so the last ':' tells the suffix from the contact whatever the
// contact holds, and braces after the tag do not move it.
type keyspace struct {
	contactPrefix string // chatflow:{<ns>}:c:
	signals       string // stream of contacts with work; consumer group "workers"
	timerIndex    string // zset of timer entries by due time (ms)
	deadLetters   string // hash: dead letter id -> record
	deadIndex     string // zset: dead letter id -> when (server ms)
}

type contactKeys struct {
	inbox  string // list of encoded items
	state  string // string: seal + state
	lease  string // hash: tok, sig, seq, last, owner; expires with the lease
	dedupe string // zset: item ID -> forget-after (server ms)
	timers string // hash: timer ID -> nonce .. seal .. payload
	dead   string // set: ids of the contact's dead letters
}

func newKeyspace(ns string) keyspace {
	base := "chatflow:{" + ns + "}:"
	return keyspace{
		contactPrefix: base + "c:",
		signals:       base + "signals",
		timerIndex:    base + "timers",
		deadLetters:   base + "dead",
		deadIndex:     base + "dead:index",
	}
}

func (k keyspace) contact(c string) contactKeys {
	base := k.contactPrefix + c + ":"
	return contactKeys{
		inbox:  base + "inbox",
		state:  base + "state",
		lease:  base + "lease",
		dedupe: base + "dedupe",
		timers: base + "timers",
		dead:   base + "dead",
	}
}
