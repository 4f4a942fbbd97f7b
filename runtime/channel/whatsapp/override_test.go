package whatsapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chatflow-dev/chatflow/internal/sandbox"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
)

// TestWebhookOverride registers a number's override callback with the
// sandbox's Graph contract, which verifies the URL with Meta's handshake
// against a real handshake endpoint (meta.ServeHandshake, as the gateway
// serves it), and reads Graph's refusals back as *meta.GraphError.
func TestWebhookOverride(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		meta.ServeHandshake(w, r, "the-verify-token")
	}))
	defer hook.Close()
	sb := sandbox.New(sandbox.Options{Tokens: map[string]string{phoneID: token}, MetaCallback: true})
	api := httptest.NewServer(sb)
	defer api.Close()
	o := whatsapp.WebhookOverride{APIBaseURL: api.URL + "/v21.0", PhoneNumberID: phoneID, AccessToken: token}
	ctx := context.Background()
	url := hook.URL + "/webhooks/whatsapp"

	if err := o.Set(ctx, url, "the-verify-token"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	hooks := sb.Webhooks()
	if len(hooks) != 1 || hooks[0].Channel != "whatsapp" || hooks[0].Account != phoneID || hooks[0].URL != url || !hooks[0].Checked {
		t.Fatalf("registrations %+v", hooks)
	}
	// Graph reads it back on the number's node.
	get, _ := http.NewRequest(http.MethodGet, api.URL+"/v21.0/"+phoneID+"?fields=webhook_configuration", nil)
	get.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		WebhookConfiguration struct {
			PhoneNumber string `json:"phone_number"`
		} `json:"webhook_configuration"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if cfg.WebhookConfiguration.PhoneNumber != url {
		t.Errorf("read back %+v", cfg)
	}
	graphErr := func(err error) *meta.GraphError {
		var ge *meta.GraphError
		if !errors.As(err, &ge) {
			t.Fatalf("%v is not a Graph error", err)
		}
		return ge
	}
	// Meta's handshake fails with another verify token: 2200.
	if ge := graphErr(o.Set(ctx, url, "another-token")); ge.Code != 2200 || !strings.Contains(ge.Message, "403") {
		t.Errorf("wrong verify token: %+v", ge)
	}
	// A wrong access token: 190.
	bad := o
	bad.AccessToken = "nope"
	if ge := graphErr(bad.Set(ctx, url, "the-verify-token")); ge.Code != 190 {
		t.Errorf("wrong access token: %+v", ge)
	}
	// Not https (and not a local gateway): 100.
	if ge := graphErr(o.Set(ctx, "http://gateway.example.com/webhooks/whatsapp", "t")); ge.Code != 100 {
		t.Errorf("http URL: %+v", ge)
	}
	// Longer than Meta's 200 characters: refused before the call.
	if err := o.Set(ctx, "https://example.com/"+strings.Repeat("a", 200), "t"); err == nil || len(sb.Webhooks()) != 1 {
		t.Errorf("a 220-character URL: %v", err)
	}
	// An injected fault on the number comes back as its Graph error.
	req, _ := http.NewRequest(http.MethodPost, api.URL+"/sandbox/faults", strings.NewReader(`{"channel":"whatsapp","to":"`+phoneID+`","code":131000}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("injecting a fault: %v %v", resp, err)
	}
	if ge := graphErr(o.Set(ctx, url, "the-verify-token")); ge.Code != 131000 {
		t.Errorf("injected fault: %+v", ge)
	}
	// Removing the override.
	if err := o.Set(ctx, "", ""); err != nil {
		t.Fatalf("removing: %v", err)
	}
	if hooks := sb.Webhooks(); len(hooks) != 2 || hooks[1].URL != "" {
		t.Fatalf("registrations %+v", hooks)
	}
}
