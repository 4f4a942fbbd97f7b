package meta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/chatflow-dev/chatflow/runtime/channel"
)

// Split is a Meta webhook body cut into one part per account, for a
// gateway in front of several bindings of one app: Meta delivers every
// event of the app (all its WhatsApp numbers, Pages or Instagram accounts)
// to one callback URL.
type Split struct {
	// Object is the envelope's "object".
	Object string
	// Parts hold the events of each account, in order of first appearance.
	Parts []Part
	// Unaddressed counts the events that name no account of this channel:
	// WhatsApp changes without metadata.phone_number_id (account-level
	// fields such as message_template_status_update), entries without an
	// id, or every event of a body whose object is another channel's.
	Unaddressed int
}

// Part is the events of one account, as a complete webhook body in the
// shape Meta sends: the same object, the same entries (id, time and any
// other field kept verbatim), holding only the account's changes (WhatsApp)
// or the account's entries (Messenger, Instagram).
type Part struct {
	// Account is the WhatsApp phone_number_id, the Page id or the
	// Instagram account id.
	Account string
	// Body is the part's webhook body. When the whole request was for this
	// account it is the request body itself, byte for byte, so its
	// signature still holds.
	Body []byte
	// Events counts the part's changes (WhatsApp) or entries' messaging
	// and changes items (Messenger, Instagram).
	Events int
	// Whole reports that Body is the request body unchanged.
	Whole bool
}

// SplitByAccount cuts a webhook body of the channel whose envelope object
// is object (ObjectWhatsApp, ObjectPage or ObjectInstagram) by account.
// WhatsApp routes on each change's value.metadata.phone_number_id (one
// entry, a WhatsApp Business Account, may carry several numbers);
// Messenger and Instagram route on entry[].id. A body that DecodeEnvelope
// refuses is refused here too, with the same error (wrapping
// channel.ErrMalformed), so the gateway and the executor reach the same
// verdict on it.
func SplitByAccount(body []byte, object string) (*Split, error) {
	if obj, entries, ok := scanEnvelope(body); ok {
		return split(body, object, obj, entries)
	}
	env, err := DecodeEnvelope(body)
	if err != nil {
		return nil, err
	}
	entries := make([]scannedEntry, len(env.Entry))
	for i := range env.Entry {
		e := &env.Entry[i]
		entries[i] = scannedEntry{id: string(e.ID), phones: make([]string, len(e.Changes)), messaging: len(e.Messaging)}
		for j, c := range e.Changes {
			entries[i].phones[j] = phoneNumberID(c.Value)
		}
	}
	return split(body, object, env.Object, entries)
}

// split groups the entries' events by account.
func split(body []byte, object, got string, entries []scannedEntry) (*Split, error) {
	s := &Split{Object: got}
	if got != object {
		for i := range entries {
			s.Unaddressed += entryEvents(&entries[i])
		}
		return s, nil
	}
	// accounts[i][j] is the account of entry i's change j (WhatsApp) or of
	// entry i (others, j = 0); "" for none.
	accounts := make([][]string, len(entries))
	index := map[string]int{}
	add := func(account string, events int) {
		if account == "" {
			s.Unaddressed += events
			return
		}
		i, ok := index[account]
		if !ok {
			i = len(s.Parts)
			index[account] = i
			s.Parts = append(s.Parts, Part{Account: account})
		}
		s.Parts[i].Events += events
	}
	for i := range entries {
		e := &entries[i]
		if object != ObjectWhatsApp {
			accounts[i] = []string{e.id}
			add(e.id, entryEvents(e))
			continue
		}
		accounts[i] = e.phones
		for _, phone := range e.phones {
			add(phone, 1)
		}
		// An entry's messaging[] is not WhatsApp's: nobody reads it.
		s.Unaddressed += e.messaging
	}
	if len(s.Parts) == 1 && s.Unaddressed == 0 {
		s.Parts[0].Body, s.Parts[0].Whole = body, true
		return s, nil
	}
	if len(s.Parts) == 0 {
		return s, nil
	}
	return s, s.build(body, object, accounts)
}

// build writes the body of every part from the raw entries, so fields
// this package does not know survive the split. Keys are matched as
// encoding/json matches them (case-insensitively), so the parts hold what
// DecodeEnvelope read.
func (s *Split) build(body []byte, object string, accounts [][]string) error {
	var raw struct {
		Entry []json.RawMessage `json:"entry"`
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return fmt.Errorf("%w: %v", channel.ErrMalformed, err)
	}
	if err := json.Unmarshal(body, &raw); err != nil || len(raw.Entry) != len(accounts) {
		return fmt.Errorf("%w: entry[] does not decode twice alike", channel.ErrMalformed)
	}
	entries := make([][]json.RawMessage, len(s.Parts))
	index := make(map[string]int, len(s.Parts))
	for i, p := range s.Parts {
		index[p.Account] = i
	}
	for i, rawEntry := range raw.Entry {
		if object != ObjectWhatsApp {
			if p, ok := index[accounts[i][0]]; ok {
				entries[p] = append(entries[p], rawEntry)
			}
			continue
		}
		if err := splitEntry(rawEntry, accounts[i], index, entries); err != nil {
			return err
		}
	}
	obj, err := json.Marshal(s.Object)
	if err != nil {
		return err
	}
	deleteFold(top, "object", "entry")
	top["object"] = obj
	for i := range s.Parts {
		list, err := json.Marshal(entries[i])
		if err != nil {
			return err
		}
		top["entry"] = list
		if s.Parts[i].Body, err = json.Marshal(top); err != nil {
			return err
		}
	}
	return nil
}

// splitEntry adds to entries[p] a copy of one WhatsApp entry holding only
// the changes of part p, for every part with changes in it.
func splitEntry(rawEntry json.RawMessage, accounts []string, index map[string]int, entries [][]json.RawMessage) error {
	if len(accounts) == 0 {
		return nil // no changes: nothing of this entry goes anywhere
	}
	var changes struct {
		Changes []json.RawMessage `json:"changes"`
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(rawEntry, &changes) != nil || json.Unmarshal(rawEntry, &fields) != nil ||
		len(changes.Changes) != len(accounts) {
		return fmt.Errorf("%w: an entry does not decode twice alike", channel.ErrMalformed)
	}
	byPart := map[int][]json.RawMessage{}
	var order []int
	for j, c := range changes.Changes {
		p, ok := index[accounts[j]]
		if !ok {
			continue
		}
		if _, seen := byPart[p]; !seen {
			order = append(order, p)
		}
		byPart[p] = append(byPart[p], c)
	}
	deleteFold(fields, "changes", "messaging")
	for _, p := range order {
		list, err := json.Marshal(byPart[p])
		if err != nil {
			return err
		}
		fields["changes"] = list
		e, err := json.Marshal(fields)
		if err != nil {
			return err
		}
		entries[p] = append(entries[p], e)
	}
	return nil
}

// deleteFold deletes the keys that encoding/json would read into a field
// tagged with one of names: those equal to it under case folding.
func deleteFold(m map[string]json.RawMessage, names ...string) {
	for k := range m {
		for _, n := range names {
			if strings.EqualFold(k, n) {
				delete(m, k)
			}
		}
	}
}

// phoneNumberID reads value.metadata.phone_number_id of a WhatsApp change;
// "" when the value has none or does not decode (the executor ignores
// such a change too).
func phoneNumberID(value json.RawMessage) string {
	var v struct {
		Metadata struct {
			PhoneNumberID FlexString `json:"phone_number_id"`
		} `json:"metadata"`
	}
	if len(value) == 0 || json.Unmarshal(value, &v) != nil {
		return ""
	}
	return string(v.Metadata.PhoneNumberID)
}

// entryEvents counts an entry's events: its changes and messaging items,
// at least one (an empty entry is still something Meta sent).
func entryEvents(e *scannedEntry) int {
	return max(1, len(e.phones)+e.messaging)
}

// EntryList returns the raw bytes inside the part's entry array when its
// envelope holds exactly the keys "object" (the string object) and "entry"
// (an array), as Meta's do: the entries of several parts join into one
// body (Join). ok is false for any other body, which is then sent as it
// is. A part's body is valid JSON (the request's, or one the split
// wrote); it is checked again all the same, because the walk trusts it,
// and that costs a joined part about a microsecond.
func (p Part) EntryList(object string) (list []byte, ok bool) {
	if !validJSON(p.Body) {
		return nil, false
	}
	s := &scan{b: p.Body}
	got, ok := s.envelope(true, func() bool {
		start := s.i
		s.skip()
		list = p.Body[start+1 : s.i-1]
		return true
	})
	if !ok || got != object || len(bytes.TrimSpace(list)) == 0 {
		return nil, false
	}
	return list, true
}

// Join is one webhook body of object (one of the Object constants)
// holding the entries of every list (Part.EntryList), in order: the events
// of several requests for one account, forwarded as one request.
func Join(object string, lists ...[]byte) []byte {
	size := len(object) + 32
	for _, l := range lists {
		size += len(l) + 1
	}
	out := make([]byte, 0, size)
	out = append(out, `{"object":`...)
	out = strconv.AppendQuote(out, object)
	out = append(out, `,"entry":[`...)
	for i, l := range lists {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, l...)
	}
	return append(out, "]}"...)
}
