package manifest_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	kjson "sigs.k8s.io/json"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

const flowHead = `apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: f}
spec:
  trigger: {type: WhatsApp}
  nodes:
  - {id: start, type: Start, next: ask}
`

func parseOne(t *testing.T, src string) manifest.Object {
	t.Helper()
	objs, err := manifest.Parse(manifest.Source{Name: "f.yaml", Data: []byte(src)})
	if err != nil || len(objs) != 1 {
		t.Fatalf("%v %v", objs, err)
	}
	return objs[0]
}

func TestDecodeNamesEachWrongField(t *testing.T) {
	for name, tc := range map[string]struct{ tail, want string }{
		"a YAML 1.1 boolean in a list": {
			"  - {id: ask, type: SendMessage, sendMessage: {text: Hi, buttons: [{id: yes, title: Yes}]}, next: end}\n",
			`f.yaml:8: spec.nodes[1].sendMessage.buttons[0].id: Invalid value: "boolean": must be a string (quote it: "yes")` + "\n" +
				`f.yaml:8: spec.nodes[1].sendMessage.buttons[0].title: Invalid value: "boolean": must be a string (quote it: "Yes")`,
		},
		"a number for a duration": {
			"  - {id: ask, type: WaitForReply, waitForReply: {timeout: 10}, next: end}\n",
			`f.yaml:8: spec.nodes[1].waitForReply.timeout: Invalid value: "integer": must be a string (quote it: "10")`,
		},
		"a string for an integer": {
			"  executor: {replicas: \"2\"}\n",
			`f.yaml:8: spec.executor.replicas: Invalid value: "string": must be an integer (remove the quotes: 2)`,
		},
		"an integer out of range": {
			"  executor: {replicas: 99999999999}\n",
			`f.yaml:8: spec.executor.replicas: Invalid value: 99999999999: must be between -2147483648 and 2147483647`,
		},
		"unknown fields, case-sensitive": {
			"  Nodes: []\n  executor: {replicas: 1, replica: 2}\n",
			"f.yaml:8: spec.Nodes: " + manifest.UnknownFieldDetail + "\nf.yaml:9: spec.executor.replica: " + manifest.UnknownFieldDetail,
		},
		"a list for an object": {
			"  trigger: [WhatsApp]\n",
			`duplicate field "spec.trigger"`,
		},
		"an object for a string": {
			"  displayName: {text: x}\n",
			`f.yaml:8: spec.displayName: Invalid value: "object": must be a string`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			objs, err := manifest.Parse(manifest.Source{Name: "f.yaml", Data: []byte(flowHead + tc.tail)})
			if err == nil {
				err = objs[0].Decode(&v1alpha1.ChatFlow{})
			}
			if err == nil || err.Error() != tc.want && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestDecodeMetadata(t *testing.T) {
	o := parseOne(t, "apiVersion: chatflow.dev/v1alpha1\nkind: ChannelBinding\nmetadata:\n  name: b\n  labels: {team: no}\n  nmae: x\nspec: {channel: Viber}\n")
	var de *manifest.DecodeError
	err := o.Decode(&v1alpha1.ChannelBinding{})
	if !errors.As(err, &de) {
		t.Fatalf("got %v", err)
	}
	want := "f.yaml:5: metadata.labels[team]: Invalid value: \"boolean\": must be a string (quote it: \"no\")\nf.yaml:6: metadata.nmae: " + manifest.UnknownFieldDetail
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
}

// What decodes, decodes as the API server's decoder does.
func TestDecodeIsTheAPIServersDecode(t *testing.T) {
	files, _ := filepath.Glob("../../config/samples/*.yaml")
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := manifest.Parse(manifest.Source{Name: f, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.Kind != "ChatFlow" {
				continue
			}
			n++
			var got, want v1alpha1.ChatFlow
			if err := o.Decode(&got); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(o.Value)
			if err := kjson.UnmarshalCaseSensitivePreserveInts(b, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: Decode differs from a plain decode", f)
			}
		}
	}
	if n < 3 {
		t.Fatalf("only %d sample flows", n)
	}
}
