package builders

import (
	"os"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/internal/testutil"
	"github.com/chatflow-dev/chatflow/internal/manifest"
)

// A flow's models reach its executor: models.yaml in the ConfigMap (read
// back by the executor's loader), --models and --model-keys, and one
// volume per key Secret with only the named keys, never a value in the
// arguments.
func TestDeploymentAndConfigMapOfModels(t *testing.T) {
	g := NewWithT(t)
	f := testutil.WithAIReply(testutil.Flow("support", v1alpha1.StatePublished), "writer")
	writer, cheap := *testutil.Model("writer", "openai"), *testutil.Model("cheap", "openai")
	cheap.Spec.APIKeyRef.Key = "otherKey"
	local := *testutil.Model("local", "")
	local.Spec.APIKeyRef = nil
	models := []v1alpha1.LanguageModel{writer, cheap, local}

	cm, err := ConfigMap(f, testutil.Binding("b", "support"), "5f1c2a9e01", "", nil, models...)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cm.Data).To(HaveKey(ModelsKey))
	g.Expect(cm.Data[ModelsKey]).NotTo(ContainSubstring("status"))
	file := t.TempDir() + "/models.yaml"
	g.Expect(writeFile(file, cm.Data[ModelsKey])).To(Succeed())
	objs, err := manifest.ReadObjects(file, "LanguageModel") // as the executor reads --models
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(objs).To(HaveLen(3))
	var back v1alpha1.LanguageModel
	g.Expect(objs[1].Decode(&back)).To(Succeed())
	g.Expect(back.Name).To(Equal("cheap"))
	g.Expect(back.Spec).To(Equal(cheap.Spec))

	withoutModels, _ := ConfigMap(f, testutil.Binding("b", "support"), "5f1c2a9e01", "", nil)
	g.Expect(withoutModels.Data).NotTo(HaveKey(ModelsKey))
	g.Expect(withoutModels.Name).NotTo(Equal(cm.Name), "the models' settings name the ConfigMap")
	cheap2 := cheap
	cheap2.Spec.Model = "gpt-4.1-mini"
	other, _ := ConfigMap(f, testutil.Binding("b", "support"), "5f1c2a9e01", "", nil, writer, cheap2, local)
	g.Expect(other.Name).NotTo(Equal(cm.Name), "a model change rolls the executor")

	in := input(f, testutil.Binding("b", "support"))
	in.Models = models
	d := Deployment(in)
	c := executor(d)
	g.Expect(strings.Join(c.Args, " ")).To(ContainSubstring("--models /etc/chatflow/revision/models.yaml --model-keys /etc/chatflow/model-keys"))
	var keyVolumes []corev1.Volume
	for _, v := range d.Spec.Template.Spec.Volumes {
		if strings.HasPrefix(v.Name, "model-key-") {
			keyVolumes = append(keyVolumes, v)
		}
	}
	g.Expect(keyVolumes).To(HaveLen(1), "one volume per Secret")
	g.Expect(keyVolumes[0].Secret.SecretName).To(Equal("openai"))
	g.Expect(keyVolumes[0].Secret.Items).To(Equal([]corev1.KeyToPath{{Key: "apiKey", Path: "apiKey"}, {Key: "otherKey", Path: "otherKey"}}))
	g.Expect(c.VolumeMounts).To(ContainElement(And(HaveField("Name", keyVolumes[0].Name),
		HaveField("MountPath", "/etc/chatflow/model-keys/openai"), HaveField("ReadOnly", true))))
	g.Expect(ModelKeySecrets(models)).To(Equal([]string{"openai"}))

	plain := Deployment(input(f, testutil.Binding("b", "support")))
	g.Expect(executor(plain).Args).NotTo(ContainElement("--models"))
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
