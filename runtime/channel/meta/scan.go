package meta

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// This file is the gateway's fast path: reading only what routing needs
// (object, entry[].id, the number of changes and messaging items, each
// change's value.metadata.phone_number_id) from a body in the shape Meta
// sends, in one pass over bytes validJSON has checked, instead of
// decoding the envelope and every change value. Whatever it is not sure
// reads as encoding/json reads it (a key with an escape or in another
// case, a repeated key, an unexpected type) makes it give up, and the
// caller decodes the body the slow way; FuzzScanEnvelope holds the two to
// the same result.

// scannedEntry is what routing needs of one entry.
type scannedEntry struct {
	id        string
	phones    []string // value.metadata.phone_number_id of each change
	messaging int
}

// scanEnvelope reads a webhook body; ok is false when the caller must
// decode it the slow way (a malformed body included).
func scanEnvelope(body []byte) (object string, entries []scannedEntry, ok bool) {
	if !validJSON(body) {
		return "", nil, false
	}
	s := &scan{b: body}
	object, ok = s.envelope(false, func() bool {
		return s.array(func() bool {
			if s.ws() != '{' {
				return false
			}
			e, good := s.entry()
			entries = append(entries, e)
			return good
		})
	})
	return object, entries, ok
}

// envelope walks the top-level object of a body, reading "object" (a
// string) and calling entry with s.i on the "entry" array, which entry
// reads. Other keys are skipped, or with only stop the walk, and so does
// a key seen twice; with only, both keys must be there.
func (s *scan) envelope(only bool, entry func() bool) (object string, ok bool) {
	if s.ws() != '{' {
		return "", false
	}
	var sawObject, sawEntry bool
	ok = s.object(func(key string) bool {
		switch key {
		case "object":
			if sawObject {
				return false
			}
			sawObject = true
			v, isStr, good := s.plainString()
			object = v
			return good && isStr
		case "entry":
			if sawEntry || s.ws() != '[' {
				return false
			}
			sawEntry = true
			return entry()
		}
		return !only && s.other(key, "object", "entry")
	})
	return object, ok && (!only || sawObject && sawEntry)
}

// entry reads one entry object.
func (s *scan) entry() (e scannedEntry, ok bool) {
	var sawID, sawChanges, sawMessaging bool
	ok = s.object(func(key string) bool {
		switch key {
		case "id":
			if sawID {
				return false
			}
			sawID = true
			id, good := s.flexString()
			e.id = id
			return good
		case "changes":
			if sawChanges || s.ws() != '[' {
				return false
			}
			sawChanges = true
			return s.array(func() bool {
				if s.ws() != '{' {
					return false
				}
				phone, good := s.change()
				e.phones = append(e.phones, phone)
				return good
			})
		case "messaging":
			if sawMessaging || s.ws() != '[' {
				return false
			}
			sawMessaging = true
			return s.array(func() bool {
				e.messaging++
				s.skip()
				return true
			})
		}
		// time decodes into a FlexInt, which takes anything.
		return s.other(key, "id", "changes", "messaging", "time")
	})
	return e, ok
}

// change reads one change object: its field must be a string, its value
// is read for the phone number id.
func (s *scan) change() (phone string, ok bool) {
	var sawField, sawValue bool
	ok = s.object(func(key string) bool {
		switch key {
		case "field":
			if sawField {
				return false
			}
			sawField = true
			_, isStr, good := s.plainString()
			return good && isStr
		case "value":
			if sawValue {
				return false
			}
			sawValue = true
			var good bool
			phone, good = s.phoneNumberID()
			return good
		}
		return s.other(key, "field", "value")
	})
	return phone, ok
}

// phoneNumberID reads a change value as phoneNumberID decodes it: ""
// unless it is an object whose metadata is an object with a string or
// number phone_number_id; a type error anywhere on that path is "" too.
func (s *scan) phoneNumberID() (string, bool) {
	if s.ws() != '{' {
		s.skip() // null, or a type error: no account either way
		return "", true
	}
	var phone string
	var sawMetadata, typeErr bool
	ok := s.object(func(key string) bool {
		if key != "metadata" {
			return s.other(key, "metadata")
		}
		if sawMetadata {
			return false
		}
		sawMetadata = true
		switch s.ws() {
		case 'n':
			s.skip()
			return true
		case '{':
		default:
			s.skip()
			typeErr = true
			return true
		}
		var sawPhone bool
		return s.object(func(key string) bool {
			if key != "phone_number_id" {
				return s.other(key, "phone_number_id")
			}
			if sawPhone {
				return false
			}
			sawPhone = true
			v, good := s.flexString()
			if !good {
				if s.lastTypeErr {
					typeErr = true
					return true
				}
				return false
			}
			phone = v
			return true
		})
	})
	if typeErr {
		phone = ""
	}
	return phone, ok
}

// scan walks bytes known to be valid JSON.
type scan struct {
	b []byte
	i int
	// lastTypeErr says flexString gave up on a value of the wrong type
	// (which encoding/json reports as an error) rather than on one it
	// cannot read alike.
	lastTypeErr bool
}

// ws skips white space and returns the next byte (0 at the end).
func (s *scan) ws() byte {
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return c
		}
	}
	return 0
}

// object calls member for each key of the object at s.i, with s.i on the
// value; member reads or skips it. A key with an escape stops the walk.
func (s *scan) object(member func(key string) bool) bool {
	s.ws()
	s.i++ // {
	for {
		switch s.ws() {
		case '}':
			s.i++
			return true
		case ',':
			s.i++
			continue
		}
		key, isStr, ok := s.plainString()
		if !ok || !isStr {
			return false
		}
		s.ws()
		s.i++ // :
		if !member(key) {
			return false
		}
	}
}

// array calls elem for each element of the array at s.i, with s.i on it.
func (s *scan) array(elem func() bool) bool {
	s.ws()
	s.i++ // [
	for {
		switch s.ws() {
		case ']':
			s.i++
			return true
		case ',':
			s.i++
			continue
		}
		if !elem() {
			return false
		}
	}
}

// other skips the value of a key that is none of known, and stops the walk
// on a key encoding/json would take for one of them (another case).
func (s *scan) other(key string, known ...string) bool {
	for _, k := range known {
		if k == key {
			s.skip()
			return true
		}
		if strings.EqualFold(k, key) {
			return false
		}
	}
	s.skip()
	return true
}

// plainString reads a string without escapes; isStr is false for another
// value (skipped), ok false for a string it cannot read alike.
func (s *scan) plainString() (v string, isStr, ok bool) {
	if s.ws() != '"' {
		s.skip()
		return "", false, true
	}
	start := s.i + 1
	end := bytes.IndexByte(s.b[start:], '"')
	raw := s.b[start : start+end]
	if bytes.IndexByte(raw, '\\') >= 0 {
		return "", true, false
	}
	s.i = start + end + 1
	if !utf8.Valid(raw) {
		return "", true, false // encoding/json replaces invalid bytes
	}
	return string(raw), true, true
}

// flexString reads a value as FlexString decodes it: a string, a number's
// text, or "" for null; anything else is a type error (lastTypeErr).
func (s *scan) flexString() (string, bool) {
	s.lastTypeErr = false
	switch c := s.ws(); {
	case c == '"':
		v, _, ok := s.plainString()
		return v, ok
	case c == 'n':
		s.skip()
		return "", true
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.i
		s.skip()
		return string(s.b[start:s.i]), true
	}
	s.skip()
	s.lastTypeErr = true
	return "", false
}

// skip moves past the value at s.i.
func (s *scan) skip() {
	switch c := s.ws(); c {
	case '"':
		for s.i++; s.i < len(s.b); s.i++ {
			switch s.b[s.i] {
			case '\\':
				s.i++
			case '"':
				s.i++
				return
			}
		}
	case '{', '[':
		depth := 0
		for ; s.i < len(s.b); s.i++ {
			switch s.b[s.i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return
				}
			case '"':
				s.skip()
				s.i--
			}
		}
	default: // a number, true, false, null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			s.i++
		}
	}
}
