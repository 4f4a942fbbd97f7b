package campaign

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// An audience is read as a stream of rows: the inline contacts, then each
// CSV source in order, one row at a time, so that a campaign of any size
// holds one source's bytes and one batch of contacts, never a contact list.

// Column and value limits of the CSV sources.
const (
	DefaultContactColumn = "contact"
	DefaultNameColumn    = "name"
	maxInputValue        = 4096
	maxNameValue         = 128
)

// row is one contact of an audience as read: its id, name and inputs as
// written, or why it could not be read.
type row struct {
	id, name string
	inputs   map[string]string
	bad      string // a row CSV could not parse
}

// sourceError is a problem with an audience source. Stalled ones need the
// user (a missing column); the others may go away (a ConfigMap not created
// yet).
type sourceError struct {
	msg     string
	stalled bool
}

func (e *sourceError) Error() string { return e.msg }

// fetchFunc returns the bytes of a source's key.
type fetchFunc func(ctx context.Context, src *v1alpha1.AudienceSource) ([]byte, error)

// audience reads the rows of a campaign's audience in order and keeps the
// digest of the rows read so far.
type audience struct {
	spec   *v1alpha1.Audience
	fetch  fetchFunc
	inputs []string // the flow's inputs: a column named like one fills it

	inline int // next inline contact
	src    int // next source
	rd     *csv.Reader
	cols   columns
	closer io.Closer

	rows   int64
	digest hash.Hash
}

// columns are the positions of a source's columns.
type columns struct {
	contact, name int
	inputs        []colInput
	width         int
}

type colInput struct {
	idx   int
	input string
}

func newAudience(spec *v1alpha1.Audience, fetch fetchFunc, inputs []string) *audience {
	return &audience{spec: spec, fetch: fetch, inputs: inputs, digest: sha256.New()}
}

// Digest is the digest of the rows read so far.
func (a *audience) Digest() string { return hex.EncodeToString(a.digest.Sum(nil))[:32] }

// Rows is how many rows were read.
func (a *audience) Rows() int64 { return a.rows }

// next returns the next row, or io.EOF after the last.
func (a *audience) next(ctx context.Context) (row, error) {
	if a.inline < len(a.spec.Contacts) {
		c := &a.spec.Contacts[a.inline]
		a.inline++
		r := row{id: c.ID, name: c.Name, inputs: c.Inputs}
		a.hashInline(&r)
		return r, nil
	}
	for {
		if a.rd == nil {
			if a.src >= len(a.spec.Sources) {
				return row{}, io.EOF
			}
			if err := a.open(ctx, a.src); err != nil {
				return row{}, err
			}
			continue // open moves past an empty source
		}
		rec, err := a.rd.Read()
		if errors.Is(err, io.EOF) {
			a.closeSource()
			a.src++
			continue
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			a.rows++ // a row, if one that does not parse
			a.hashFields(a.src, []string{"\x00bad", pe.Error()})
			return row{bad: fmt.Sprintf("%s line %d: %v", sourceName(&a.spec.Sources[a.src]), pe.Line, pe.Err)}, nil
		}
		if err != nil {
			return row{}, &sourceError{msg: fmt.Sprintf("reading %s: %v", sourceName(&a.spec.Sources[a.src]), err), stalled: true}
		}
		a.rows++
		a.hashFields(a.src, rec)
		return a.cols.row(rec), nil
	}
}

func (a *audience) hashInline(r *row) {
	a.rows++
	a.digest.Write([]byte("i\x00" + r.id + "\x00" + r.name))
	keys := make([]string, 0, len(r.inputs))
	for k := range r.inputs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		a.digest.Write([]byte("\x00" + k + "=" + r.inputs[k]))
	}
	a.digest.Write([]byte{'\n'})
}

func (a *audience) hashFields(src int, rec []string) {
	fmt.Fprintf(a.digest, "s%d", src)
	for _, f := range rec {
		a.digest.Write([]byte{0x1f})
		a.digest.Write([]byte(f))
	}
	a.digest.Write([]byte{'\n'})
}

// open reads source i: its bytes (gunzipped when compressed) and header.
func (a *audience) open(ctx context.Context, i int) error {
	src := &a.spec.Sources[i]
	data, err := a.fetch(ctx, src)
	if err != nil {
		return err
	}
	var r io.Reader = bytes.NewReader(data)
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return &sourceError{msg: fmt.Sprintf("%s: not valid gzip: %v", sourceName(src), err), stalled: true}
		}
		a.closer = zr
		r = zr
	}
	rd := csv.NewReader(bufio.NewReaderSize(r, 64<<10))
	rd.FieldsPerRecord = -1
	rd.TrimLeadingSpace = true
	rd.ReuseRecord = true
	header, err := rd.Read()
	if errors.Is(err, io.EOF) {
		a.rd, a.cols = rd, columns{contact: -1}
		return a.emptySource()
	}
	if err != nil {
		return &sourceError{msg: fmt.Sprintf("%s: the header line does not parse: %v", sourceName(src), err), stalled: true}
	}
	cols, err := a.columnsOf(src, header)
	if err != nil {
		return err
	}
	a.rd, a.cols = rd, cols
	return nil
}

// emptySource moves past a source without even a header line.
func (a *audience) emptySource() error {
	a.closeSource()
	a.src++
	return nil
}

func (a *audience) closeSource() {
	if a.closer != nil {
		_ = a.closer.Close()
		a.closer = nil
	}
	a.rd = nil
}

// columnsOf finds the columns of a source from its header.
func (a *audience) columnsOf(src *v1alpha1.AudienceSource, header []string) (columns, error) {
	names := a.spec.Columns
	contact, name := or(names.Contact, DefaultContactColumn), or(names.Name, DefaultNameColumn)
	cols := columns{contact: -1, name: -1, width: len(header)}
	at := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) // a spreadsheet's byte order mark
		if _, dup := at[h]; !dup {
			at[h] = i
		}
	}
	i, ok := at[contact]
	if !ok {
		return cols, &sourceError{stalled: true, msg: fmt.Sprintf(
			"%s has no column %q (its header is %q): name the contact column in spec.audience.columns.contact",
			sourceName(src), contact, strings.Join(header, ","))}
	}
	cols.contact = i
	if i, ok := at[name]; ok {
		cols.name = i
	}
	if len(names.Inputs) > 0 {
		for _, m := range names.Inputs {
			i, ok := at[m.Column]
			if !ok {
				return cols, &sourceError{stalled: true, msg: fmt.Sprintf(
					"%s has no column %q, which spec.audience.columns.inputs maps to input %s", sourceName(src), m.Column, m.Input)}
			}
			cols.inputs = append(cols.inputs, colInput{idx: i, input: m.Input})
		}
		return cols, nil
	}
	for _, in := range a.inputs {
		if i, ok := at[in]; ok {
			cols.inputs = append(cols.inputs, colInput{idx: i, input: in})
		}
	}
	return cols, nil
}

// row picks a record's fields.
func (c columns) row(rec []string) row {
	field := func(i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	r := row{id: field(c.contact), name: field(c.name)}
	if len(c.inputs) > 0 {
		r.inputs = make(map[string]string, len(c.inputs))
		for _, ci := range c.inputs {
			if v := field(ci.idx); v != "" {
				r.inputs[ci.input] = v
			}
		}
	}
	return r
}

func sourceName(src *v1alpha1.AudienceSource) string {
	switch {
	case src.ConfigMapKeyRef != nil:
		return fmt.Sprintf("ConfigMap %s key %s", src.ConfigMapKeyRef.Name, src.ConfigMapKeyRef.Key)
	case src.SecretKeyRef != nil:
		return fmt.Sprintf("Secret %s key %s", src.SecretKeyRef.Name, src.SecretKeyRef.Key)
	}
	return "an empty source"
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
