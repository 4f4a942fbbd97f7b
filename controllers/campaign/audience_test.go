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
	"testing"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// sources serves source bytes by ConfigMap name.
type sources map[string][]byte

func (s sources) fetch(_ context.Context, src *v1alpha1.AudienceSource) ([]byte, error) {
	d, ok := s[src.ConfigMapKeyRef.Name]
	if !ok {
		return nil, &sourceError{msg: "no " + src.ConfigMapKeyRef.Name}
	}
	return d, nil
}

func cm(name string) v1alpha1.AudienceSource {
	return v1alpha1.AudienceSource{ConfigMapKeyRef: &v1alpha1.ConfigMapKeySelector{Name: name, Key: "k"}}
}

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// readAll reads every row and renders it on one line.
func readAll(t *testing.T, a *audience) ([]string, error) {
	t.Helper()
	var out []string
	for {
		r, err := a.next(context.Background())
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if r.bad != "" {
			out = append(out, "bad: "+r.bad)
			continue
		}
		out = append(out, fmt.Sprintf("%s|%s|%v", r.id, r.name, r.inputs))
	}
}

func TestAudienceReadsInlineThenEachSource(t *testing.T) {
	spec := &v1alpha1.Audience{
		Contacts: []v1alpha1.CampaignContact{{ID: "+1 555 000 1111", Name: "Ann", Inputs: map[string]string{"code": "A"}}},
		Sources:  []v1alpha1.AudienceSource{cm("plain"), cm("empty"), cm("zipped")},
	}
	src := sources{
		"plain":  []byte("\ufeffphone,name,code,unused\n15550002222,Bo,B,x\n\"15550003333\",\"Cy, Jr\",,\n"),
		"empty":  nil,
		"zipped": gz(t, "phone,code\n15550004444,D\n"),
	}
	spec.Columns.Contact = "phone"
	a := newAudience(spec, src.fetch, []string{"code"})
	got, err := readAll(t, a)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"+1 555 000 1111|Ann|map[code:A]",
		"15550002222|Bo|map[code:B]",
		"15550003333|Cy, Jr|map[]",
		"15550004444||map[code:D]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if a.Rows() != 4 {
		t.Errorf("rows = %d", a.Rows())
	}
}

func TestAudienceColumnMapping(t *testing.T) {
	spec := &v1alpha1.Audience{Sources: []v1alpha1.AudienceSource{cm("s")}, Columns: v1alpha1.AudienceColumns{
		Inputs: []v1alpha1.ColumnInput{{Column: "First Name", Input: "firstName"}},
	}}
	src := sources{"s": []byte("contact,First Name,firstName\n1555000,Ann,ignored\n")}
	got, err := readAll(t, newAudience(spec, src.fetch, []string{"firstName"}))
	if err != nil || len(got) != 1 || got[0] != "1555000||map[firstName:Ann]" {
		t.Errorf("rows %q, %v: a mapping replaces the columns named like inputs", got, err)
	}
}

func TestAudienceSourceProblems(t *testing.T) {
	for name, tc := range map[string]struct {
		data    sources
		stalled bool
		want    string
	}{
		"no contact column": {sources{"s": []byte("phone\n1\n")}, true, `has no column "contact"`},
		"not gzip":          {sources{"s": {0x1f, 0x8b, 1, 2}}, true, "not valid gzip"},
		"missing":           {sources{}, false, "no s"},
	} {
		t.Run(name, func(t *testing.T) {
			a := newAudience(&v1alpha1.Audience{Sources: []v1alpha1.AudienceSource{cm("s")}}, tc.data.fetch, nil)
			_, err := readAll(t, a)
			var se *sourceError
			if !errors.As(err, &se) || se.stalled != tc.stalled || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v (stalled %v), want %q stalled=%v", err, se != nil && se.stalled, tc.want, tc.stalled)
			}
		})
	}
	// A row CSV cannot parse is one bad row; reading goes on.
	a := newAudience(&v1alpha1.Audience{Sources: []v1alpha1.AudienceSource{cm("s")}},
		sources{"s": []byte("contact\n\"unterminated\n")}.fetch, nil)
	got, err := readAll(t, a)
	if err != nil || len(got) != 1 || !strings.HasPrefix(got[0], "bad: ConfigMap s key k line") {
		t.Errorf("rows %q, %v", got, err)
	}
}

// TestAudienceDigestFollowsRows: the digest of the first rows is the same
// when rows are appended, and differs when one of them is edited.
func TestAudienceDigestFollowsRows(t *testing.T) {
	digestAfter := func(data string, rows int64) string {
		a := newAudience(&v1alpha1.Audience{Sources: []v1alpha1.AudienceSource{cm("s")}}, sources{"s": []byte(data)}.fetch, nil)
		for a.Rows() < rows {
			if _, err := a.next(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		return a.Digest()
	}
	base := digestAfter("contact\n1111111\n2222222\n", 2)
	if got := digestAfter("contact\n1111111\n2222222\n3333333\n", 2); got != base {
		t.Error("appending rows changed the digest of the first two")
	}
	if got := digestAfter("contact\n1111111\n2222229\n", 2); got == base {
		t.Error("editing a row kept the digest")
	}
}

func TestClassify(t *testing.T) {
	seed := maphash.MakeSeed()
	opt := newIDSet(seed)
	opt.add("15550009999")
	c := &classifier{
		channel:  message.WhatsApp,
		inputs:   []input{{name: "firstName", required: true}, {name: "code"}},
		defaults: map[string]string{"code": "SPRING"},
		seen:     newIDSet(seed),
		optOut:   opt,
	}
	cases := []struct {
		row  row
		want string
	}{
		{row{id: "+1 (555) 000-1111", name: "Ann", inputs: map[string]string{"firstName": "Ann"}}, "run 15550001111 Ann map[code:SPRING firstName:Ann]"},
		{row{id: "15550001111", inputs: map[string]string{"firstName": "Ann"}}, "duplicate"},
		{row{id: "+15550009999", inputs: map[string]string{"firstName": "Opt"}}, "optedOut"},
		{row{id: "15550002222"}, "invalid: contact 15550002222 lacks the required input firstName"},
		{row{id: "call me", inputs: map[string]string{"firstName": "X"}}, `invalid: "call me" is not a phone number`},
		{row{id: "12", inputs: map[string]string{"firstName": "X"}}, `invalid: "12" is not a phone number of 7 to 15 digits`},
		{row{id: "15550003333", inputs: map[string]string{"firstName": "Cy", "code": "OWN"}}, "run 15550003333  map[code:OWN firstName:Cy]"},
		{row{bad: "line 3: bare quote"}, "invalid: line 3: bare quote"},
	}
	for _, tc := range cases {
		run, out, why := c.classify(tc.row)
		var got string
		switch out {
		case outRun:
			got = fmt.Sprintf("run %s %s %v", run.Contact.ID, run.Contact.Name, run.Variables)
		case outDuplicate:
			got = "duplicate"
		case outOptedOut:
			got = "optedOut"
		case outInvalid:
			got = "invalid: " + why
		}
		if got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.row, got, tc.want)
		}
	}
}

func TestReadOptOut(t *testing.T) {
	seed := maphash.MakeSeed()
	ctx := context.Background()
	for name, data := range map[string][]byte{
		"one per line":       []byte("+1 555 000 1111\n15550002222\n"),
		"a CSV with contact": []byte("name,contact\nAnn,15550001111\nBo,+15550002222\n"),
		"gzip":               gz(t, "15550001111\n15550002222\n"),
	} {
		t.Run(name, func(t *testing.T) {
			src := cm("stop")
			set, err := readOptOut(ctx, &src, sources{"stop": data}.fetch, message.WhatsApp, "contact", seed)
			if err != nil {
				t.Fatal(err)
			}
			if set.len() != 2 || !set.has("15550001111") || !set.has("15550002222") || set.has("15550003333") {
				t.Errorf("%d ids: want 15550001111 and 15550002222", set.len())
			}
		})
	}
}

// FuzzAudience: any bytes in a source (CSV or not, gzip or not) read and
// classify without panicking, and every row read is counted.
func FuzzAudience(f *testing.F) {
	f.Add([]byte("contact,name,firstName\n+1 555 000 1111,Ann,A\n15550002222,\"Bo, Jr\",B\n"), "contact")
	f.Add(gzipBytes([]byte("phone\n1555\n")), "phone")
	f.Add([]byte("\ufeffcontact\n\"broken\n"), "contact")
	f.Fuzz(func(t *testing.T, data []byte, column string) {
		spec := &v1alpha1.Audience{Sources: []v1alpha1.AudienceSource{cm("s")}, Columns: v1alpha1.AudienceColumns{Contact: column}}
		a := newAudience(spec, sources{"s": data}.fetch, []string{"firstName"})
		c := &classifier{channel: message.WhatsApp, inputs: []input{{name: "firstName"}}, seen: newIDSet(maphash.MakeSeed())}
		var n int64
		for n < 100000 {
			r, err := a.next(context.Background())
			if err != nil {
				break
			}
			n++
			c.classify(r)
		}
		if a.Rows() != n {
			t.Fatalf("read %d rows, counted %d", n, a.Rows())
		}
		set, err := readOptOut(context.Background(), &spec.Sources[0], sources{"s": data}.fetch, message.WhatsApp, "contact", maphash.MakeSeed())
		if err == nil && set == nil {
			t.Fatal("no set and no error")
		}
	})
}

func gzipBytes(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}
