package schema

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	chatflowv1alpha1 "github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/testenv"
)

// minimalFlow is the smallest valid flow; tests mutate copies of it.
const minimalFlow = `
apiVersion: chatflow.dev/v1alpha1
kind: ChatFlow
metadata: {name: NAME, namespace: default}
spec:
  trigger: {type: WhatsApp}
  nodes:
  - {id: start, type: Start, next: hello}
  - {id: hello, type: SendMessage, sendMessage: {text: "Hello"}, next: end}
  - {id: end, type: End}
`

const minimalModel = `
apiVersion: chatflow.dev/v1alpha1
kind: LanguageModel
metadata: {name: NAME, namespace: default}
spec:
  baseURL: https://api.openai.com/v1
  model: gpt-4.1-mini
  apiKeyRef: {name: openai, key: apiKey}
`

const minimalBinding = `
apiVersion: chatflow.dev/v1alpha1
kind: ChannelBinding
metadata: {name: NAME, namespace: default}
spec:
  flowRef: {name: some-flow}
  channel: WhatsApp
  account: {name: Shop, phoneNumber: "+15550001111", id: "106540352242922"}
  credentialsRef: {name: shop-whatsapp}
`

var nameSeq int

// object decodes a YAML manifest with a fresh name.
func object(manifest string) *unstructured.Unstructured {
	nameSeq++
	u := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(manifest), &u.Object)).To(Succeed())
	u.SetName(fmt.Sprintf("t%d", nameSeq))
	return u
}

func nodes(u *unstructured.Unstructured) []any {
	n, _, _ := unstructured.NestedSlice(u.Object, "spec", "nodes")
	return n
}

func setNodes(u *unstructured.Unstructured, n []any) {
	Expect(unstructured.SetNestedSlice(u.Object, n, "spec", "nodes")).To(Succeed())
}

// expectInvalid creates u and expects an Invalid error that contains every
// fragment.
func expectInvalid(u *unstructured.Unstructured, fragments ...string) {
	err := k8s.Create(ctx, u)
	Expect(err).To(HaveOccurred(), "the API server accepted an object it must reject")
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
	for _, f := range fragments {
		Expect(err.Error()).To(ContainSubstring(f))
	}
}

var _ = Describe("the CRDs", func() {
	It("are installed and established, with short names, categories and printer columns", func() {
		for name, want := range map[string]struct {
			short   string
			columns []string
		}{
			"chatflows.chatflow.dev":       {"cf", []string{"Trigger", "State", "Live", "Ready", "Revision", "Age", "Status"}},
			"channelbindings.chatflow.dev": {"cb", []string{"Channel", "Account", "Flow", "Ready", "Age", "Webhook URL", "Status"}},
			"languagemodels.chatflow.dev":  {"lm", []string{"Model", "BaseURL", "Ready", "Age", "Status"}},
		} {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			Expect(k8s.Get(ctx, types.NamespacedName{Name: name}, crd)).To(Succeed())
			established := false
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					established = true
				}
			}
			Expect(established).To(BeTrue(), name)
			Expect(crd.Spec.Names.ShortNames).To(Equal([]string{want.short}))
			Expect(crd.Spec.Names.Categories).To(Equal([]string{"chatflow-all"}), "not \"chatflow\": kubectl would resolve `kubectl get chatflow X` to the category and reach bindings too")
			var cols []string
			for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
				cols = append(cols, c.Name)
				if c.Name == "Webhook URL" || c.Name == "Status" {
					Expect(c.Priority).To(Equal(int32(1)), "%s shows at -o wide only", c.Name)
				}
			}
			Expect(cols).To(Equal(want.columns))
		}
	})

	It("document every field, so kubectl explain has something to show", func() {
		for _, name := range []string{"chatflows.chatflow.dev", "channelbindings.chatflow.dev", "languagemodels.chatflow.dev"} {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			Expect(k8s.Get(ctx, types.NamespacedName{Name: name}, crd)).To(Succeed())
			var missing []string
			walkSchema("", crd.Spec.Versions[0].Schema.OpenAPIV3Schema, &missing)
			Expect(missing).To(BeEmpty(), "fields of %s without a description", name)
		}
	})

	It("make kubectl explain print the field docs", func() {
		kubectl, err := exec.LookPath("kubectl")
		Expect(err).NotTo(HaveOccurred(), "kubectl is needed for this test (it ships with the development machine)")
		user, err := env.AddUser(envtest.User{Name: "explainer", Groups: []string{"system:masters"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		kubeconfig, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
		Expect(os.WriteFile(path, kubeconfig, 0o600)).To(Succeed())
		// The API server publishes a new CRD's OpenAPI asynchronously.
		var out []byte
		Eventually(func() error {
			out, err = exec.Command(kubectl, "--kubeconfig", path, "explain", "chatflow.spec.nodes").CombinedOutput()
			return err
		}).WithTimeout(60*time.Second).WithPolling(time.Second).Should(Succeed(), func() string { return string(out) })
		Expect(string(out)).To(ContainSubstring("the components between them, linked by node id"))
		Expect(string(out)).To(ContainSubstring("sendMessage"))
		Expect(string(out)).To(ContainSubstring("holds the settings of a SendMessage node"))
	})
})

// walkSchema collects the paths of properties that have no description.
func walkSchema(path string, s *apiextensionsv1.JSONSchemaProps, missing *[]string) {
	if s == nil {
		return
	}
	for name, p := range s.Properties {
		child := path + "." + name
		// metadata is the standard ObjectMeta, documented by the API server itself.
		if child != ".metadata" && strings.TrimSpace(p.Description) == "" {
			*missing = append(*missing, child)
		}
		if child != ".metadata" {
			walkSchema(child, &p, missing)
		}
	}
	if s.Items != nil && s.Items.Schema != nil {
		walkSchema(path+"[]", s.Items.Schema, missing)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		walkSchema(path+"{}", s.AdditionalProperties.Schema, missing)
	}
}

var _ = Describe("the samples", func() {
	It("are all accepted with server-side apply, and new objects are not reported current early", func() {
		files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		flows := 0
		for _, f := range files {
			// kustomization.yaml and the transcript tests (*.test.yaml) are
			// not Kubernetes objects.
			if filepath.Base(f) == "kustomization.yaml" || strings.HasSuffix(f, ".test.yaml") {
				continue
			}
			objs, err := testenv.ReadManifests(f)
			Expect(err).NotTo(HaveOccurred())
			for _, u := range objs {
				err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
					client.FieldOwner("schema-test"), client.ForceOwnership)
				Expect(err).NotTo(HaveOccurred(), "%s: %s %s", filepath.Base(f), u.GetKind(), u.GetName())
				if u.GetKind() == "ChatFlow" {
					flows++
					flow := &chatflowv1alpha1.ChatFlow{}
					Expect(k8s.Get(ctx, client.ObjectKeyFromObject(u), flow)).To(Succeed())
					Expect(flow.Status.ObservedGeneration).To(Equal(int64(-1)),
						"status.observedGeneration must default to -1 so kstatus waits for the operator")
				}
			}
		}
		Expect(flows).To(BeNumerically(">=", 3))
	})
})

var _ = Describe("ChatFlow validation", func() {
	It("accepts the minimal flow and defaults state to Unpublished", func() {
		u := object(minimalFlow)
		Expect(k8s.Create(ctx, u)).To(Succeed())
		Expect(u.Object["spec"].(map[string]any)["state"]).To(Equal("Unpublished"))
	})

	It("rejects a node whose member does not match its type", func() {
		u := object(minimalFlow)
		n := nodes(u)
		hello := n[1].(map[string]any)
		delete(hello, "sendMessage")
		hello["waitForReply"] = map[string]any{"timeout": "1m"}
		setNodes(u, n)
		expectInvalid(u,
			"spec.nodes[1].sendMessage",
			"a SendMessage node needs the sendMessage member, and only SendMessage nodes may have it",
			"a WaitForReply node needs the waitForReply member, and only WaitForReply nodes may have it")
	})

	It("rejects a Start node that carries a member", func() {
		u := object(minimalFlow)
		n := nodes(u)
		n[0].(map[string]any)["delay"] = map[string]any{"duration": "1m"}
		setNodes(u, n)
		expectInvalid(u, "spec.nodes[0].delay", "a Delay node needs the delay member, and only Delay nodes may have it")
	})

	It("rejects an unknown node type", func() {
		u := object(minimalFlow)
		n := nodes(u)
		n[1].(map[string]any)["type"] = "Teleport"
		setNodes(u, n)
		expectInvalid(u, `spec.nodes[1].type: Unsupported value: "Teleport"`, `"SendMessage"`)
	})

	It("rejects a node id that is not DNS-label-like", func() {
		u := object(minimalFlow)
		n := nodes(u)
		n[1].(map[string]any)["id"] = "Say_Hello"
		setNodes(u, n)
		expectInvalid(u, "spec.nodes[1].id", "should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'")
	})

	It("rejects more than 1000 nodes", func() {
		u := object(minimalFlow)
		n := []any{}
		for i := 0; i < 1001; i++ {
			n = append(n, map[string]any{"id": fmt.Sprintf("n%d", i), "type": "End"})
		}
		setNodes(u, n)
		expectInvalid(u, "spec.nodes", "must have at most 1000 items")
	})

	It("rejects an End node with next, and onError on a node that cannot fail", func() {
		u := object(minimalFlow)
		n := nodes(u)
		n[2].(map[string]any)["next"] = "start"
		n[0].(map[string]any)["onError"] = "end"
		setNodes(u, n)
		expectInvalid(u, "an End node has no next: it closes the session",
			"onError applies only to SendMessage, HTTPRequest and AI nodes")
	})

	It("rejects an assignment with both value and expr", func() {
		u := object(minimalFlow)
		n := nodes(u)
		n[1] = map[string]any{"id": "hello", "type": "SetVariables", "next": "end",
			"setVariables": map[string]any{"variables": []any{map[string]any{"name": "x", "value": "a", "expr": "1"}}}}
		setNodes(u, n)
		expectInvalid(u, "set exactly one of value (a template) and expr (a CEL expression)")
	})

	It("rejects a trigger type change while the flow stays Published, and allows it once Unpublished", func() {
		u := object(minimalFlow)
		Expect(unstructured.SetNestedField(u.Object, "Published", "spec", "state")).To(Succeed())
		Expect(k8s.Create(ctx, u)).To(Succeed())

		Expect(unstructured.SetNestedField(u.Object, "Viber", "spec", "trigger", "type")).To(Succeed())
		err := k8s.Update(ctx, u)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.trigger.type"))
		Expect(err.Error()).To(ContainSubstring(
			"spec.trigger.type cannot change while the flow is Published: set spec.state: Unpublished first, then change the trigger"))

		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(u), u)).To(Succeed())
		Expect(unstructured.SetNestedField(u.Object, "Unpublished", "spec", "state")).To(Succeed())
		Expect(k8s.Update(ctx, u)).To(Succeed())
		Expect(unstructured.SetNestedField(u.Object, "Viber", "spec", "trigger", "type")).To(Succeed())
		Expect(k8s.Update(ctx, u)).To(Succeed())
	})

	It("takes run credentials on a Manual trigger only", func() {
		u := object(minimalFlow)
		Expect(unstructured.SetNestedField(u.Object, map[string]any{"name": "runs"}, "spec", "trigger", "credentialsRef")).To(Succeed())
		expectInvalid(u, "spec.trigger.credentialsRef", "spec.trigger.credentialsRef is for Manual flows")
		Expect(unstructured.SetNestedField(u.Object, "Manual", "spec", "trigger", "type")).To(Succeed())
		Expect(k8s.Create(ctx, u)).To(Succeed())
	})

	It("rejects an unknown state and an unknown trigger", func() {
		u := object(minimalFlow)
		Expect(unstructured.SetNestedField(u.Object, "Live", "spec", "state")).To(Succeed())
		Expect(unstructured.SetNestedField(u.Object, "Telegram", "spec", "trigger", "type")).To(Succeed())
		expectInvalid(u, `spec.state: Unsupported value: "Live"`, `spec.trigger.type: Unsupported value: "Telegram"`)
	})
})

var _ = Describe("AI node validation", func() {
	aiFlow := func(node map[string]any) *unstructured.Unstructured {
		u := object(minimalFlow)
		n := nodes(u)
		node["id"] = "ask"
		n = append(n[:1], append([]any{node}, n[1:]...)...)
		n[0].(map[string]any)["next"] = "ask"
		setNodes(u, n)
		return u
	}

	It("accepts each AI node with onError", func() {
		for _, node := range []map[string]any{
			{"type": "AIReply", "aiReply": map[string]any{"model": "m", "systemPrompt": "Answer briefly.", "history": int64(12)}, "next": "hello", "onError": "end"},
			{"type": "AIClassify", "aiClassify": map[string]any{"model": "m", "labels": []any{map[string]any{"name": "order", "next": "hello"}}, "default": "end"}, "onError": "end"},
			{"type": "AIExtract", "aiExtract": map[string]any{"model": "m", "fields": []any{map[string]any{"name": "orderNumber", "type": "Integer", "required": true}}}, "next": "hello", "onError": "end"},
		} {
			Expect(k8s.Create(ctx, aiFlow(node))).To(Succeed(), "%v", node["type"])
		}
	})

	It("rejects an AI node whose member does not match its type", func() {
		u := aiFlow(map[string]any{"type": "AIReply", "aiClassify": map[string]any{"model": "m", "labels": []any{map[string]any{"name": "a", "next": "end"}}, "default": "end"}, "next": "hello"})
		expectInvalid(u, "an AIReply node needs the aiReply member, and only AIReply nodes may have it",
			"an AIClassify node needs the aiClassify member, and only AIClassify nodes may have it")
	})

	It("bounds history, labels and fields, and keeps enum to String fields", func() {
		expectInvalid(aiFlow(map[string]any{"type": "AIReply", "aiReply": map[string]any{"model": "m", "systemPrompt": "x", "history": int64(13)}, "next": "hello"}),
			"spec.nodes[1].aiReply.history", "should be less than or equal to 12")
		expectInvalid(aiFlow(map[string]any{"type": "AIClassify", "aiClassify": map[string]any{"model": "m", "labels": []any{}, "default": "end"}}),
			"spec.nodes[1].aiClassify.labels", "should have at least 1 items")
		expectInvalid(aiFlow(map[string]any{"type": "AIExtract", "aiExtract": map[string]any{"model": "m", "fields": []any{map[string]any{"name": "n", "type": "Integer", "enum": []any{"1"}}}}, "next": "hello"}),
			"spec.nodes[1].aiExtract.fields[0].enum", "enum applies to String fields only")
		expectInvalid(aiFlow(map[string]any{"type": "AIExtract", "aiExtract": map[string]any{"model": "m", "fields": []any{map[string]any{"name": "n", "type": "Date"}}}, "next": "hello"}),
			`spec.nodes[1].aiExtract.fields[0].type: Unsupported value: "Date"`)
	})
})

var _ = Describe("LanguageModel validation", func() {
	It("accepts a model and defaults its observedGeneration to -1", func() {
		u := object(minimalModel)
		Expect(k8s.Create(ctx, u)).To(Succeed())
		m := &chatflowv1alpha1.LanguageModel{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(u), m)).To(Succeed())
		Expect(m.Status.ObservedGeneration).To(Equal(int64(-1)))
	})

	It("requires https for a model with a key, but for a loopback host", func() {
		for _, ok := range []string{"http://127.0.0.1:9090/v1", "http://localhost:11434/v1", "http://[::1]:8000/v1"} {
			u := object(minimalModel)
			Expect(unstructured.SetNestedField(u.Object, ok, "spec", "baseURL")).To(Succeed())
			Expect(k8s.Create(ctx, u)).To(Succeed(), ok)
		}
		for _, bad := range []string{"http://vllm.models.svc:8000/v1", "http://127.0.0.1.nip.io/v1", "http://10.0.0.1/v1"} {
			u := object(minimalModel)
			Expect(unstructured.SetNestedField(u.Object, bad, "spec", "baseURL")).To(Succeed())
			expectInvalid(u, "spec.baseURL", "baseURL must be https when apiKeyRef is set")
		}
		u := object(minimalModel)
		unstructured.RemoveNestedField(u.Object, "spec", "apiKeyRef")
		Expect(unstructured.SetNestedField(u.Object, "http://vllm.models.svc:8000/v1", "spec", "baseURL")).To(Succeed())
		Expect(k8s.Create(ctx, u)).To(Succeed(), "a model without a key may be plain http")
	})

	It("bounds its settings", func() {
		for field, v := range map[string]any{"maxTokens": int64(0), "requestsPerMinute": int64(100001), "temperature": "2.5", "timeout": "soon"} {
			u := object(minimalModel)
			Expect(unstructured.SetNestedField(u.Object, v, "spec", field)).To(Succeed())
			expectInvalid(u, "spec."+field)
		}
		u := object(minimalModel)
		Expect(unstructured.SetNestedField(u.Object, "https://user:pw@api.example.com/v1", "spec", "baseURL")).To(Succeed())
		expectInvalid(u, "spec.baseURL")
	})
})

var _ = Describe("ChannelBinding validation", func() {
	It("accepts a valid binding and defaults its observedGeneration to -1", func() {
		u := object(minimalBinding)
		Expect(k8s.Create(ctx, u)).To(Succeed())
		b := &chatflowv1alpha1.ChannelBinding{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(u), b)).To(Succeed())
		Expect(b.Status.ObservedGeneration).To(Equal(int64(-1)))
	})

	It("rejects an unknown channel", func() {
		u := object(minimalBinding)
		Expect(unstructured.SetNestedField(u.Object, "Telegram", "spec", "channel")).To(Succeed())
		expectInvalid(u, `spec.channel: Unsupported value: "Telegram"`, `"WhatsApp"`)
	})

	It("rejects a binding without an account id, and a malformed phone number", func() {
		u := object(minimalBinding)
		unstructured.RemoveNestedField(u.Object, "spec", "account", "id")
		Expect(unstructured.SetNestedField(u.Object, "5550001111", "spec", "account", "phoneNumber")).To(Succeed())
		expectInvalid(u, "account.id is required", "spec.account.phoneNumber")
	})

	It("bounds the send rate", func() {
		for rate, want := range map[int64]string{0: "should be greater than or equal to 1", 20000: "should be less than or equal to 10000"} {
			u := object(minimalBinding)
			Expect(unstructured.SetNestedField(u.Object, rate, "spec", "sendRate")).To(Succeed())
			expectInvalid(u, "spec.sendRate", want)
		}
	})

	It("accepts an https apiBaseURL, and plain http only for a loopback host", func() {
		for _, ok := range []string{"https://graph.example.com/v21.0", "http://127.0.0.1:9090", "http://localhost:8090", "http://[::1]:8090/v21.0"} {
			u := object(minimalBinding)
			Expect(unstructured.SetNestedField(u.Object, ok, "spec", "apiBaseURL")).To(Succeed())
			Expect(k8s.Create(ctx, u)).To(Succeed(), ok)
		}
		for _, bad := range []string{"http://sandbox:8090", "http://127.0.0.1.nip.io/", "http://10.0.0.1/"} {
			u := object(minimalBinding)
			Expect(unstructured.SetNestedField(u.Object, bad, "spec", "apiBaseURL")).To(Succeed())
			expectInvalid(u, "spec.apiBaseURL", "apiBaseURL must be https: the executor sends the account's access token to it")
		}
	})

	It("keeps the channel immutable", func() {
		u := object(minimalBinding)
		Expect(k8s.Create(ctx, u)).To(Succeed())
		Expect(unstructured.SetNestedField(u.Object, "Viber", "spec", "channel")).To(Succeed())
		err := k8s.Update(ctx, u)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.channel is immutable"))
	})

	It("serves spec.flowRef.name as a field selector", func() {
		a := object(minimalBinding)
		Expect(unstructured.SetNestedField(a.Object, "selected-flow", "spec", "flowRef", "name")).To(Succeed())
		Expect(k8s.Create(ctx, a)).To(Succeed())
		list := &chatflowv1alpha1.ChannelBindingList{}
		// A raw field selector goes to the API server (this client has no cache).
		Expect(k8s.List(ctx, list, client.InNamespace("default"),
			client.MatchingFieldsSelector{Selector: fieldsSelector("spec.flowRef.name=selected-flow")})).To(Succeed())
		Expect(list.Items).To(HaveLen(1))
		Expect(list.Items[0].Name).To(Equal(a.GetName()))
	})
})

func fieldsSelector(s string) fields.Selector { return fields.ParseSelectorOrDie(s) }
