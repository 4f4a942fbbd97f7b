package lint

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// The split of the API server's validators is possible for the ChatFlow
// CRD as generated, and a lint after a one-node edit checks that node
// alone: were it not, Lint would still be right, only slow.
func TestALintAfterAnEditChecksTheEditedNodeAlone(t *testing.T) {
	s, err := schemas()
	if err != nil {
		t.Fatal(err)
	}
	m := s["ChatFlow"].memo
	if m == nil || m.items == nil || m.rest == nil {
		t.Fatal("the ChatFlow's CEL validator cannot be split at spec.nodes: check the CRD's shape against withoutItems")
	}
	var b strings.Builder
	b.WriteString("apiVersion: chatflow.dev/v1alpha1\nkind: ChatFlow\nmetadata: {name: remembered}\nspec:\n  trigger: {type: WhatsApp}\n  nodes:\n  - {id: start, type: Start, next: n1}\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, "  - {id: n%d, type: SendMessage, sendMessage: {text: 'remembered %d'}, next: n%d}\n", i, i, i+1)
	}
	b.WriteString("  - {id: n40, type: End}\n")
	src := b.String()
	lintLen := func(data string) int {
		t.Helper()
		if r := Lint([]manifest.Source{{Name: "f.yaml", Data: []byte(data)}}); len(r.Problems) > 0 {
			t.Fatalf("problems: %v", r.Problems)
		}
		return m.seen.lru.Len()
	}
	before := lintLen(src)
	if again := lintLen(src); again != before {
		t.Errorf("a lint of the same flow remembered %d new things", again-before)
	}
	after := lintLen(strings.Replace(src, "'remembered 7'", "'edited'", 1))
	// The edited node's OpenAPI and CEL results, and its decoding (the
	// same value admitted and as written: it has no defaults).
	if after-before != 3 {
		t.Errorf("a lint after a one-node edit remembered %d new things, want 3", after-before)
	}
}

func TestRememberedIsBounded(t *testing.T) {
	r := newRemembered()
	for i := range maxRemembered + 100 {
		r.add(i, i, 8)
	}
	if n := r.lru.Len(); n != maxRemembered || r.bytes != 8*maxRemembered {
		t.Errorf("%d entries of %d bytes, want %d of %d", n, r.bytes, maxRemembered, 8*maxRemembered)
	}
	r.add(maxRemembered+99, "again", 8) // already there: no change
	if v, _ := r.get(maxRemembered + 99); v != maxRemembered+99 || r.bytes != 8*maxRemembered {
		t.Errorf("adding a key again changed it: %v, %d bytes", v, r.bytes)
	}
	big := int64(maxRememberedBytes / 20)
	for i := range 40 {
		r.add(fmt.Sprint("big", i), i, big)
	}
	if r.bytes > maxRememberedBytes {
		t.Errorf("%d bytes remembered, the bound is %d", r.bytes, maxRememberedBytes)
	}
	if _, ok := r.get("big39"); !ok {
		t.Error("the newest entry was dropped")
	}
	r.add("huge", 0, maxRememberedBytes)
	if _, ok := r.get("huge"); ok {
		t.Error("an entry of a sixteenth of the bound or more was remembered")
	}
}
