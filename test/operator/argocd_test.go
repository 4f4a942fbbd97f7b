package operator

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/testenv"
)

// argoCD is config/argocd/argocd-cm-patch.yaml: the health checks and
// actions Argo CD runs, as Lua.
type argoCD struct {
	checks  map[string]string // kind -> health script
	actions struct {
		Discovery   string `json:"discovery.lua"`
		Definitions []struct {
			Name   string `json:"name"`
			Action string `json:"action.lua"`
		} `json:"definitions"`
	}
}

func loadArgoCD() *argoCD {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "argocd", "argocd-cm-patch.yaml"))
	Expect(err).NotTo(HaveOccurred())
	var patch struct {
		Data map[string]string `json:"data"`
	}
	Expect(yaml.UnmarshalStrict(data, &patch)).To(Succeed())
	a := &argoCD{checks: map[string]string{}}
	for key, v := range patch.Data {
		if kind, ok := strings.CutPrefix(key, "resource.customizations.health.chatflow.dev_"); ok {
			a.checks[kind] = v
		}
	}
	Expect(a.checks).To(HaveKey("ChatFlow"))
	Expect(a.checks).To(HaveKey("ChannelBinding"))
	Expect(yaml.UnmarshalStrict([]byte(patch.Data["resource.customizations.actions.chatflow.dev_ChatFlow"]), &a.actions)).To(Succeed())
	return a
}

// runLua runs a script of Argo CD's with obj as the global obj (as Argo
// CD does) and returns what it returns, as Go values.
func runLua(script string, obj client.Object) any {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	// As Argo CD sees it: with its kind (a typed object read with a
	// client has none set).
	gvks, _, err := k8s.Scheme().ObjectKinds(obj)
	Expect(err).NotTo(HaveOccurred())
	content["apiVersion"], content["kind"] = gvks[0].GroupVersion().String(), gvks[0].Kind
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, content))
	Expect(L.DoString(script)).To(Succeed())
	return fromLua(L.Get(-1))
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case int64:
		return lua.LNumber(x)
	case float64:
		return lua.LNumber(x)
	case map[string]any:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	}
	Fail(fmt.Sprintf("no Lua value for %T", v))
	return lua.LNil
}

func fromLua(v lua.LValue) any {
	switch x := v.(type) {
	case lua.LBool:
		return bool(x)
	case lua.LString:
		return string(x)
	case lua.LNumber:
		if float64(x) == float64(int64(x)) {
			return int64(x)
		}
		return float64(x)
	case *lua.LTable:
		if n := x.Len(); n > 0 {
			out := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				out = append(out, fromLua(x.RawGetInt(i)))
			}
			return out
		}
		out := map[string]any{}
		x.ForEach(func(k, e lua.LValue) { out[k.String()] = fromLua(e) })
		return out
	}
	return nil
}

// health is Argo CD's verdict on obj, as "<status>: <message>".
func (a *argoCD) healthOf(obj client.Object) string {
	kind := "ChatFlow"
	if _, ok := obj.(*v1alpha1.ChannelBinding); ok {
		kind = "ChannelBinding"
	}
	hs, ok := runLua(a.checks[kind], obj).(map[string]any)
	Expect(ok).To(BeTrue(), "the health check returns a table")
	return fmt.Sprintf("%v: %v", hs["status"], hs["message"])
}

func (a *argoCD) health(obj client.Object) func() string {
	return func() string { return a.healthOf(get(obj)) }
}

var _ = Describe("Argo CD's health checks and actions (config/argocd)", func() {
	var a *argoCD
	BeforeEach(func() { a = loadArgoCD() })

	It("judge the status the operator writes, as kstatus does", func() {
		ns := newNamespace()
		By("a binding whose Secret is missing: Degraded, and its Published flow too")
		f := flow("orders", ns, v1alpha1.StatePublished)
		b := binding("orders-whatsapp", ns, "orders", "acct-argo")
		create(f, b)
		Eventually(a.health(b)).Should(HavePrefix(`Degraded: SecretNotFound: Secret "orders-whatsapp-credentials"`))
		Eventually(a.health(f)).Should(HavePrefix("Degraded: BindingNotReady: "))

		By("the Secret appears: the flow rolls out, Progressing until its executor is available")
		create(credentials(b.Name, ns))
		Eventually(a.health(b)).Should(HavePrefix("Healthy: "))
		d := executorDeployment(f)
		Eventually(gone(d)).Should(BeFalse())
		Eventually(a.health(f)).Should(MatchRegexp(`^Progressing: DeploymentProgressing: `))

		By("the executor available: Healthy, with the live revision")
		rollOut(d)
		Eventually(condition(f, v1alpha1.ConditionReady)).Should(Equal("True/Succeeded"))
		Expect(a.healthOf(get(f))).To(HavePrefix(fmt.Sprintf("Healthy: Published (revision %s): ", revisionOf(f))))

		By("a status of an older generation: Progressing, whatever it says")
		older := get(f).DeepCopy()
		older.Generation++
		Expect(a.healthOf(older)).To(Equal(fmt.Sprintf("Progressing: Waiting for the Chatflow operator to observe generation %d", older.Generation)))
		none := get(f).DeepCopy()
		none.Status = v1alpha1.ChatFlowStatus{}
		Expect(a.healthOf(none)).To(Equal("Progressing: Waiting for the Chatflow operator to report status"))

		By("an Unpublished flow: Healthy")
		draft := flow("draft", ns, v1alpha1.StateUnpublished)
		create(draft)
		Eventually(a.health(draft)).Should(HavePrefix("Healthy: Unpublished"))
	})

	It("Unpublish and Publish a flow through its action scripts", func() {
		ns := newNamespace()
		f, _ := publishedAndLive("shop", ns)
		actions := func() map[string]any {
			got, ok := runLua(a.actions.Discovery, get(f)).(map[string]any)
			Expect(ok).To(BeTrue())
			return got
		}
		Expect(actions()).To(HaveKeyWithValue("publish", HaveKeyWithValue("disabled", true)))
		Expect(actions()).To(HaveKeyWithValue("unpublish", HaveKeyWithValue("disabled", false)))
		run := func(name string) {
			for _, d := range a.actions.Definitions {
				if d.Name != name {
					continue
				}
				out, ok := runLua(d.Action, get(f)).(map[string]any)
				Expect(ok).To(BeTrue(), "%s returns the object", name)
				// Argo CD updates the live object with what the action returns.
				Expect(k8s.Update(ctx, &unstructured.Unstructured{Object: out})).To(Succeed())
				return
			}
			Fail("no action " + name)
		}

		run("unpublish")
		Eventually(func() v1alpha1.FlowState { return get(f).Status.State }).Should(Equal(v1alpha1.StateUnpublished))
		Eventually(gone(executorDeployment(f))).Should(BeTrue(), "unpublishing removes the executor")
		Eventually(a.health(f)).Should(HavePrefix("Healthy: Unpublished"))
		Expect(actions()).To(HaveKeyWithValue("publish", HaveKeyWithValue("disabled", false)))

		run("publish")
		d := executorDeployment(f)
		Eventually(gone(d)).Should(BeFalse(), "publishing rolls the executor out again")
		rollOut(d)
		Eventually(a.health(f)).Should(HavePrefix("Healthy: Published"))
	})
})
