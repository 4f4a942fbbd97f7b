package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/channel/messenger"
	"github.com/chatflow-dev/chatflow/runtime/channel/meta"
	"github.com/chatflow-dev/chatflow/runtime/channel/viber"
	"github.com/chatflow-dev/chatflow/runtime/channel/whatsapp"
	"github.com/chatflow-dev/chatflow/runtime/expr"
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
				return errors.New("spec.webhook.register needs spec.webhook.publicURL")
			}
			url := strings.TrimRight(w.PublicURL, "/") + channel.WebhookPath(ch, b.Spec.Account.ID)
			e.registerWebhook = func(ctx context.Context) error { return client.SetWebhook(ctx, url) }
		}
		if e.program.Trigger() == v1alpha1.TriggerViber { // a Manual flow writes first, through the run API
			e.welcome = welcomeFor(e.flowSpec)
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

// webhookAddressed reports whether a webhook request is for this
// executor's account: Viber carries the bot id in the path
// (/webhooks/viber/{account}); the other channels route on the payload.
func (e *Executor) webhookAddressed(r *http.Request) bool {
	if v, ok := e.receiver.(*viber.Webhook); ok {
		return r.PathValue("account") == v.AccountID
	}
	return true
}

// answerWebhook writes the 200 of an accepted webhook. For a channel that
// greets (Viber) and a batch where a contact opened the conversation, the
// body is the welcome message, when the flow has one (see welcomeFor).
func (e *Executor) answerWebhook(w http.ResponseWriter, b channel.Batch) {
	g, ok := e.receiver.(channel.Greeter)
	if ok && len(b.Opened) > 0 && e.welcome != nil {
		if out, ok := e.welcome(b.Opened[0].Contact); ok {
			body, err := g.Greeting(out)
			if err == nil {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(body)
				return
			}
			slog.Warn("the welcome message cannot be rendered", "flow", e.flowName, "error", err.Error())
		}
	}
	w.WriteHeader(http.StatusOK)
}

// welcomeFor returns the welcome message of a flow, for channels that greet
// a contact who opens the conversation (Viber's conversation_started,
// answered in the webhook response; the only message Viber allows before
// the contact subscribes). The webhook is answered before the interpreter
// runs, so the message is rendered here from the spec, and only when that
// is safe without a session: the Start node leads straight to a
// SendMessage whose text, media URL and caption and button titles are
// static or use only contact.id, contact.name and contact.channel. Other
// flows get no welcome message (nil). When there is one, the webhook also
// queues the start of the run with that first send marked as delivered
// (queued.Welcomed), so the contact's first message answers what follows
// the greeting instead of triggering it again.
func welcomeFor(spec *v1alpha1.ChatFlowSpec) func(message.Contact) (message.Outbound, bool) {
	if spec == nil {
		return nil
	}
	ids := map[string]*v1alpha1.Node{}
	var start *v1alpha1.Node
	for i := range spec.Nodes {
		n := &spec.Nodes[i]
		ids[n.ID] = n
		if n.Type == v1alpha1.NodeStart {
			start = n
		}
	}
	if start == nil {
		return nil
	}
	first := ids[start.Next]
	if first == nil || first.Type != v1alpha1.NodeSendMessage || first.SendMessage == nil {
		return nil
	}
	m := first.SendMessage
	if m.Template != nil || m.List != nil {
		return nil
	}
	env := expr.Default()
	compile := func(src string) (*expr.Template, bool) {
		if !contactOnly(src) {
			return nil, false
		}
		t, err := env.CompileTemplate(src)
		return t, err == nil
	}
	text, ok := compile(m.Text)
	if !ok {
		return nil
	}
	var url, caption *expr.Template
	if md := m.Media; md != nil {
		if url, ok = compile(md.URL); !ok {
			return nil
		}
		if caption, ok = compile(md.Caption); !ok {
			return nil
		}
	}
	type choice struct {
		id    string
		title *expr.Template
	}
	var buttons, quick []choice
	for _, set := range []struct {
		src []v1alpha1.Button
		dst *[]choice
	}{{m.Buttons, &buttons}, {m.QuickReplies, &quick}} {
		for _, b := range set.src {
			t, ok := compile(b.Title)
			if !ok {
				return nil
			}
			*set.dst = append(*set.dst, choice{id: b.ID, title: t})
		}
	}
	return func(c message.Contact) (message.Outbound, bool) {
		sc := &expr.Scope{Contact: expr.Contact{ID: c.ID, Name: c.Name, Channel: string(c.Channel)}}
		out := message.Outbound{To: c}
		var err error
		render := func(t *expr.Template) string {
			if t == nil || err != nil {
				return ""
			}
			var s string
			s, err = t.Render(sc)
			return s
		}
		out.Text = render(text)
		if md := m.Media; md != nil {
			out.Media = &message.Media{Kind: mediaKind(md.Type), URL: render(url), Caption: render(caption), Filename: md.Filename}
		}
		for _, b := range buttons {
			out.Buttons = append(out.Buttons, message.Button{ID: b.id, Title: render(b.title)})
		}
		for _, b := range quick {
			out.QuickReplies = append(out.QuickReplies, message.Button{ID: b.id, Title: render(b.title)})
		}
		return out, err == nil
	}
}

// placeholder finds the {{ }} placeholders of a template (a backslash
// before {{ makes it literal).
var (
	placeholder = regexp.MustCompile(`(?s)\\?\{\{(.*?)\}\}`)
	contactExpr = regexp.MustCompile(`^\s*contact\.(id|name|channel)\s*$`)
)

// contactOnly reports whether every placeholder of a template reads only
// contact.id, contact.name or contact.channel. It is conservative: any
// other expression, or a "}}" inside one, makes it false.
func contactOnly(src string) bool {
	for _, m := range placeholder.FindAllStringSubmatch(src, -1) {
		if strings.HasPrefix(m[0], `\`) {
			continue
		}
		if !contactExpr.MatchString(m[1]) {
			return false
		}
	}
	return true
}

func mediaKind(t v1alpha1.MediaType) message.MediaKind {
	return message.MediaKind(strings.ToLower(string(t)))
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
