// Package testutil builds the flows, bindings and Secrets the operator's
// unit tests share. It is for tests only.
package testutil

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// Namespace of the test objects.
const Namespace = "shop"

// Flow returns a small valid WhatsApp flow: Start, a message, End.
func Flow(name string, state v1alpha1.FlowState) *v1alpha1.ChatFlow {
	return &v1alpha1.ChatFlow{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ChatFlow"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: Namespace, UID: types.UID("uid-" + name), Generation: 1,
		},
		Spec: v1alpha1.ChatFlowSpec{
			State:   state,
			Trigger: v1alpha1.Trigger{Type: v1alpha1.TriggerWhatsApp},
			Nodes: []v1alpha1.Node{
				{ID: "start", Type: v1alpha1.NodeStart, Next: "hello"},
				{ID: "hello", Type: v1alpha1.NodeSendMessage, SendMessage: &v1alpha1.SendMessageNode{Text: "Hello"}, Next: "end"},
				{ID: "end", Type: v1alpha1.NodeEnd},
			},
		},
	}
}

// WithHTTPSecret adds an HTTPRequest node whose Authorization header reads
// a Secret, between hello and end.
func WithHTTPSecret(f *v1alpha1.ChatFlow, secret string) *v1alpha1.ChatFlow {
	f.Spec.Nodes[1].Next = "call"
	f.Spec.Nodes = append(f.Spec.Nodes, v1alpha1.Node{
		ID: "call", Type: v1alpha1.NodeHTTPRequest, Next: "end",
		HTTPRequest: &v1alpha1.HTTPRequestNode{
			Method: "GET", URL: "https://orders.example.com/v1/orders",
			Headers: []v1alpha1.HTTPHeader{{Name: "Authorization", ValueFrom: &v1alpha1.HeaderSource{
				SecretKeyRef: v1alpha1.SecretKeySelector{Name: secret, Key: "token"},
			}}},
		},
	})
	return f
}

// WithAIReply puts an AIReply node asking model between hello and end.
func WithAIReply(f *v1alpha1.ChatFlow, model string) *v1alpha1.ChatFlow {
	f.Spec.Nodes[1].Next = "answer"
	f.Spec.Nodes = append(f.Spec.Nodes, v1alpha1.Node{
		ID: "answer", Type: v1alpha1.NodeAIReply, Next: "end",
		AIReply: &v1alpha1.AIReplyNode{Model: model, SystemPrompt: "You help customers of Shop."},
	})
	return f
}

// Model returns a LanguageModel whose key is in Secret secret, key apiKey.
func Model(name, secret string) *v1alpha1.LanguageModel {
	return &v1alpha1.LanguageModel{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "LanguageModel"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: Namespace, UID: types.UID("uid-" + name), Generation: 1,
		},
		Spec: v1alpha1.LanguageModelSpec{
			BaseURL: "https://api.openai.com/v1", Model: "gpt-4o-mini",
			APIKeyRef: &v1alpha1.SecretKeySelector{Name: secret, Key: "apiKey"},
		},
	}
}

// ReadyModel returns a LanguageModel whose status says Ready.
func ReadyModel(name, secret string) *v1alpha1.LanguageModel {
	m := Model(name, secret)
	m.Status.ObservedGeneration = m.Generation
	m.Status.Conditions = []metav1.Condition{{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonSucceeded,
		Message: "ready", ObservedGeneration: m.Generation,
	}}
	return m
}

// Binding returns a WhatsApp binding of a flow.
func Binding(name, flow string) *v1alpha1.ChannelBinding {
	return &v1alpha1.ChannelBinding{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ChannelBinding"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: Namespace, UID: types.UID("uid-" + name), Generation: 1,
		},
		Spec: v1alpha1.ChannelBindingSpec{
			FlowRef:        v1alpha1.FlowReference{Name: flow},
			Channel:        v1alpha1.ChannelWhatsApp,
			Account:        v1alpha1.Account{Name: "Shop", PhoneNumber: "+15550001111", ID: "106540352242922"},
			CredentialsRef: v1alpha1.SecretReference{Name: name + "-credentials"},
		},
	}
}

// ReadyBinding returns a binding whose status says Ready for its generation.
func ReadyBinding(name, flow string) *v1alpha1.ChannelBinding {
	b := Binding(name, flow)
	b.Status.ObservedGeneration = b.Generation
	b.Status.Conditions = []metav1.Condition{{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonSucceeded,
		Message: "bound", ObservedGeneration: b.Generation,
	}}
	return b
}

// Credentials returns a Secret with the WhatsApp keys.
func Credentials(name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Data: map[string][]byte{
			"accessToken": []byte("EAAG"), "appSecret": []byte("s3cret"), "verifyToken": []byte("v"),
		},
	}
}

// Replicas sets a flow's executor replicas.
func Replicas(f *v1alpha1.ChatFlow, n int32) *v1alpha1.ChatFlow {
	if f.Spec.Executor == nil {
		f.Spec.Executor = &v1alpha1.ExecutorSpec{}
	}
	f.Spec.Executor.Replicas = ptr.To(n)
	return f
}

// Scheme has the built-in types and Chatflow's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}
