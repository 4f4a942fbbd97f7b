package campaign

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strings"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/policy"
	"github.com/chatflow-dev/chatflow/runtime/message"
	"github.com/chatflow-dev/chatflow/runtime/runapi"
)

// outcome is what becomes of a row.
type outcome int

const (
	outRun       outcome = iota // handed to the executor
	outOptedOut                 // on the opt-out list
	outInvalid                  // an id that is no contact, or a required input missing
	outDuplicate                // listed before
)

// input is an input the flow declares.
type input struct {
	name     string
	required bool
}

// idSet is a set of contact ids held as 64-bit hashes: about 16 bytes a
// contact, never the ids themselves. Two ids colliding (about one chance
// in 10^9 for an audience of 100,000) would skip the second as a
// duplicate.
type idSet struct {
	seed maphash.Seed
	m    map[uint64]struct{}
}

func newIDSet(seed maphash.Seed) *idSet { return &idSet{seed: seed, m: map[uint64]struct{}{}} }

func (s *idSet) has(id string) bool {
	_, ok := s.m[maphash.String(s.seed, id)]
	return ok
}

// add reports whether id was new.
func (s *idSet) add(id string) bool {
	h := maphash.String(s.seed, id)
	if _, ok := s.m[h]; ok {
		return false
	}
	s.m[h] = struct{}{}
	return true
}

func (s *idSet) len() int { return len(s.m) }

// classifier decides what becomes of each row of a campaign's audience,
// in order: it remembers the contacts seen so far.
type classifier struct {
	channel  message.Channel
	inputs   []input
	defaults map[string]string // spec.inputs
	seen     *idSet
	optOut   *idSet // nil: no list
}

// classify returns the run of a row, or why it is skipped.
func (c *classifier) classify(r row) (runapi.Run, outcome, string) {
	if r.bad != "" {
		return runapi.Run{}, outInvalid, r.bad
	}
	id, why := policy.NormalizeContact(c.channel, r.id)
	if why != "" {
		return runapi.Run{}, outInvalid, why
	}
	if !c.seen.add(id) {
		return runapi.Run{}, outDuplicate, ""
	}
	if c.optOut != nil && c.optOut.has(id) {
		return runapi.Run{}, outOptedOut, ""
	}
	run := runapi.Run{Contact: runapi.Contact{ID: id, Name: clipRunes(r.name, maxNameValue)}}
	for _, in := range c.inputs {
		v, ok := r.inputs[in.name]
		if !ok || v == "" {
			v = c.defaults[in.name]
		}
		if v == "" {
			if in.required {
				return runapi.Run{}, outInvalid, fmt.Sprintf("contact %s lacks the required input %s", id, in.name)
			}
			continue
		}
		if len(v) > maxInputValue {
			return runapi.Run{}, outInvalid, fmt.Sprintf("contact %s: input %s is longer than %d bytes", id, in.name, maxInputValue)
		}
		if run.Variables == nil {
			run.Variables = make(map[string]string, len(c.inputs))
		}
		run.Variables[in.name] = v
	}
	return run, outRun, ""
}

func clipRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// maxOptOutBytes bounds an opt-out list once uncompressed.
const maxOptOutBytes = 64 << 20

// readOptOut reads an opt-out list: a CSV with the audience's contact
// column, or one contact per line (the first field of each).
func readOptOut(ctx context.Context, src *v1alpha1.AudienceSource, fetch fetchFunc, ch message.Channel, contactColumn string, seed maphash.Seed) (*idSet, error) {
	data, err := fetch(ctx, src)
	if err != nil {
		return nil, err
	}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, &sourceError{msg: fmt.Sprintf("opt-out list %s: not valid gzip: %v", sourceName(src), err), stalled: true}
		}
		if data, err = io.ReadAll(io.LimitReader(zr, maxOptOutBytes+1)); err != nil || len(data) > maxOptOutBytes {
			return nil, &sourceError{msg: fmt.Sprintf("opt-out list %s: unreadable or larger than %d MiB uncompressed", sourceName(src), maxOptOutBytes>>20), stalled: true}
		}
	}
	// The first line decides: a header naming the contact column, or
	// already a contact (then every line's first field is one).
	first, _, _ := bytes.Cut(bytes.TrimPrefix(data, []byte("\ufeff")), []byte("\n"))
	header := false
	for f := range strings.SplitSeq(strings.TrimRight(string(first), "\r"), ",") {
		header = header || strings.TrimSpace(strings.Trim(f, `"`)) == contactColumn
	}
	if !header {
		data = append([]byte(contactColumn+"\n"), data...)
	}
	spec := &v1alpha1.Audience{Sources: []v1alpha1.AudienceSource{*src}, Columns: v1alpha1.AudienceColumns{Contact: contactColumn}}
	a := newAudience(spec, func(context.Context, *v1alpha1.AudienceSource) ([]byte, error) { return data, nil }, nil)
	set := newIDSet(seed)
	for {
		r, err := a.next(ctx)
		if errors.Is(err, io.EOF) {
			return set, nil
		}
		if err != nil {
			return nil, fmt.Errorf("opt-out list: %w", err)
		}
		if id, why := policy.NormalizeContact(ch, r.id); why == "" {
			set.add(id)
		}
	}
}
