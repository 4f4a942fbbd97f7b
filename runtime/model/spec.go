package model

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

// The bounds of a LanguageModel's settings, as the CRD's.
const (
	MinTimeout        = time.Second
	MaxTimeout        = 2 * time.Minute
	MaxMaxTokens      = 32768
	MaxRequestsPerMin = 100000
)

// ValidateSpec checks a LanguageModel spec with the rules admission
// applies (the webhook, `chatflow lint` and the executor share it), every
// problem with its field path and how to fix it.
func ValidateSpec(spec *v1alpha1.LanguageModelSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	bp := path.Child("baseURL")
	if spec.BaseURL == "" {
		errs = append(errs, field.Required(bp, "set the base URL of the OpenAI-compatible API, e.g. https://api.openai.com/v1"))
	} else if msg := checkBaseURL(spec.BaseURL); msg != "" {
		errs = append(errs, field.Invalid(bp, spec.BaseURL, msg))
	}
	if strings.TrimSpace(spec.Model) == "" {
		errs = append(errs, field.Required(path.Child("model"), "name the model to ask, e.g. gpt-4o-mini"))
	} else if strings.ContainsAny(spec.Model, " \t\r\n") {
		errs = append(errs, field.Invalid(path.Child("model"), spec.Model, "a model name has no spaces, e.g. gpt-4o-mini"))
	}
	if r := spec.APIKeyRef; r != nil {
		rp := path.Child("apiKeyRef")
		if r.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), "name the Secret of this namespace that holds the API key"))
		}
		if r.Key == "" {
			errs = append(errs, field.Required(rp.Child("key"), "name the key of the Secret that holds the API key, e.g. apiKey"))
		}
	}
	if t := spec.Timeout; t != nil && (t.Duration < MinTimeout || t.Duration > MaxTimeout) {
		errs = append(errs, field.Invalid(path.Child("timeout"), t.Duration.String(), "must be between 1s and 2m (default 30s): it bounds a node's call, retries included"))
	}
	if spec.MaxTokens < 0 || spec.MaxTokens > MaxMaxTokens {
		errs = append(errs, field.Invalid(path.Child("maxTokens"), spec.MaxTokens, fmt.Sprintf("must be between 1 and %d (default %d)", MaxMaxTokens, DefaultMaxTokens)))
	}
	if spec.Temperature != "" {
		if _, err := temperature(spec.Temperature); err != nil {
			errs = append(errs, field.Invalid(path.Child("temperature"), spec.Temperature, err.Error()))
		}
	}
	if spec.RequestsPerMinute < 0 || spec.RequestsPerMinute > MaxRequestsPerMin {
		errs = append(errs, field.Invalid(path.Child("requestsPerMinute"), spec.RequestsPerMinute, fmt.Sprintf("must be between 1 and %d (default %d)", MaxRequestsPerMin, DefaultRequestsPerMinute)))
	}
	return errs
}

// checkBaseURL returns what is wrong with a base URL, or "".
func checkBaseURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a URL: " + err.Error()
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http or https URL, e.g. https://api.openai.com/v1"
	case u.Host == "":
		return "must name a host, e.g. https://api.openai.com/v1"
	case u.User != nil:
		return "must not carry credentials: put the API key in a Secret and name it in apiKeyRef"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "must not have a query or fragment: requests go to {baseURL}/chat/completions"
	case strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/chat/completions"):
		return "is the base URL, without /chat/completions, e.g. https://api.openai.com/v1"
	}
	return ""
}

func temperature(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 2 || strings.ContainsAny(s, "eE+-") {
		return 0, fmt.Errorf("must be a decimal from 0 to 2, e.g. \"0.2\"")
	}
	return f, nil
}

// FromSpec is the Config of a valid LanguageModel spec, defaults applied.
// The caller adds APIKey, HTTP and the observers.
func FromSpec(spec *v1alpha1.LanguageModelSpec) (Config, error) {
	if errs := ValidateSpec(spec, field.NewPath("spec")); len(errs) > 0 {
		return Config{}, errs.ToAggregate()
	}
	c := Config{
		BaseURL:           spec.BaseURL,
		Model:             spec.Model,
		Timeout:           DefaultTimeout,
		MaxTokens:         int(spec.MaxTokens),
		RequestsPerMinute: int(spec.RequestsPerMinute),
	}
	if spec.Timeout != nil {
		c.Timeout = spec.Timeout.Duration
	}
	if c.MaxTokens == 0 {
		c.MaxTokens = DefaultMaxTokens
	}
	if c.RequestsPerMinute == 0 {
		c.RequestsPerMinute = DefaultRequestsPerMinute
	}
	if spec.Temperature != "" {
		t, _ := temperature(spec.Temperature)
		c.Temperature = &t
	}
	return c, nil
}
