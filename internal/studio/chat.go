package studio

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/internal/chat"
	"github.com/chatflow-dev/chatflow/internal/dev/statefile"
	"github.com/chatflow-dev/chatflow/runtime/channel"
	"github.com/chatflow-dev/chatflow/runtime/message"
)

// maxChats bounds the conversations the studio keeps; the oldest goes.
const maxChats = 16

// chats are the chat panel's conversations with published flows, by id.
type chats struct {
	mu    sync.Mutex
	byID  map[string]*chat.Conversation
	order []string
}

func newChats() *chats { return &chats{byID: map[string]*chat.Conversation{}} }

func (c *chats) add(conv *chat.Conversation) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.order) >= maxChats {
		delete(c.byID, c.order[0])
		c.order = c.order[1:]
	}
	c.byID[id] = conv
	c.order = append(c.order, id)
	return id
}

func (c *chats) get(id string) (*chat.Conversation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conv := c.byID[id]
	if conv == nil {
		return nil, &apiError{status: http.StatusNotFound, msg: "no such chat: start a new one"}
	}
	return conv, nil
}

// chatStart starts a conversation with a published flow of `chatflow dev`
// as one of its contacts: webhooks signed with the binding's secret go to
// the flow's executor, replies are read from the sandbox the binding
// sends to.
func (s *Server) chatStart(r *http.Request) (any, error) {
	var req struct {
		Namespace   string         `json:"namespace"`
		Name        string         `json:"name"`
		ContactID   string         `json:"contactId"`
		ContactName string         `json:"contactName"`
		Inputs      map[string]any `json:"inputs"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.ContactID == "" {
		req.ContactID, req.ContactName = "15550100100", "Alex"
	}
	c, err := s.live.c()
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	state, stateErr := statefile.LoadState(s.live.devDir)
	if stateErr != nil {
		return nil, &apiError{status: http.StatusConflict, msg: "chatting needs chatflow dev (its executors and sandbox): " + stateErr.Error()}
	}
	f := &v1alpha1.ChatFlow{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: req.Namespace, Name: req.Name}, f); err != nil {
		return nil, kubeError(err)
	}
	var bl v1alpha1.ChannelBindingList
	if err := c.List(ctx, &bl, client.InNamespace(req.Namespace)); err != nil {
		return nil, kubeError(err)
	}
	b := bindingOf(bl.Items, req.Name)
	if b == nil {
		return nil, &apiError{status: http.StatusConflict, msg: fmt.Sprintf("no ChannelBinding names flow %s: chatting goes through a channel, so bind one", req.Name)}
	}
	secret, err := s.live.secretOf(ctx, req.Namespace, b.Spec.CredentialsRef.Name)
	if err != nil {
		return nil, err
	}
	ch := message.Channel(b.Spec.Channel)
	key := channel.KeyAppSecret
	if ch == message.Viber {
		key = channel.KeyAuthToken
	}
	e, ok := state.ExecutorOf(req.Namespace, req.Name)
	if !ok {
		return nil, &apiError{status: http.StatusConflict, msg: fmt.Sprintf("flow %s has no executor in chatflow dev: publish it and wait until it is Ready", req.Name)}
	}
	executor, ok := e.URL()
	if !ok {
		return nil, &apiError{status: http.StatusConflict, msg: "the flow's executor is not ready yet: try again in a moment"}
	}
	sandbox := b.Spec.APIBaseURL
	if sandbox == "" {
		sandbox = state.Sandbox
	}
	cfg := chat.Config{
		Flow: req.Name, Channel: ch, Account: b.Spec.Account.ID, Phone: b.Spec.Account.PhoneNumber,
		Secret: string(secret.Data[key]), ExecutorURL: executor, SandboxURL: sandbox,
		ContactID: req.ContactID, ContactName: req.ContactName,
	}
	if f.Spec.Trigger.Type == v1alpha1.TriggerManual {
		cfg.Run = &chat.Run{Token: string(secret.Data[channel.KeyRunToken]), Inputs: req.Inputs}
	}
	conv, err := chat.NewConversation(ctx, cfg)
	if err != nil {
		return nil, &apiError{status: http.StatusBadGateway, msg: err.Error()}
	}
	return map[string]any{"id": s.chats.add(conv), "channel": ch, "contact": req.ContactID}, nil
}

func (s *Server) chatSend(r *http.Request) (any, error) {
	var req struct{ ID, Text string }
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	conv, err := s.chats.get(req.ID)
	if err != nil {
		return nil, err
	}
	if err := conv.Say(r.Context(), req.Text); err != nil {
		return nil, &apiError{status: http.StatusBadGateway, msg: err.Error()}
	}
	return map[string]any{"sent": true}, nil
}

// chatReplies long-polls the flow's replies (wait at most 25s).
func (s *Server) chatReplies(r *http.Request) (any, error) {
	conv, err := s.chats.get(r.URL.Query().Get("id"))
	if err != nil {
		return nil, err
	}
	wait, _ := strconv.Atoi(r.URL.Query().Get("wait"))
	wait = min(max(wait, 0), 25)
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(wait+5)*time.Second)
	defer cancel()
	replies, err := conv.Replies(ctx, time.Duration(wait)*time.Second)
	if err != nil {
		return nil, &apiError{status: http.StatusBadGateway, msg: err.Error()}
	}
	return map[string]any{"replies": replies}, nil
}
