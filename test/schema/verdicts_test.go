package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatflowv1alpha1 "github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/lint"
	"github.com/chatflow-dev/chatflow/internal/manifest"
	"github.com/chatflow-dev/chatflow/internal/templates"
	"github.com/chatflow-dev/chatflow/internal/testenv"
	"github.com/chatflow-dev/chatflow/test/docs"
)

// input is a file as a user would hand it to kubectl and to chatflow.
type input struct {
	name string
	data []byte
}

// verdict is what one side decided about one object: accepted, or the
// field paths it refused.
type verdict struct {
	accepted bool
	fields   []string
}

func (v verdict) String() string {
	if v.accepted {
		return "accepted"
	}
	return "refused at " + strings.Join(v.fields, ", ")
}

// repositoryInputs are the samples, the dev samples (as kustomize builds
// them), every template for every trigger it offers, and every documented
// example.
func repositoryInputs() []input {
	root := testenv.RepoRoot()
	var in []input
	files, err := filepath.Glob(filepath.Join(root, "config", "samples", "*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" || strings.HasSuffix(f, ".test.yaml") {
			continue
		}
		b, err := os.ReadFile(f)
		Expect(err).NotTo(HaveOccurred())
		in = append(in, input{"config/samples/" + filepath.Base(f), b})
	}
	dev, err := exec.Command("kubectl", "kustomize", filepath.Join(root, "config", "dev-samples")).Output()
	Expect(err).NotTo(HaveOccurred(), "kubectl kustomize config/dev-samples")
	in = append(in, input{"config/dev-samples (kustomize build)", dev})
	for _, t := range templates.All {
		for _, trigger := range t.Triggers {
			flow, _, err := t.Render("tmpl-"+strings.ToLower(trigger), trigger)
			Expect(err).NotTo(HaveOccurred())
			in = append(in, input{fmt.Sprintf("template %s for %s", t.Name, trigger), flow})
		}
	}
	examples, err := docs.Examples(root)
	Expect(err).NotTo(HaveOccurred())
	for _, ex := range examples {
		in = append(in, input{ex.String(), ex.YAML})
	}
	return in
}

// kubectlObjects reads a file the way kubectl does (apimachinery's
// YAMLOrJSONDecoder, a List's items as objects) and keeps the Chatflow
// objects. It is deliberately not the decoder under test.
func kubectlObjects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		if m == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			l, err := u.ToList()
			if err != nil {
				return out, err
			}
			for i := range l.Items {
				out = append(out, &l.Items[i])
			}
			continue
		}
		out = append(out, u)
	}
}

func isChatflow(apiVersion string) bool { return strings.HasPrefix(apiVersion, "chatflow.dev/") }

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// serverVerdict creates the object with dry-run=All and strict field
// validation, the way `kubectl apply` creates a new object, in a namespace
// of its own (the samples suite applies the same objects for real).
func serverVerdict(u *unstructured.Unstructured) verdict {
	u = u.DeepCopy()
	u.SetNamespace("verdicts")
	ensureNamespace(u.GetNamespace())
	err := k8s.Create(ctx, u, client.DryRunAll, client.FieldValidation(metav1.FieldValidationStrict))
	if err == nil {
		return verdict{accepted: true}
	}
	var status apierrors.APIStatus
	Expect(errors.As(err, &status)).To(BeTrue(), "not an API error: %v", err)
	Expect(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)).To(BeTrue(), "%s %s: %v", u.GetKind(), u.GetName(), err)
	var fields []string
	if d := status.Status().Details; d != nil {
		for _, c := range d.Causes {
			// "<nil>" is the note that the CEL rules did not run because
			// of the other errors, not a field.
			if c.Field != "<nil>" {
				fields = append(fields, c.Field)
			}
		}
	}
	for _, m := range unknownField.FindAllStringSubmatch(err.Error(), -1) {
		fields = append(fields, m[1])
	}
	Expect(fields).NotTo(BeEmpty(), "a refusal without a field: %v", err)
	return verdict{fields: normalize(fields)}
}

var namespaces = map[string]bool{}

func ensureNamespace(ns string) {
	if namespaces[ns] {
		return
	}
	err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	Expect(err == nil || apierrors.IsAlreadyExists(err)).To(BeTrue(), "namespace %s: %v", ns, err)
	namespaces[ns] = true
}

// decoderVerdicts are chatflow's verdicts on the Chatflow objects of a
// file: the manifest decoder, then what the API server checks itself.
func decoderVerdicts(name string, data []byte) ([]verdict, error) {
	objs, err := manifest.Parse(manifest.Source{Name: name, Data: data})
	if err != nil {
		return nil, err
	}
	var out []verdict
	for _, o := range objs {
		if !isChatflow(o.APIVersion) {
			continue
		}
		probs := lint.Admission(o)
		v := verdict{accepted: len(probs) == 0}
		for _, p := range probs {
			v.fields = append(v.fields, p.Field)
		}
		v.fields = normalize(v.fields)
		out = append(out, v)
	}
	return out, nil
}

func normalize(fields []string) []string {
	for i, f := range fields {
		fields[i] = strings.TrimPrefix(strings.TrimPrefix(f, "<root>"), ".")
	}
	slices.Sort(fields)
	return slices.Compact(fields)
}

// compare puts a file through both sides and requires the same verdict on
// every Chatflow object. It returns chatflow's verdicts.
func compare(in input) []verdict {
	objs, kerr := kubectlObjects(in.data)
	mine, merr := decoderVerdicts(in.name, in.data)
	if kerr != nil || merr != nil {
		Expect(merr).To(HaveOccurred(), "%s: kubectl cannot read it (%v), chatflow can", in.name, kerr)
		Expect(kerr).To(HaveOccurred(), "%s: chatflow cannot read it (%v), kubectl can", in.name, merr)
		return nil
	}
	var theirs []verdict
	for _, u := range objs {
		if isChatflow(u.GetAPIVersion()) {
			theirs = append(theirs, serverVerdict(u))
		}
	}
	Expect(mine).To(HaveLen(len(theirs)), "%s: the two readers found different objects", in.name)
	for i := range theirs {
		Expect(mine[i].String()).To(Equal(theirs[i].String()), "%s, Chatflow object %d: chatflow's verdict (actual) differs from the API server's (expected)", in.name, i+1)
	}
	return mine
}

var _ = Describe("the manifest decoder", func() {
	It("reaches the API server's verdict on every sample, template and documented example", func() {
		inputs := repositoryInputs()
		objects, byKind := 0, map[string]bool{}
		for _, in := range inputs {
			for _, v := range compare(in) {
				Expect(v.accepted).To(BeTrue(), "%s: %s", in.name, v)
				objects++
			}
			byKind[strings.SplitN(in.name, " ", 2)[0]] = true
		}
		// The samples (3), the dev samples, 25 template renderings and the
		// docs' 20-odd examples, each with one or two Chatflow objects.
		Expect(objects).To(BeNumerically(">=", 60))
		Expect(byKind).To(HaveKey("template"))
		Expect(byKind).To(HaveKey("docs/flow-reference.md,"))
	})

	It("refuses what the API server refuses, at the same fields", func() {
		for _, tc := range []struct {
			name, yaml string
			// fields chatflow and the server refuse; detail is chatflow's
			// message for the first.
			fields []string
			detail string
			// rule: a CEL rule refuses it, which the schema checks and
			// the typed decoder does not.
			rule bool
		}{{
			name:   "the YAML 1.1 boolean n",
			yaml:   strings.Replace(minimalFlow, "spec:\n", "spec:\n  variables: [{name: n}]\n", 1),
			fields: []string{"spec.variables[0].name"},
			detail: `spec.variables[0].name: Invalid value: "boolean": must be a string (quote it: "n")`,
		}, {
			name:   "a number where a string goes",
			yaml:   strings.Replace(minimalBinding, `id: "106540352242922"`, `id: 106540352242922`, 1),
			fields: []string{"spec.account.id"},
			detail: `spec.account.id: Invalid value: "integer": must be a string (quote it: "106540352242922")`,
		}, {
			name:   "an unknown field",
			yaml:   strings.Replace(minimalFlow, "  - {id: end, type: End}", "  - {id: end, type: End, nxt: start}", 1),
			fields: []string{"spec.nodes[2].nxt"},
			detail: "spec.nodes[2].nxt: " + manifest.UnknownFieldDetail,
		}, {
			name:   "a bad enum",
			yaml:   strings.Replace(minimalFlow, "type: WhatsApp", "type: Telegram", 1),
			fields: []string{"spec.trigger.type"},
			detail: `spec.trigger.type: Unsupported value: "Telegram"`,
		}, {
			name:   "a quoted boolean",
			yaml:   strings.Replace(minimalFlow, "spec:\n", "spec:\n  logging: {enabled: \"true\"}\n", 1),
			fields: []string{"spec.logging.enabled"},
			detail: `spec.logging.enabled: Invalid value: "string": must be a boolean (remove the quotes: true)`,
		}, {
			name:   "an AIExtract field of an unknown type",
			yaml:   strings.Replace(minimalFlow, "  - {id: hello, type: SendMessage, sendMessage: {text: \"Hello\"}, next: end}", "  - {id: hello, type: AIExtract, aiExtract: {model: m, fields: [{name: day, type: Date}]}, next: end}", 1),
			fields: []string{"spec.nodes[1].aiExtract.fields[0].type"},
			detail: `spec.nodes[1].aiExtract.fields[0].type: Unsupported value: "Date"`,
		}, {
			name:   "a LanguageModel's quoted maxTokens",
			yaml:   strings.Replace(minimalModel, "model: gpt-4.1-mini", "model: gpt-4.1-mini\n  maxTokens: \"512\"", 1),
			fields: []string{"spec.maxTokens"},
			detail: `spec.maxTokens: Invalid value: "string": must be an integer`,
		}, {
			name:   "a LanguageModel that would send its key over plain http",
			yaml:   strings.Replace(minimalModel, "https://api.openai.com/v1", "http://models.example.com/v1", 1),
			fields: []string{"spec.baseURL"},
			detail: "spec.baseURL: Invalid value: baseURL must be https when apiKeyRef is set",
			rule:   true,
		}, {
			name:   "an unquoted yes is true, as kubectl reads it",
			yaml:   strings.Replace(minimalFlow, "spec:\n", "spec:\n  logging: {enabled: yes}\n", 1),
			fields: nil,
		}} {
			By(tc.name)
			yaml := strings.ReplaceAll(tc.yaml, "NAME", "negative")
			v := compare(input{tc.name, []byte(yaml)})
			Expect(v).To(HaveLen(1))
			if tc.fields == nil {
				Expect(v[0].accepted).To(BeTrue(), tc.name)
				continue
			}
			Expect(v[0].fields).To(Equal(tc.fields), tc.name)
			objs, err := manifest.Parse(manifest.Source{Name: "case.yaml", Data: []byte(yaml)})
			Expect(err).NotTo(HaveOccurred())
			var msgs []string
			for _, p := range lint.Admission(objs[0]) {
				msgs = append(msgs, p.String())
			}
			Expect(strings.Join(msgs, "\n")).To(ContainSubstring(tc.detail), tc.name)

			// The executor's decoder (kubectl's conversion and a strict
			// typed decode, no schema) refuses wrongly typed and unknown
			// fields at the same path; enums are the schema's to check.
			var into any = &chatflowv1alpha1.ChatFlow{}
			switch objs[0].Kind {
			case "ChannelBinding":
				into = &chatflowv1alpha1.ChannelBinding{}
			case "LanguageModel":
				into = &chatflowv1alpha1.LanguageModel{}
			}
			err = objs[0].Decode(into)
			if strings.Contains(tc.detail, "Unsupported value") || tc.rule {
				Expect(err).NotTo(HaveOccurred(), tc.name)
				continue
			}
			Expect(err).To(HaveOccurred(), tc.name)
			Expect(err.Error()).To(ContainSubstring(tc.detail), tc.name)
		}
	})
})
