package store

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
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

// macLen is the length of a seal: the first 128 bits of HMAC-SHA256.
const macLen = 16

// The kinds of sealed data, part of what a seal covers so that a sealed
// item can never pass for a state or the other way round.
const (
	sealItem   = 'i'
	sealState  = 's'
	sealLedger = 'l'
)

// sealer seals what the store writes for one flow with the flow's key, and
// checks it when it is read back: an HMAC over the flow (Namespace), the
// contact, the item ID and the payload. So an item written by anything
// without the key — another flow's executor, any pod that reaches Redis —
// or copied from another contact or flow, is recognised as forged.
type sealer struct {
	ns   string
	pool sync.Pool // of HMAC hashes keyed with the flow's key
}

func newSealer(ns string, key []byte) *sealer {
	if len(key) == 0 {
		// Binds items to the flow, but anyone can compute it: development.
		sum := sha256.Sum256([]byte("chatflow-item-key:" + ns))
		key = sum[:]
	}
	key = append([]byte(nil), key...)
	s := &sealer{ns: ns}
	s.pool.New = func() any { return hmac.New(sha256.New, key) }
	return s
}

// seal appends the seal of (kind, contact, id, payload) to dst.
func (s *sealer) seal(dst []byte, kind byte, contact, id string, payload []byte) []byte {
	h := s.pool.Get().(hash.Hash)
	h.Reset()
	var n [9]byte
	n[0] = kind
	for _, field := range []string{s.ns, contact, id} {
		binary.LittleEndian.PutUint64(n[1:], uint64(len(field)))
		h.Write(n[:])
		_, _ = io.WriteString(h, field)
		n[0] = 0
	}
	h.Write(payload)
	var sum [sha256.Size]byte
	out := h.Sum(sum[:0])
	s.pool.Put(h)
	return append(dst, out[:macLen]...)
}

// valid reports whether mac is the seal of (kind, contact, id, payload), in
// constant time.
func (s *sealer) valid(mac []byte, kind byte, contact, id string, payload []byte) bool {
	var buf [macLen]byte
	return hmac.Equal(mac, s.seal(buf[:0], kind, contact, id, payload))
}

// ledgerField is how a campaign's ledger names a contact: a keyed hash of
// the contact and the campaign. The ledger so holds no contact id — Erase
// need not look for it there, and what stays after an erasure names nobody
// — while it still keeps the campaign from starting the contact again.
func (s *sealer) ledgerField(campaign, contact string) string {
	var buf [macLen]byte
	return hex.EncodeToString(s.seal(buf[:0], sealLedger, contact, campaign, nil))
}

// encodeItem packs a sealed item as "<len(id)>:<id><seal><payload>", a
// format the timer script also produces in Lua from a stored timer.
func (s *sealer) encodeItem(contact string, it Item) string {
	var sb strings.Builder
	sb.Grow(len(it.ID) + macLen + len(it.Payload) + 4)
	sb.WriteString(strconv.Itoa(len(it.ID)))
	sb.WriteByte(':')
	sb.WriteString(it.ID)
	var buf [macLen]byte
	sb.Write(s.seal(buf[:0], sealItem, contact, it.ID, it.Payload))
	sb.Write(it.Payload)
	return sb.String()
}

// decodeItem unpacks a stored item of contact. One that does not decode,
// or whose seal is not this flow's, comes back Forged, with what could be
// read of it.
func (s *sealer) decodeItem(contact, enc string) Item {
	n, rest, ok := lengthPrefixed(enc)
	if !ok || len(rest)-n < macLen {
		return Item{Payload: []byte(enc), Forged: true}
	}
	id, mac, payload := rest[:n], rest[n:n+macLen], []byte(rest[n+macLen:])
	return Item{ID: id, Payload: payload, Forged: !s.valid([]byte(mac), sealItem, contact, id, payload)}
}

// sealTimer is the stored value of a timer without its nonce: the seal the
// item it fires as ("timer:"+ID) carries, then the payload.
func (s *sealer) sealTimer(contact string, t Timer) []byte {
	out := s.seal(make([]byte, 0, macLen+len(t.Payload)), sealItem, contact, "timer:"+t.ID, t.Payload)
	return append(out, t.Payload...)
}

// encodeState seals a contact's state: "<seal><state>".
func (s *sealer) encodeState(contact string, state []byte) []byte {
	out := s.seal(make([]byte, 0, macLen+len(state)), sealState, contact, "", state)
	return append(out, state...)
}

// decodeState checks and unpacks a stored state; ok is false when it is
// not sealed with this flow's key.
func (s *sealer) decodeState(contact string, enc []byte) (state []byte, ok bool) {
	if len(enc) < macLen {
		return nil, false
	}
	state = enc[macLen:]
	if !s.valid(enc[:macLen], sealState, contact, "", state) {
		return nil, false
	}
	return state, true
}

// lengthPrefixed splits "<n>:<rest>" and checks that rest holds n bytes.
// n is in canonical decimal (no sign, no leading zero), so one value has
// one encoding.
func lengthPrefixed(s string) (int, string, bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 || i > 10 || (s[0] == '0' && i > 1) {
		return 0, "", false
	}
	n := 0
	for _, c := range []byte(s[:i]) {
		if c < '0' || c > '9' {
			return 0, "", false
		}
		n = n*10 + int(c-'0')
	}
	if n > len(s)-i-1 {
		return 0, "", false
	}
	return n, s[i+1:], true
}

// lp writes "<len(s)>:<s>".
func lp(s string) string { return strconv.Itoa(len(s)) + ":" + s }

// deadRecord is a dead letter as stored: "<lp(contact)><lp(reason)><item>",
// the item encoded as in the inbox (so a retry moves it back as it is).
type deadRecord struct {
	contact, reason, item string
}

func (r deadRecord) encode() string { return lp(r.contact) + lp(r.reason) + r.item }

var errBadRecord = errors.New("store: malformed dead letter")

func decodeDeadRecord(s string) (deadRecord, error) {
	n, rest, ok := lengthPrefixed(s)
	if !ok {
		return deadRecord{}, errBadRecord
	}
	contact := rest[:n]
	m, rest, ok := lengthPrefixed(rest[n:])
	if !ok {
		return deadRecord{}, errBadRecord
	}
	return deadRecord{contact: contact, reason: rest[:m], item: rest[m:]}, nil
}

// timerMember is a timer index entry: which contact and timer it stands
// for, and which SetTimers wrote it (nonce).
type timerMember struct {
	nonce   string
	contact string
	id      string
}

// memberOf is the index entry of a timer: "<nonce>:<len(contact)>:<contact><timer id>".
func memberOf(nonce, contact, id string) string {
	return nonce + ":" + lp(contact) + id
}

var errBadMember = errors.New("store: malformed timer index entry")

func parseTimerMember(s string) (timerMember, error) {
	if len(s) < 17 || s[16] != ':' {
		return timerMember{}, errBadMember
	}
	nonce := s[:16]
	n, rest, ok := lengthPrefixed(s[17:])
	if !ok {
		return timerMember{}, errBadMember
	}
	return timerMember{nonce: nonce, contact: rest[:n], id: rest[n:]}, nil
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
	field([]byte(c.DeadLetter))
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

// newDeadLetterID names a dead letter: the time in nanoseconds, then 64
// random bits, in hex, safe in a URL path. Redis orders the dead letters
// of one millisecond (one score) by ID, so the time first keeps the oldest
// first there too, and the bound drops the oldest.
func newDeadLetterID() string { return fmt.Sprintf("%016x", time.Now().UnixNano()) + newNonce() }
