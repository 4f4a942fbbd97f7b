package whatsapp_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
)

// The signed capture of testdata/signature_vector.txt, end to end through
// the channel.Receiver interface the executor uses.
func TestWebhookReceiver(t *testing.T) {
	const secret = "1222e786b144d0e85b9f365372d93676"
	const header = "sha256=54edfa1d7259e0eb13c677cc7d73d1b5c86cfa12433d19156e058ab9251bc441"
	body := fixture(t, "signature_vector_body.json")
	var rcv channel.Receiver = &whatsapp.Webhook{
		Verifier:  meta.Verifier{AppSecret: func() string { return secret }},
		AccountID: "277321005464405",
	}
	h := http.Header{meta.SignatureHeader: {header}}
	if err := rcv.Authenticate(h, body); err != nil {
		t.Fatal(err)
	}
	b, err := rcv.Parse(body)
	if err != nil || len(b.Messages) != 1 || b.Messages[0].Text != "Hey there! I am using PyWa." {
		t.Fatalf("%s %v", js(b), err)
	}
	if err := rcv.Authenticate(h, append(body, ' ')); !errors.Is(err, channel.ErrUnauthenticated) {
		t.Fatalf("tampered body: %v", err)
	}
}
