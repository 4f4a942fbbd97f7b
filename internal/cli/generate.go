package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatflow-dev/chatflow/internal/generate"
	"github.com/chatflow-dev/chatflow/internal/transcript"
	"github.com/chatflow-dev/chatflow/runtime/model"
)

var flowName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func newGenerateCommand() *cobra.Command {
	var out, name, trigger, modelURL, modelName, keyEnv string
	var attempts int
	var timeout time.Duration
	var force bool
	cmd := &cobra.Command{
		Use:   `generate "DESCRIPTION" -o FLOW.yaml`,
		Short: "Write a flow and its transcript tests from a description, with a language model",
		Long: `generate asks an OpenAI-compatible model for a ChatFlow that does what DESCRIPTION
says, and for transcript tests of it. It gives the model the API reference and the
templates of chatflow new as examples, checks the answer as chatflow lint does, runs
the tests as chatflow test does, and when something is wrong tells the model what
(the field paths, the failed tests) and asks again, at most --attempts times.

It writes FLOW.yaml only when the flow lints, and FLOW.test.yaml beside it; it fails
when no answer lints, or when the tests still fail (the flow and the tests are
written then, for you to review). The flow is Unpublished.

The model is --model at --model-url (defaults: $CHATFLOW_MODEL_URL, $CHATFLOW_MODEL),
with the API key from the environment variable --api-key-env names: never a flag,
so it stays out of shell history.`,
		Example: `  export OPENAI_API_KEY=sk-...
  chatflow generate "ask for an order number and answer with its status from https://orders.example.com" \
    --trigger WhatsApp -o order-bot.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("say where to write the flow: -o FLOW.yaml")
			}
			if name == "" {
				name = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(out), ".yaml"), ".yml")
			}
			if len(name) > 63 || !flowName.MatchString(name) {
				return fmt.Errorf("the flow name %q must be lower-case letters, digits and '-' (at most 63): set --name", name)
			}
			switch trigger {
			case "", "Manual", "WhatsApp", "Instagram", "Viber", "Messenger":
			default:
				return fmt.Errorf("--trigger %q: use Manual, WhatsApp, Instagram, Viber or Messenger", trigger)
			}
			testsPath := transcript.TestsFileFor(out)
			if !force {
				for _, p := range []string{out, testsPath} {
					if _, err := os.Stat(p); err == nil {
						return fmt.Errorf("%s exists: use --force to overwrite it", p)
					}
				}
			}
			cfg := model.Config{BaseURL: modelURL, Model: modelName, Timeout: timeout, MaxTokens: 8192}
			if keyEnv != "" {
				if key := os.Getenv(keyEnv); key != "" {
					cfg.APIKey = func() (string, error) { return key, nil }
				}
			}
			temp := 0.2
			cfg.Temperature = &temp
			c, err := model.New(cfg)
			if err != nil {
				return err
			}
			progress := cmd.ErrOrStderr()
			fmt.Fprintf(progress, "generating %s with %s at %s\n", name, modelName, modelURL)
			res, runErr := generate.Run(cmd.Context(), c, generate.Request{
				Description: args[0], Name: name, Trigger: trigger, Attempts: attempts,
			}, progress)
			if res == nil {
				return runErr
			}
			if dir := filepath.Dir(out); dir != "." {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
			}
			if err := os.WriteFile(out, res.Flow, 0o644); err != nil {
				return err
			}
			written := out
			if len(res.Tests) > 0 {
				if err := os.WriteFile(testsPath, res.Tests, 0o644); err != nil {
					return err
				}
				written += " and " + testsPath
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", written)
			if runErr != nil {
				transcript.Report(progress, res.Results, false)
				return runErr
			}
			fmt.Fprintf(cmd.OutOrStdout(), "next: chatflow chat --file %s, then apply it with its LanguageModel and binding\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "the flow file to write; its tests go to the .test.yaml beside it")
	f.StringVar(&name, "name", "", "the flow's name (default: the output file's name)")
	f.StringVar(&trigger, "trigger", "", "the trigger type: Manual, WhatsApp, Instagram, Viber or Messenger (default: the model's choice)")
	f.StringVar(&modelURL, "model-url", envOr("CHATFLOW_MODEL_URL", "https://api.openai.com/v1"), "base URL of the OpenAI-compatible API ({url}/chat/completions)")
	f.StringVar(&modelName, "model", envOr("CHATFLOW_MODEL", "gpt-4o-mini"), "the model to ask")
	f.StringVar(&keyEnv, "api-key-env", "OPENAI_API_KEY", "the environment variable holding the API key (empty: none)")
	f.IntVar(&attempts, "attempts", generate.DefaultAttempts, "answers to ask for at most: the first and the repairs")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "bound of each answer, retries included")
	f.BoolVar(&force, "force", false, "overwrite existing files")
	return cmd
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
