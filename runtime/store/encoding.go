package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/fnv"
	"strconv"
	"strings"
)

// newToken returns 128 random bits in hex: lease tokens must not be
// guessable or repeat across replicas.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}

// newNonce returns 64 random bits as 16 hex digits (a fixed width the Lua
// scripts rely on).
func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// encodeItem packs an item as "<len(id)>:<id><payload>", a format the timer
// script can also produce in Lua.
func encodeItem(it Item) string {
	var sb strings.Builder
	sb.Grow(len(it.ID) + len(it.Payload) + 4)
	sb.WriteString(strconv.Itoa(len(it.ID)))
	sb.WriteByte(':')
	sb.WriteString(it.ID)
	sb.Write(it.Payload)
	return sb.String()
}

var errBadItem = errors.New("store: malformed inbox item")

func decodeItem(s string) (Item, error) {
	n, rest, ok := lengthPrefixed(s)
	if !ok {
		return Item{}, errBadItem
	}
	return Item{ID: rest[:n], Payload: []byte(rest[n:])}, nil
}

// lengthPrefixed splits "<n>:<rest>" and checks that rest holds n bytes.
func lengthPrefixed(s string) (int, string, bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return 0, "", false
	}
	n, err := strconv.Atoi(s[:i])
	if err != nil || n < 0 || n > len(s)-i-1 {
		return 0, "", false
	}
	return n, s[i+1:], true
}

// timerMember is a timer index entry: which contact and timer it stands
// for, which SetTimers wrote it (nonce), and when the index script saw it
// (created, Redis server milliseconds).
type timerMember struct {
	created int64
	nonce   string
	contact string
	id      string
}

// memberTail is what the client sends to the index script, which prefixes
// "<created>:": "<nonce>:<len(contact)>:<contact><timer id>".
func memberTail(nonce, contact, id string) string {
	return nonce + ":" + strconv.Itoa(len(contact)) + ":" + contact + id
}

func parseTimerMember(s string) (timerMember, error) {
	bad := errors.New("store: malformed timer index entry")
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return timerMember{}, bad
	}
	created, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return timerMember{}, bad
	}
	s = s[i+1:]
	if len(s) < 17 || s[16] != ':' {
		return timerMember{}, bad
	}
	nonce := s[:16]
	n, rest, ok := lengthPrefixed(s[17:])
	if !ok {
		return timerMember{}, bad
	}
	return timerMember{created: created, nonce: nonce, contact: rest[:n], id: rest[n:]}, nil
}

// commitDigest fingerprints a commit's content, so a retried call (same
// content, same lease sequence number) is recognised as applied while a
// different commit sent with a stale sequence number is refused.
func commitDigest(c Commit) string {
	h := fnv.New64a()
	field := func(b []byte) {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	flags := []byte{0, 0}
	if c.State != nil {
		flags[0] = 1
	}
	if c.DeleteState {
		flags[1] = 1
	}
	field(flags)
	field(c.State)
	field([]byte(strconv.Itoa(c.Consumed)))
	field([]byte(strconv.Itoa(len(c.Outbox))))
	for _, e := range c.Outbox {
		field(e)
	}
	field([]byte(strconv.Itoa(len(c.SetTimers))))
	for _, t := range c.SetTimers {
		field([]byte(t.ID))
		field([]byte(strconv.FormatInt(t.At.UnixNano(), 10)))
		field(t.Payload)
	}
	field([]byte(strconv.Itoa(len(c.CancelTimers))))
	for _, id := range c.CancelTimers {
		field([]byte(id))
	}
	return strconv.FormatUint(h.Sum64(), 16)
}
