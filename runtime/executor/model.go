package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/runtime/flow"
	"github.com/chatflow-dev/chatflow/runtime/model"
)

// logModelCall is the event-log line of a model call, written by the
// performer (the flow logs the node's outcome, never the model's text).
const logModelCall flow.LogEvent = "model_called"

// typingTimeout bounds the mark-as-read call that shows the typing
// indicator; it runs beside the model call.
const typingTimeout = 5 * time.Second

// newModels builds a client per LanguageModel the program uses, from the
// models given (the --models manifest) and the keys under keysDir
// (keysDir/<Secret>/<key>, the mounted Secrets of their apiKeyRef). Model
// calls go through the egress client, so the private-address guard
// applies to the model's URL.
func newModels(p *flow.Program, defs []v1alpha1.LanguageModel, keysDir string, egress *http.Client, m *metrics) (map[string]*model.Client, error) {
	used := p.Models()
	if len(used) == 0 {
		return nil, nil
	}
	byName := map[string]*v1alpha1.LanguageModel{}
	for i := range defs {
		byName[defs[i].Name] = &defs[i]
	}
	keys := mountedSecrets(keysDir)
	out := map[string]*model.Client{}
	for _, name := range used {
		lm, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("the flow's AI nodes use LanguageModel %s, which --models does not define", name)
		}
		if errs := model.ValidateSpec(&lm.Spec, field.NewPath("spec")); len(errs) > 0 {
			return nil, fmt.Errorf("LanguageModel %s: %w", name, errs.ToAggregate())
		}
		cfg, err := model.FromSpec(&lm.Spec)
		if err != nil {
			return nil, fmt.Errorf("LanguageModel %s: %w", name, err)
		}
		if ref := lm.Spec.APIKeyRef; ref != nil {
			secret, key := ref.Name, ref.Key
			cfg.APIKey = func() (string, error) { return keys(secret, key) }
		}
		cfg.HTTP = egress
		cfg.Final = func(err error) bool { return errors.Is(err, ErrRefusedAddress) }
		cfg.OnRetry = func(int, *model.Error, time.Duration) {
			m.modelRetries.WithLabelValues(name).Inc()
		}
		if out[name], err = model.New(cfg); err != nil {
			return nil, fmt.Errorf("LanguageModel %s: %w", name, err)
		}
	}
	return out, nil
}

// callModel performs a ModelCall: the typing indicator for the turn's
// inbound message (once per turn, when the channel can show one) beside
// the call to the model, then the metrics and the event log of the call.
func (p *performer) callModel(ctx context.Context, s *flow.Session, call *flow.ModelCall) flow.ModelResult {
	e := p.e
	res := flow.ModelResult{EffectID: call.ID}
	c := e.models[call.Model]
	if c == nil {
		// New checked every model the program uses; a session of an older
		// revision cannot reach here with another.
		res.Err = fmt.Sprintf("LanguageModel %s is not configured in this executor", call.Model)
		return res
	}
	typed := p.typing(ctx)
	req := model.Request{Messages: make([]model.Message, len(call.Messages))}
	for i, m := range call.Messages {
		req.Messages[i] = model.Message{Role: m.Role, Content: m.Content}
	}
	if call.Schema != nil {
		req.Schema = &model.Schema{Name: call.Schema.Name, Schema: call.Schema.Schema}
	}
	start := time.Now()
	cctx, span := p.trace.model(call, c.Model())
	resp, err := c.Complete(cctx, req)
	latency := time.Since(start)
	typed()

	result := model.Result(resp, err)
	endModel(span, resp, result)
	e.metrics.modelCalls.WithLabelValues(call.NodeID, result).Inc()
	e.metrics.modelLatency.WithLabelValues(call.NodeID).Observe(latency.Seconds())
	e.metrics.modelTokens.WithLabelValues(call.NodeID, "prompt").Add(float64(resp.Usage.PromptTokens))
	e.metrics.modelTokens.WithLabelValues(call.NodeID, "completion").Add(float64(resp.Usage.CompletionTokens))

	res.Content, res.Refusal = resp.Content, resp.Refusal
	if err != nil {
		res.Err = modelError(err)
	}
	runID := ""
	if s != nil {
		runID = s.RunID
	}
	e.log.modelCall(runID, p.contact, call, resp, res.Err, result, latency)
	return res
}

// modelError says why a call failed, in the words of the flow's error log.
func modelError(err error) string {
	if errors.Is(err, ErrRefusedAddress) {
		return "refused address: the model's base URL resolves to a private, loopback, link-local or metadata address " +
			"(the operator can allow its network: executor.allowPrivateNetworks)"
	}
	return err.Error()
}

// typing shows the typing indicator for the turn's inbound message, if
// the channel can and it was not shown yet this turn, beside whatever
// follows; the returned func waits for it, so nothing outlives the turn.
func (p *performer) typing(ctx context.Context) func() {
	id := p.inbound
	if id == "" || p.e.typist == nil {
		return func() {}
	}
	p.inbound = ""
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tctx, cancel := context.WithTimeout(ctx, typingTimeout)
		defer cancel()
		result := "ok"
		if err := p.e.typist.Typing(tctx, id); err != nil {
			result = "failed"
			slog.Debug("typing indicator", "flow", p.e.flowName, "error", err.Error())
		}
		p.e.metrics.typing.WithLabelValues(result).Inc()
	}()
	return wg.Wait
}
