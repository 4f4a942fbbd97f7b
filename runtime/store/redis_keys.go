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
	campaigns     string // chatflow:{<ns>}:campaign:
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
		campaigns:     base + "campaign:",
	}
}

// campaign names the two hashes of a campaign's ledger (campaign.go): in
// the flow's slot like every other key of the flow, so one script updates
// both and Redis Cluster checks it.
func (k keyspace) campaign(id string) (contacts, counts string) {
	return k.campaigns + id + ":contacts", k.campaigns + id + ":counts"
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
