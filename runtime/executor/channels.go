package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/messenger"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/channel/viber"
	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// routeAccount is the route wildcard of the account id in a webhook path.
const routeAccount = "{account}"

// sendTransport is the connection pool of the channel's send API. All sends
// go to one host, so it keeps as many idle connections as workers can use at
// once; the default of two per host would close and reopen connections under
// load.
func sendTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 256
	return t
}

// setupChannel builds the receiver and sender of the binding's channel.
// Credentials are read through funcs at each use, so a rotated Secret takes
// effect without a restart. Meta channels use accessToken, appSecret and
// verifyToken; Viber uses authToken.
func (e *Executor) setupChannel(b *v1alpha1.ChannelBinding) error {
	delivery := channel.Delivery{
		Client: &http.Client{Timeout: 30 * time.Second, Transport: sendTransport()},
		OnRetry: func(int, *message.SendError, time.Duration) {
			e.metrics.retries.Inc()
		},
	}
	// The account's send rate holds across replicas when the store can
	// keep its bucket (Redis); the memory store means one replica.
	limiter := func(def float64) channel.Limiter {
		if e.sendRate > 0 {
			def = e.sendRate
		}
		e.sendRate = def
		if shared, ok := e.store.(channel.TokenSource); ok {
			return channel.NewSharedRateLimiter(shared, string(b.Spec.Channel), def, 0, nil)
		}
		return channel.NewRateLimiter(def, 0, nil)
	}
	accessToken := func(context.Context) (string, error) {
		if t := e.creds.Get(channel.KeyAccessToken); t != "" {
			return t, nil
		}
		return "", errors.New("the credentials Secret has no accessToken")
	}
	verifier := meta.Verifier{
		AppSecret:   func() string { return e.creds.Get(channel.KeyAppSecret) },
		VerifyToken: func() string { return e.creds.Get(channel.KeyVerifyToken) },
	}
	switch ch := message.Channel(b.Spec.Channel); ch {
	case message.WhatsApp:
		delivery.Limiter = limiter(channel.DefaultWhatsAppRate)
		client, err := whatsapp.NewClient(whatsapp.Config{
			PhoneNumberID: b.Spec.Account.ID,
			AccessToken:   accessToken,
			APIBaseURL:    b.Spec.APIBaseURL,
			Delivery:      delivery,
		})
		if err != nil {
			return err
		}
		wh := &whatsapp.Webhook{Verifier: verifier, AccountID: b.Spec.Account.ID}
		e.receiver, e.handshaker, e.sender = wh, wh, client
		return nil
	case message.Messenger, message.Instagram:
		flavor, _ := messenger.FlavorOf(ch)
		delivery.Limiter = limiter(messenger.DefaultRate)
		mtype := messenger.MessagingTypeResponse
		if e.program.Trigger() == v1alpha1.TriggerManual {
			mtype = messenger.MessagingTypeUpdate // the run API writes first
		}
		client, err := messenger.NewClient(messenger.Config{
			Flavor:        flavor,
			AccountID:     b.Spec.Account.ID,
			AccessToken:   accessToken,
			APIBaseURL:    b.Spec.APIBaseURL,
			MessagingType: mtype,
			Delivery:      delivery,
		})
		if err != nil {
			return err
		}
		wh := &messenger.Webhook{Verifier: verifier, Flavor: flavor, AccountID: b.Spec.Account.ID}
		e.receiver, e.handshaker, e.sender = wh, wh, client
		return nil
	case message.Viber:
		delivery.Limiter = limiter(viber.DefaultRate)
		sender := viber.Sender{Name: viberSenderName(b)}
		client, err := viber.NewClient(viber.Config{
			AccountID: b.Spec.Account.ID,
			AuthToken: func(context.Context) (string, error) {
				if t := e.creds.Get(channel.KeyAuthToken); t != "" {
					return t, nil
				}
				return "", errors.New("the credentials Secret has no authToken")
			},
			Sender:     sender,
			APIBaseURL: b.Spec.APIBaseURL,
			Delivery:   delivery,
		})
		if err != nil {
			return err
		}
		e.receiver = &viber.Webhook{
			AuthToken: func() string { return e.creds.Get(channel.KeyAuthToken) },
			AccountID: b.Spec.Account.ID,
			Sender:    sender,
		}
		e.sender = client
		if w := b.Spec.Webhook; w.Register {
			if w.PublicURL == "" {
				return errors.New("spec.webhook.register needs a public URL: set spec.webhook.publicURL, or the chart's gateway.publicURL (the operator fills it in)")
			}
			url := strings.TrimRight(w.PublicURL, "/") + channel.WebhookPath(ch, b.Spec.Account.ID)
			e.registerWebhook = func(ctx context.Context) error { return client.SetWebhook(ctx, url) }
		}
		return nil
	default:
		return fmt.Errorf("the %s channel is not supported by this executor yet", b.Spec.Channel)
	}
}

// viberSenderName is sender.name of the bot's messages: the account name,
// else its id, cut to Viber's 28 characters.
func viberSenderName(b *v1alpha1.ChannelBinding) string {
	name := b.Spec.Account.Name
	if name == "" {
		name = b.Spec.Account.ID
	}
	if r := []rune(name); len(r) > viber.MaxSenderNameLen {
		name = string(r[:viber.MaxSenderNameLen])
	}
	return name
}

// greeting is the answer to a webhook in which a contact opened the
// conversation, for channels that greet in the response (channel.Greeter:
// Viber's conversation_started) and flows whose first message can be
// rendered before the run exists (flow.Program.Greeting).
type greeting struct {
	opened channel.ContactEvent
	body   []byte
}

// greeting renders the greeting of a batch's first opened conversation, or
// returns nil: the channel does not greet, the flow is Manual (it writes
// first, through the run API), it has no greeting, or the channel cannot
// render it. Only a rendered greeting queues the run that skips the
// greeting's send, so the contact never misses that message.
func (e *Executor) greeting(b channel.Batch) *greeting {
	g, ok := e.receiver.(channel.Greeter)
	if !ok || len(b.Opened) == 0 || e.program.Trigger() == v1alpha1.TriggerManual {
		return nil
	}
	o := b.Opened[0]
	send, ok := e.program.Greeting(o.Contact)
	if !ok {
		return nil
	}
	body, err := g.Greeting(send.Message)
	if err != nil {
		slog.Warn("the greeting cannot be rendered for the channel; the run starts with the contact's first message",
			"flow", e.flowName, "node", send.NodeID, "error", err.Error())
		return nil
	}
	return &greeting{opened: o, body: body}
}

// runRegistration registers the Viber webhook (spec.webhook.register) until
// it succeeds or ctx ends, retrying with capped exponential backoff:
// Viber's check calls the webhook back, which fails while the ingress is
// not ready yet. Failures are logged, never fatal.
func (e *Executor) runRegistration(ctx context.Context) {
	if e.registerWebhook == nil {
		return
	}
	p := channel.RetryPolicy{BaseDelay: 2 * time.Second, MaxDelay: 5 * time.Minute}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := e.registerWebhook(actx)
		cancel()
		if err == nil {
			slog.Info("Viber webhook registered", "flow", e.flowName, "attempts", attempt)
			return
		}
		// Full jitter on at least half the step, so retries never spin.
		delay := p.Backoff(attempt, 0.5+0.5*rand.Float64())
		slog.Warn("Viber webhook registration failed; retrying", "flow", e.flowName, "attempt", attempt,
			"retryIn", delay.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}
