package messenger_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/messenger"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
)

// The signature vectors of testdata/{messenger,instagram}/signature_vector.txt,
// through the channel.Receiver interface the executor uses.
func TestSignatureVectors(t *testing.T) {
	const secret = "FAKE_SECRET"
	tests := []struct {
		name   string
		flavor messenger.Flavor
		body   []byte
		header string
	}{
		{"messenger {}", messenger.Messenger, []byte("{}"), "sha256=448df8785dd36742e43fa3cad9de2eca8ceb6391e79c742e33e52c6637f32dac"},
		{"messenger text_message.json", messenger.Messenger, fixture(t, "messenger/text_message.json"),
			"sha256=edaf51be9044b0c7f959c2be757b1b7df107b99f05ea1b7b443cbb14ad03e3fe"},
		{"instagram text.json", messenger.Instagram, fixture(t, "instagram/text.json"),
			"sha256=6dd3b5520f98ac6b12a7d70598493419ee74ee2308c70b811abc3ff56c1417a0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rcv channel.Receiver = &messenger.Webhook{
				Verifier: meta.Verifier{AppSecret: func() string { return secret }},
				Flavor:   tt.flavor, AccountID: courierAccount,
			}
			h := http.Header{meta.SignatureHeader: {tt.header}}
			if err := rcv.Authenticate(h, tt.body); err != nil {
				t.Fatal(err)
			}
			if err := rcv.Authenticate(h, append(append([]byte{}, tt.body...), ' ')); !errors.Is(err, channel.ErrUnauthenticated) {
				t.Fatalf("tampered body: %v", err)
			}
			if len(tt.body) > 2 {
				b, err := rcv.Parse(tt.body)
				if err != nil || len(b.Messages) != 1 || b.Messages[0].Text != "Hello World" {
					t.Fatalf("%s %v", js(b), err)
				}
			}
		})
	}
	// The legacy sha1 header alone (bottender's verbatim vectors) is not
	// accepted: only X-Hub-Signature-256 is verified.
	rcv := &messenger.Webhook{Verifier: meta.Verifier{AppSecret: func() string { return secret }}, Flavor: messenger.Messenger}
	for body, sig := range map[string]string{"rawBody": "sha1=0d814d436b45c33ef664a317ff4b8dc2d3d8fe2a", "{}": "sha1=1c99183cb7c44ea27fb834746086b65b89800db8"} {
		err := rcv.Authenticate(http.Header{"X-Hub-Signature": {sig}}, []byte(body))
		if !errors.Is(err, meta.ErrSignatureMissing) {
			t.Errorf("sha1 only for %q: %v", body, err)
		}
	}
}

func TestHandshake(t *testing.T) {
	var h channel.Handshaker = &messenger.Webhook{Verifier: meta.Verifier{VerifyToken: func() string { return "meatyhamhock" }}, Flavor: messenger.Instagram}
	for token, want := range map[string]int{"meatyhamhock": 200, "wrong": 403} {
		w := httptest.NewRecorder()
		h.Handshake(w, httptest.NewRequest("GET", "/webhooks/instagram?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="+token, nil))
		if w.Code != want || (want == 200 && strings.TrimSpace(w.Body.String()) != "1158201444") {
			t.Errorf("token %q: %d %q", token, w.Code, w.Body.String())
		}
	}
}
